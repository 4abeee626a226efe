"""Identifier patterns used on the wire (regular expressions for pydantic ``Field(pattern=...)``).

Kept in the messaging layer, which owns the wire format; :mod:`edge.config.schema` imports the gate id
pattern from here (config may import messaging, never the other way round).
"""

from __future__ import annotations

# A gate id appears in topics and MQTT client ids: no '/', '+', '#' or spaces.
GATE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Opaque identifiers (gallery entries, flights, requests): never a name, never PII by design.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# A hex sha256 digest, as wipe attestations report it.
SHA256_PATTERN = r"^[0-9a-f]{64}$"
