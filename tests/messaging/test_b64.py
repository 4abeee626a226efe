"""The wipeable base64 decoder against the stdlib: same bytes on valid input, refusal otherwise."""

from __future__ import annotations

import base64
import binascii
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.messaging.b64 import Base64Error, b64decode, decoded_size

B64_CHARS = string.ascii_letters + string.digits + "+/="


def stdlib(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_valid_input_decodes_to_what_the_stdlib_decodes(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    out = b64decode(text)
    assert out.dtype == np.uint8 and out.flags.writeable and out.flags.c_contiguous
    assert out.tobytes() == data == stdlib(text)
    assert len(out) <= decoded_size(len(text))
    out.fill(0)  # the caller can wipe it: it is not an immutable bytes object


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(st.text(alphabet=B64_CHARS, max_size=24), st.text(max_size=24), st.text(alphabet="QUJD=\n ", max_size=12))
)
def test_any_text_is_decoded_as_the_stdlib_does_or_refused_with_its_own_error(text: str) -> None:
    try:
        out = b64decode(text)
    except Base64Error:  # never anything else (a ValueError subclass: callers catch one type)
        return
    # Accepted: the stdlib accepts it too, with the same bytes (this decoder is the stricter one).
    assert out.tobytes() == stdlib(text)


@pytest.mark.parametrize(
    "text",
    [
        "QQ",  # no padding
        "QQ=",  # not a multiple of 4
        "Q===",  # three pads
        "QQ==QQ==",  # padding in the middle
        "QU JD",  # whitespace
        "QUJD\n",  # a line break
        "QR==",  # non-zero unused bits (the stdlib accepts it; not canonical)
        "QUK=",  # same, one pad
        "QUJ-",  # the URL-safe alphabet
        "é123",  # not ASCII
        "\ud800AAA",  # a lone surrogate
        "QUJ\x00",  # a NUL
    ],
)
def test_invalid_input_is_refused(text: str) -> None:
    with pytest.raises(Base64Error):
        b64decode(text)


def test_non_text_is_refused_with_its_own_error() -> None:
    with pytest.raises(Base64Error):
        b64decode(b"QUJD")  # type: ignore[arg-type]


def test_empty_text_is_empty() -> None:
    assert b64decode("").size == 0
