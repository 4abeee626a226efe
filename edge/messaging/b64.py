"""Base64 decoding straight into a numpy buffer that can be wiped (gallery templates and photos).

Why not :func:`base64.b64decode`: it returns ``bytes``, which are immutable. A decoded template or
photo (biometric data) would stay in freed memory until the allocator happens to reuse it, and no
wipe can reach it. Here the result is a writable ``uint8`` array that the caller owns and wipes, and
every array made on the way (code points, 6-bit values, scratch) is zeroed before returning or raising.

The input is decoded strictly (RFC 4648 section 4, standard alphabet): the length is a multiple of
4, there is no whitespace, at most two ``=`` and only at the end, and the unused bits of the last
group are zero (the canonical encoding). Whatever :func:`base64.b64decode` with ``validate=True``
refuses is refused too; whatever is accepted decodes to the same bytes as the stdlib's.
"""

from __future__ import annotations

import numpy as np

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_INVALID = 255
# 6-bit value of each ASCII code point; _INVALID for anything outside the alphabet (including '=').
_LUT = np.full(128, _INVALID, np.uint8)
_LUT[np.frombuffer(_ALPHABET, np.uint8)] = np.arange(64, dtype=np.uint8)
_PAD = ord("=")


class Base64Error(ValueError):
    """The text is not strict, canonical base64. The message never contains the text itself."""


def decoded_size(chars: int) -> int:
    """The most bytes ``chars`` base64 characters can decode to (to refuse a field before decoding it)."""
    return chars // 4 * 3


def b64decode(text: str) -> np.ndarray:
    """Decode ``text`` into a new writable ``uint8`` array. Raises :class:`Base64Error` (only)."""
    if not isinstance(text, str):
        raise Base64Error(f"expected a string, got {type(text).__name__}")
    n = len(text)
    if n == 0:
        return np.zeros(0, np.uint8)
    if n % 4:
        raise Base64Error(f"length {n} is not a multiple of 4")
    # A fixed-width unicode array holds the code points in memory we own (and zero below); going
    # through text.encode() would leave one more immutable copy of the encoded data behind.
    chars = np.array(text, dtype=f"<U{n}")
    codes = chars.reshape(1).view(np.uint32)
    values: np.ndarray | None = None
    scratch: np.ndarray | None = None
    out: np.ndarray | None = None
    try:
        if int(codes.max()) >= len(_LUT):
            raise Base64Error("contains a character outside the base64 alphabet")
        values = _LUT[codes]  # a new array of 6-bit values, zeroed below like the others
        pad = 0
        if codes[-1] == _PAD:
            pad = 2 if codes[-2] == _PAD else 1
            values[n - pad :] = 0
        if bool((values == _INVALID).any()):
            raise Base64Error("contains a character outside the base64 alphabet, or '=' before the end")
        groups = values.reshape(-1, 4)
        # Non-zero unused bits would make two different texts decode to the same bytes: refused.
        if (pad == 1 and groups[-1, 2] & 0x03) or (pad == 2 and groups[-1, 1] & 0x0F):
            raise Base64Error("the unused bits of the last group are not zero")
        m = groups.shape[0]
        out = np.empty((m, 3), np.uint8)
        scratch = np.empty(m, np.uint8)
        # Four 6-bit values -> three bytes: aaaaaabb bbbbcccc ccdddddd, written in place (no temporaries).
        a, b, c, d = groups[:, 0], groups[:, 1], groups[:, 2], groups[:, 3]
        o0, o1, o2 = out[:, 0], out[:, 1], out[:, 2]
        np.left_shift(a, 2, out=o0)
        np.right_shift(b, 4, out=scratch)
        np.bitwise_or(o0, scratch, out=o0)
        np.bitwise_and(b, 0x0F, out=o1)
        np.left_shift(o1, 4, out=o1)
        np.right_shift(c, 2, out=scratch)
        np.bitwise_or(o1, scratch, out=o1)
        np.bitwise_and(c, 0x03, out=o2)
        np.left_shift(o2, 6, out=o2)
        np.bitwise_or(o2, d, out=o2)
        flat = out.reshape(-1)
        # The bytes cut off here decode from the padding and are zero (checked above): nothing
        # outside the returned view holds data.
        return flat[: 3 * m - pad] if pad else flat
    except Base64Error:
        if out is not None:
            out.fill(0)
        raise
    finally:
        for temporary in (codes, values, scratch):
            if temporary is not None:
                temporary.fill(0)
