"""Identifier patterns used on the wire (regular expressions for pydantic ``Field(pattern=...)``).

Kept in the messaging layer, which owns the wire format; :mod:`edge.config.schema` imports the gate id
pattern from here (config may import messaging, never the other way round).
"""

from __future__ import annotations

import re

# A gate id appears in topics and MQTT client ids: no '/', '+', '#' or spaces.
GATE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Opaque identifiers (gallery entries, flights, requests): never a name, never PII by design.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# A traveller's gallery entry id: an opaque token the gallery authority makes up. A pattern cannot tell
# a token from a name, but it refuses the usual shapes of personal data in an id: parts joined by dots
# or spaces ("DOE.JANE") and anything holding a date (a birth date: "1985-03-14", "19850314").
ENTRY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
DATE_IN_ID = re.compile(r"(?:19|20)\d{2}[-_]?(?:0[1-9]|1[0-2])[-_]?(?:0[1-9]|[12]\d|3[01])")


def opaque_entry_id(value: str) -> str:
    """For pydantic's AfterValidator: refuse an entry id holding a date (the pattern refuses the rest)."""
    if DATE_IN_ID.search(value):
        raise ValueError("an entry id must be an opaque token, not hold a date (a birth date is personal data)")
    return value
# A hex sha256 digest, as wipe attestations report it.
SHA256_PATTERN = r"^[0-9a-f]{64}$"
