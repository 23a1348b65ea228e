"""Image sniffing from header bytes (never decoding pixels)."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from ingest.kinds.images import OCTET_STREAM, ImageInfo, sniff


def encoded(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime", "mode"),
    [
        ("PNG", "image/png", "RGB"),
        ("JPEG", "image/jpeg", "RGB"),
        ("GIF", "image/gif", "P"),
        ("BMP", "image/bmp", "RGB"),
        ("WEBP", "image/webp", "RGB"),
    ],
)
def test_real_images(fmt: str, mime: str, mode: str) -> None:
    assert sniff(encoded(fmt, (37, 21), mode)) == ImageInfo(mime, 37, 21)


def test_lossless_and_extended_webp() -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (5, 9)).save(buf, format="WEBP", lossless=True)
    assert sniff(buf.getvalue()) == ImageInfo("image/webp", 5, 9)


def test_bomb_header_only_reports_what_it_says() -> None:
    header = (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 65535, 65535)
    )
    assert sniff(header) == ImageInfo("image/png", 65535, 65535)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF\x00\x00\x00\x00WEBP", b"hello"],
)
def test_truncated_or_unknown_never_raises(data: bytes) -> None:
    info = sniff(data)
    assert info.width is None or info.width >= 0
    if data in (b"", b"hello"):
        assert info.content_type == OCTET_STREAM
