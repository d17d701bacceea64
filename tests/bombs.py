"""Decompression bombs built without writing their inflated size anywhere: a deflate stream of one
repeated byte is made of one flushed block repeated (blocks after a full flush stand alone), so
a 2 GiB member costs a few MB of disk and well under a second to build."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Bomb:
    """A member whose content is `prefix` then `size - len(prefix)` copies of `fill`."""

    size: int
    prefix: bytes = b""
    fill: bytes = b"\0"


def _deflated(bomb: Bomb) -> tuple[bytes, int]:
    """(raw deflate data, crc32) of the bomb's content."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [compressor.compress(bomb.prefix), compressor.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(bomb.prefix)
    rest = bomb.size - len(bomb.prefix)
    block = bomb.fill * _BLOCK
    repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    # The first flushed block may refer back into the prefix; the second one only into itself.
    second = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    count, tail = divmod(rest, _BLOCK)
    if count:
        parts.append(repeated)
        parts.extend([second] * (count - 1))
    for _ in range(count):
        crc = zlib.crc32(block, crc)  # 2 GiB of crc32 is about a second; a combine formula is not worth it
    parts.append(compressor.compress(bomb.fill * tail) + compressor.flush())
    crc = zlib.crc32(bomb.fill * tail, crc)
    return b"".join(parts), crc


def _dos_time() -> tuple[int, int]:
    return (0 << 11) | (0 << 5), ((2024 - 1980) << 9) | (1 << 5) | 1


def write_zip(path: Path, members: list[tuple[str, bytes | Bomb]]) -> Path:
    """A zip of `members`: bytes stored deflated as they are, Bombs deflated by repetition."""
    local = bytearray()
    central = bytearray()
    mtime, mdate = _dos_time()
    for name, content in members:
        if isinstance(content, Bomb):
            data, crc = _deflated(content)
            size = content.size
        else:
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            data = compressor.compress(content) + compressor.flush()
            crc, size = zlib.crc32(content), len(content)
        encoded = name.encode()
        offset = len(local)
        local += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, mtime, mdate, crc, len(data), size, len(encoded), 0
        )
        local += encoded + data
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, mtime, mdate, crc, len(data), size,
            len(encoded), 0, 0, 0, 0, 0, offset,
        )  # fmt: skip
        central += encoded
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def docx_bomb(path: Path, size: int = 2 * 1024**3) -> Path:
    """A DOCX whose word/document.xml inflates to `size` bytes (an XML head, then spaces)."""
    head = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
    )
    types = (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        b'<Default Extension="xml" ContentType="application/xml"/>'
        b'<Override PartName="/word/document.xml" '
        b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" '
        b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        b'Target="word/document.xml"/></Relationships>'
    )
    return write_zip(
        path, [("[Content_Types].xml", types), ("_rels/.rels", rels), ("word/document.xml", Bomb(size, head, b" "))]
    )
