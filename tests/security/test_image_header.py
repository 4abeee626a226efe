"""edge.core.image_header: the size a decoder would allocate, read without decoding.

The property that matters: whenever OpenCV decodes an image, the header gave the same width and
height (a reader that said less than the decoder allocates would let a bomb through). And whatever
the bytes, the reader raises nothing but ImageHeaderError.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge.core.image_header import ImageHeaderError, read_header
from edge.evaluation.data import default_faces

from .bomb import decoded_size, encoded, ihdr, png_bomb

PHOTOS = sorted(p for p in default_faces().glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
# (extension, imencode parameters): every header layout the reader knows.
FORMATS = [
    (".jpg", []),
    (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),  # SOF2
    (".png", []),
    (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),  # lossy: VP8
    (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),  # lossless: VP8L
]
SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def header_size(data: bytes | np.ndarray) -> tuple[int, int]:
    h = read_header(data)
    return h.width, h.height


def test_the_real_photos_headers_give_the_decoded_size() -> None:
    assert len(PHOTOS) >= 20, "expected the shared face photos"
    for p in PHOTOS:
        data = p.read_bytes()
        assert header_size(data) == decoded_size(data), p.name
        # read in place from the wipeable array the intake decodes base64 into
        assert header_size(np.frombuffer(data, np.uint8).copy()) == decoded_size(data)


@SLOW
@given(photo=st.sampled_from(PHOTOS), fmt=st.sampled_from(FORMATS), scale=st.integers(2, 12),
       alpha=st.booleans())
def test_real_photos_converted_to_every_format_agree_with_opencv(
    photo: Path, fmt: tuple[str, list[int]], scale: int, alpha: bool
) -> None:
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    assert image is not None
    small = cv2.resize(image, (max(1, image.shape[1] // scale), max(1, image.shape[0] // scale)))
    if alpha and fmt[0] != ".jpg":
        small = cv2.cvtColor(small, cv2.COLOR_BGR2BGRA)  # lossy WebP with alpha: a VP8X header
    data = encoded(small, *fmt)
    assert header_size(data) == decoded_size(data) == (small.shape[1], small.shape[0])


@SLOW
@given(width=st.integers(1, 300), height=st.integers(1, 300), channels=st.sampled_from([1, 3, 4]),
       fmt=st.sampled_from(FORMATS), seed=st.integers(0, 2**16))
def test_crafted_images_of_any_size_agree_with_opencv(
    width: int, height: int, channels: int, fmt: tuple[str, list[int]], seed: int
) -> None:
    image = np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)
    if fmt[0] == ".jpg" and channels == 4:
        image = image[:, :, :3]
    data = encoded(image, *fmt)
    assert header_size(data) == decoded_size(data) == (width, height)


def _small(fmt: tuple[str, list[int]], alpha: bool = False) -> bytes:
    image = np.random.default_rng(1).integers(0, 256, (23, 37, 4 if alpha else 3), np.uint8)
    return encoded(image, *fmt)


SAMPLES = [_small(f) for f in FORMATS] + [_small(FORMATS[3], alpha=True)]


@settings(max_examples=300, deadline=None)
@given(sample=st.sampled_from(SAMPLES), edits=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)),
                                                      min_size=1, max_size=4))
def test_mutated_headers_are_read_as_the_decoder_reads_them_or_refused(
    sample: bytes, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(sample)
    for at, value in edits:
        data[at % len(data)] = value
    try:
        got: tuple[int, int] | None = header_size(bytes(data))
    except ImageHeaderError:
        got = None
    decoded = decoded_size(bytes(data))
    if decoded is not None:  # whatever OpenCV decodes, the header said exactly that size
        assert got == decoded


MAGICS = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", b"RIFF\xff\0\0\0WEBPVP8 ",
          b"RIFF\xff\0\0\0WEBPVP8L", b"RIFF\xff\0\0\0WEBPVP8X"]


@settings(max_examples=500, deadline=None)
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=200), as_array=st.booleans())
def test_any_bytes_raise_nothing_but_the_readers_own_error(magic: bytes, tail: bytes, as_array: bool) -> None:
    data = magic + tail
    try:
        h = read_header(np.frombuffer(data, np.uint8).copy() if as_array else data)
    except ImageHeaderError:
        return
    assert h.width > 0 and h.height > 0 and h.pixels == h.width * h.height


@given(width=st.integers(1, 2**31 - 1), height=st.integers(1, 2**31 - 1))
def test_a_png_declares_any_size_in_its_ihdr(width: int, height: int) -> None:
    assume(width * height > 0)
    assert header_size(b"\x89PNG\r\n\x1a\n" + ihdr(width, height)) == (width, height)


def test_the_bomb_is_read_as_900_megapixels_without_decoding() -> None:
    bomb = png_bomb()
    assert 800_000 < len(bomb) < 900_000  # the size of the one that got the daemon OOM-killed
    h = read_header(bomb)
    assert (h.format, h.width, h.height, h.pixels) == ("png", 30000, 30000, 900_000_000)


BAD = {
    "jpeg without a frame header": b"\xff\xd8\xff\xe0\x00\x04ab\xff\xd9",
    "jpeg with image data before its frame": b"\xff\xd8\xff\xda\x00\x02",
    "jpeg with zero height (DNL)": b"\xff\xd8\xff\xc0\x00\x0b\x08\x00\x00\x00\x10\x01\x01\x11\x00",
    "jpeg frame length not matching its components": b"\xff\xd8\xff\xc0\x00\x0c\x08\0\x10\0\x10\x01\x01\x11\0\0",
    "jpeg with a segment running off the end": b"\xff\xd8\xff\xe1\x10\x00abc",
    "jpeg with an unknown marker": b"\xff\xd8\xff\xf0\x00\x02\xff\xc0\x00\x0b\x08\x00\x10\x00\x10\x01\x01\x11\x00",
    "png with a bad CRC": b"\x89PNG\r\n\x1a\n" + ihdr(4, 4)[:-1] + b"\0",
    "png with zero width": b"\x89PNG\r\n\x1a\n" + ihdr(0, 4),
    "png with an impossible bit depth": b"\x89PNG\r\n\x1a\n" + ihdr(4, 4, depth=3),
    "png not starting with IHDR": b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IDAT" + b"\0" * 17,
    "webp larger than its file": b"RIFF\xff\xff\0\0WEBPVP8L\x05\0\0\0\x2f\0\0\0\0",
    "webp VP8L of another version": b"RIFF\x12\0\0\0WEBPVP8L\x05\0\0\0\x2f\0\0\0\xe0\0",
    "webp VP8X canvas of 2**32 pixels or more": b"RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0" + b"\0" * 4 + b"\xff" * 6,
    "webp VP8 that is not a key frame": b"RIFF\x16\0\0\0WEBPVP8 \x0a\0\0\0\x01\0\0\x9d\x01\x2a\x10\0\x10\0",
    "gif": b"GIF89a" + b"\0" * 40,
}


@pytest.mark.parametrize("data", BAD.values(), ids=BAD.keys())
def test_headers_a_decoder_would_refuse_are_errors(data: bytes) -> None:
    with pytest.raises(ImageHeaderError):
        read_header(data)
    assert decoded_size(data) is None  # OpenCV refuses them too
