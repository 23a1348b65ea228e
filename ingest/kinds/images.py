"""Image sniffing from header bytes only: content type and real pixel dimensions.

Why not decode: images come from users' training jobs; a crafted header can declare 65535 x 65535
pixels (a decompression bomb). We never decode pixels server-side: the browser does, and we only
read the few header bytes that name the format and the size (TBHUB_IMAGE_MAX_PIXELS decides what
to do with huge ones). Unknown formats are `application/octet-stream`, as TensorBoard serves them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

OCTET_STREAM: Final = "application/octet-stream"
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SCAN_LIMIT: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: MIME type, and width/height in pixels when the header has them."""

    content_type: str
    width: int | None = None
    height: int | None = None


def sniff(data: bytes) -> ImageInfo:
    """Content type and pixel size of an encoded image (PNG, JPEG, GIF, BMP, WebP).

    Reads at most the first megabyte (JPEG frame headers may follow metadata segments), never
    raises; anything unrecognised is `application/octet-stream` without dimensions.
    """
    try:
        if data.startswith(_PNG_MAGIC):
            return _png(data)
        if data.startswith(b"\xff\xd8"):
            return _jpeg(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _gif(data)
        if data.startswith(b"BM"):
            return _bmp(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
    except (struct.error, IndexError, ValueError):
        pass
    return ImageInfo(OCTET_STREAM)


def _png(data: bytes) -> ImageInfo:
    if data[12:16] != b"IHDR" or len(data) < 24:
        return ImageInfo("image/png")
    width, height = struct.unpack_from(">II", data, 16)
    return ImageInfo("image/png", width, height)


def _jpeg(data: bytes) -> ImageInfo:
    pos = 2
    end = min(len(data), _JPEG_SCAN_LIMIT)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no frame header before
            break
        (seg_len,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _JPEG_SOF and seg_len >= 7 and pos + 9 <= len(data):
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return ImageInfo("image/jpeg", width, height)
        if seg_len < 2:
            break
        pos += 2 + seg_len
    return ImageInfo("image/jpeg")


def _gif(data: bytes) -> ImageInfo:
    if len(data) < 10:
        return ImageInfo("image/gif")
    width, height = struct.unpack_from("<HH", data, 6)
    return ImageInfo("image/gif", width, height)


def _bmp(data: bytes) -> ImageInfo:
    if len(data) < 26:
        return ImageInfo("image/bmp")
    (header_size,) = struct.unpack_from("<I", data, 14)
    if header_size == 12:
        width, height = struct.unpack_from("<HH", data, 18)
        return ImageInfo("image/bmp", width, height)
    width, height = struct.unpack_from("<ii", data, 18)
    # A negative height means a top-down bitmap.
    return ImageInfo("image/bmp", abs(width), abs(height))


def _webp(data: bytes) -> ImageInfo:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return ImageInfo("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack_from("<I", data, 21)
        return ImageInfo("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageInfo("image/webp", width, height)
    return ImageInfo("image/webp")
