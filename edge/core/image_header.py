"""Width and height of a JPEG, PNG or WebP read from its header, without decoding a pixel.

Why: a decoder allocates what the header declares before it reads any data. A PNG of under a
megabyte can declare 30000 x 30000 pixels and compress to almost nothing, and decoding it takes
gigabytes (a decompression bomb). The gallery intake reads the declared size here and refuses a
photo that is too large before anything decodes it.

The header is read the way the decoders OpenCV uses read it (libjpeg, libpng, libwebp), so that the
size given here is the size a decoder would allocate: the first SOFn frame header of a JPEG after
the markers before it (bytes between segments are skipped up to the next 0xFF, as libjpeg does),
the IHDR chunk of a PNG (with its CRC), and the VP8, VP8L or VP8X header of a WebP (the canvas for
VP8X). A header these decoders would refuse is an :class:`ImageHeaderError`; the only exception
:func:`read_header` raises. The photo is read in place: nothing is copied but a few header bytes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

ImageFormat = Literal["jpeg", "png", "webp"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Allowed bit depths per PNG colour type (grey, RGB, palette, grey + alpha, RGBA).
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_MAX_SIDE = 2**31 - 1
# JPEG frame headers: SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC), which share the range.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length: TEM and RST0-RST7.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_SOI, _JPEG_EOI, _JPEG_SOS = 0xD8, 0xD9, 0xDA
# Segments libjpeg skips by their length (APP0-APP15, COM, DNL) and tables it parses (DHT, DAC, DQT, DRI).
_JPEG_SKIPPED = frozenset({*range(0xE0, 0xF0), 0xFE, 0xDC})
_JPEG_TABLES = frozenset({0xC4, 0xCC, 0xDB, 0xDD})
_RIFF_MAX_PAYLOAD = 2**32 - 1 - 8 - 1  # libwebp's bound on a RIFF size (an odd size is padded)
_WEBP_MAX_AREA = 2**32


class ImageHeaderError(ValueError):
    """Not a JPEG, PNG or WebP whose size a decoder would accept. Never names pixel data."""


@dataclass(frozen=True)
class ImageHeader:
    format: ImageFormat
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(photo: bytes | bytearray | memoryview | np.ndarray) -> ImageHeader:
    """The format and declared size of ``photo`` (bytes, or a 1-D ``uint8`` array read in place)."""
    buf = memoryview(photo).cast("B") if not isinstance(photo, np.ndarray) else _array_view(photo)
    if len(buf) >= 3 and buf[0] == 0xFF and buf[1] == 0xD8 and buf[2] == 0xFF:
        return _jpeg(buf)
    if _has(buf, 0, _PNG_SIGNATURE):
        return _png(buf)
    if _has(buf, 0, b"RIFF") and _has(buf, 8, b"WEBP"):
        return _webp(buf)
    raise ImageHeaderError("not a JPEG, PNG or WebP image")


def _array_view(a: np.ndarray) -> memoryview:
    if a.dtype != np.uint8 or a.ndim != 1:
        raise ImageHeaderError(f"expected a 1-D uint8 array, got {a.dtype} with shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ImageHeaderError("expected a contiguous array")
    return a.data.cast("B")


def _has(b: memoryview, at: int, magic: bytes) -> bool:
    return b[at : at + len(magic)].tobytes() == magic  # copies len(magic) bytes, no more


def _u16be(b: memoryview, at: int) -> int:
    return (b[at] << 8) | b[at + 1]


def _u32be(b: memoryview, at: int) -> int:
    return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]


def _le(b: memoryview, at: int, n: int) -> int:
    return int.from_bytes(b[at : at + n], "little")


# --------------------------------------------------------------------------- JPEG
def _next_marker(b: memoryview, i: int) -> tuple[int, int]:
    """The marker at or after ``i`` and the index after it, as libjpeg finds it: bytes up to the
    next 0xFF are skipped, 0xFF fill bytes are swallowed, and 0xFF 0x00 is stuffed data, not a marker."""
    n = len(b)
    while True:
        if i < n and b[i] != 0xFF:
            hits = np.flatnonzero(np.frombuffer(b, np.uint8, n - i, i) == 0xFF)
            if len(hits) == 0:
                raise ImageHeaderError("JPEG ends before its frame header")
            i += int(hits[0])
        while i < n and b[i] == 0xFF:
            i += 1
        if i >= n:
            raise ImageHeaderError("JPEG ends before its frame header")
        if b[i] != 0x00:
            return b[i], i + 1
        i += 1


def _jpeg(b: memoryview) -> ImageHeader:
    i = 2  # after SOI
    while True:
        marker, i = _next_marker(b, i)
        if marker in _JPEG_STANDALONE:
            continue
        if marker == _JPEG_SOI:
            raise ImageHeaderError("JPEG has two SOI markers")
        if marker in (_JPEG_EOI, _JPEG_SOS):
            raise ImageHeaderError("JPEG has no frame header before its image data")
        if i + 2 > len(b):
            raise ImageHeaderError("JPEG ends inside a marker segment")
        length = _u16be(b, i)
        if i + length > len(b):
            raise ImageHeaderError(f"JPEG marker 0x{marker:02X} runs past the end of the file")
        if marker in _JPEG_SOF:
            return _jpeg_sof(b, i, length)
        if marker in _JPEG_SKIPPED:
            i += max(length, 2)  # libjpeg skips length - 2 bytes, none when that is negative
        elif marker in _JPEG_TABLES and length >= 2:
            i += length  # libjpeg parses these tables and refuses one whose content overruns its length
        elif marker in _JPEG_TABLES:
            raise ImageHeaderError(f"JPEG marker 0x{marker:02X} has a bad length")
        else:  # DHP, EXP, JPGn and reserved markers: libjpeg refuses them as unknown
            raise ImageHeaderError(f"JPEG has an unknown marker 0x{marker:02X} before its frame header")


def _jpeg_sof(b: memoryview, i: int, length: int) -> ImageHeader:
    # length(2) precision(1) height(2) width(2) components(1), then three bytes per component
    if length < 8:
        raise ImageHeaderError("JPEG frame header is too short")
    height, width, components = _u16be(b, i + 3), _u16be(b, i + 5), b[i + 7]
    if length != 8 + 3 * components:
        raise ImageHeaderError("JPEG frame header length does not match its components")
    if width == 0 or height == 0 or components == 0:
        # Height 0 defers it to a DNL marker, which the decoders OpenCV uses do not support.
        raise ImageHeaderError(f"JPEG frame header declares {width}x{height} with {components} components")
    return ImageHeader("jpeg", width, height)


# --------------------------------------------------------------------------- PNG
def _png(b: memoryview) -> ImageHeader:
    # signature(8), then the first chunk, which must be IHDR: length(4)=13 type(4) data(13) crc(4)
    if len(b) < 8 + 8 + 13 + 4:
        raise ImageHeaderError("PNG ends before its IHDR chunk")
    if _u32be(b, 8) != 13 or not _has(b, 12, b"IHDR"):
        raise ImageHeaderError("PNG does not start with a 13-byte IHDR chunk")
    if zlib.crc32(b[12:29]) != _u32be(b, 29):
        raise ImageHeaderError("PNG IHDR chunk fails its CRC")
    width, height = _u32be(b, 16), _u32be(b, 20)
    depth, colour, compression, filtering, interlace = b[24], b[25], b[26], b[27], b[28]
    if not (0 < width <= _PNG_MAX_SIDE and 0 < height <= _PNG_MAX_SIDE):
        raise ImageHeaderError(f"PNG declares {width}x{height}")
    if depth not in _PNG_DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
        raise ImageHeaderError("PNG IHDR has an invalid bit depth, colour type or method")
    return ImageHeader("png", width, height)


# --------------------------------------------------------------------------- WebP
def _webp(b: memoryview) -> ImageHeader:
    # RIFF size(4) WEBP, then the first chunk: tag(4) size(4) payload
    riff = _le(b, 4, 4)
    if riff < 12 or riff > _RIFF_MAX_PAYLOAD or riff > len(b) - 8:
        raise ImageHeaderError("WebP RIFF size is invalid or larger than the file")
    end = 8 + riff  # at least 20: the first chunk's header is in the file
    tag, size, at = b[12:16].tobytes(), _le(b, 16, 4), 20
    if at + size > end:
        raise ImageHeaderError("WebP chunk is larger than the file")
    if tag == b"VP8X":
        if size != 10:
            raise ImageHeaderError("WebP VP8X chunk has a bad size")
        width, height = 1 + _le(b, at + 4, 3), 1 + _le(b, at + 7, 3)
        if width * height >= _WEBP_MAX_AREA:
            raise ImageHeaderError(f"WebP canvas {width}x{height} is too large")
        return ImageHeader("webp", width, height)
    if tag == b"VP8L":
        # signature 0x2F, then 14 bits width-1, 14 bits height-1, 1 bit alpha, 3 bits version (0)
        if size < 5 or b[at] != 0x2F:
            raise ImageHeaderError("WebP VP8L header is invalid")
        bits = _le(b, at + 1, 4)
        if bits >> 29:
            raise ImageHeaderError("WebP VP8L version is not 0")
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if tag == b"VP8 ":
        return _vp8(b, at, size)
    raise ImageHeaderError("WebP first chunk is not VP8, VP8L or VP8X")


def _vp8(b: memoryview, at: int, size: int) -> ImageHeader:
    # frame tag(3): key frame bit (0 = key), version(3 bits), show frame(1), partition size(19);
    # start code 9D 01 2A; then 14 bits width and 2 bits scale, 14 bits height and 2 bits scale
    if size < 10:
        raise ImageHeaderError("WebP VP8 frame header is too short")
    tag = _le(b, at, 3)
    if tag & 1 or (tag >> 1) & 7 > 3 or not (tag >> 4) & 1 or tag >> 5 >= size:
        raise ImageHeaderError("WebP VP8 frame is not a visible key frame of a known profile")
    if not _has(b, at + 3, b"\x9d\x01\x2a"):
        raise ImageHeaderError("WebP VP8 start code is missing")
    width, height = _le(b, at + 6, 2) & 0x3FFF, _le(b, at + 8, 2) & 0x3FFF
    if width == 0 or height == 0:
        raise ImageHeaderError(f"WebP VP8 declares {width}x{height}")
    return ImageHeader("webp", width, height)
