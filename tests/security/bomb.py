"""Crafted images for the intake's header checks: a PNG decompression bomb and small real images."""

from __future__ import annotations

import functools
import struct
import zlib

import cv2
import numpy as np


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def ihdr(width: int, height: int, depth: int = 8, colour: int = 0) -> bytes:
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))


@functools.cache
def png_bomb(side: int = 30000) -> bytes:
    """A valid grey PNG of ``side`` x ``side`` black pixels: 900 megapixels in about 875 KB (zlib
    compresses the zero rows about a thousand to one). Decoding it needs 900 MB for the grey image,
    2.7 GB once converted to colour. Made once per session (a couple of seconds of zlib)."""
    co = zlib.compressobj(9)
    rows = (b"\0" * (side + 1)) * 100  # each row: filter byte 0, then the pixels
    data = b"".join(co.compress(rows) for _ in range(side // 100)) + co.compress(b"\0" * (side + 1) * (side % 100))
    data += co.flush()
    return b"\x89PNG\r\n\x1a\n" + ihdr(side, side) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def encoded(image: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok, ext
    return bytes(buf.tobytes())


def decoded_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of what OpenCV decodes, None when it cannot (orientation ignored: the
    header's size is the stored one, and rotation changes no pixel count)."""
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:  # e.g. wider than OpenCV's own limit: refused before decoding
        return None
    return None if image is None else (image.shape[1], image.shape[0])
