"""A spooled entity body: the bytes of a page exactly as received, with their sha256.

Small bodies stay in memory, large ones spill to a temporary file, so nothing holds a whole large
body in memory. The fetcher fills one per response; read-back fills one per stored record.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from typing import IO

SPOOL_IN_MEMORY = 1024 * 1024
CHUNK = 64 * 1024


class Body:
    """A spooled entity body with its sha256, filled chunk by chunk while it streams in."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._sha256 = hashlib.sha256()
        self.size = 0
        self._closed = False

    @classmethod
    def from_bytes(cls, data: bytes) -> Body:
        body = cls()
        body.write(data)
        return body

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._sha256.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def open(self) -> IO[bytes]:
        """The body's file, rewound; read it, do not close it."""
        self._file.seek(0)
        return self._file

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        stream = self.open()
        while chunk := stream.read(size):
            yield chunk

    def read_all(self, limit: int | None = None) -> bytes:
        """The first `limit` bytes (all when None): for small bodies and tests only."""
        stream = self.open()
        return stream.read() if limit is None else stream.read(limit)

    def close(self) -> None:
        if not self._closed:
            self._file.close()
            self._closed = True
