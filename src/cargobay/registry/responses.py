"""Responses for blob bytes: zero-copy whole files, ranged reads, OCI-shaped 416s."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from starlette.types import Receive, Scope, Send

from cargobay.registry.errors import RegistryError

CHUNK_BYTES = 1024 * 1024


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=` range as [start, end); None to send the whole blob (multiple ranges).

    Raise RANGE_INVALID (416) when the range cannot be satisfied.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    # SIZE_INVALID: of the spec's codes, the one about lengths that do not fit the blob.
    unsatisfiable = RegistryError(
        "SIZE_INVALID",
        "requested range not satisfiable",
        {"range": header, "size": size},
        status=416,
        headers={"Content-Range": f"bytes */{size}"},
    )
    if not dash or not (first.isdigit() or last.isdigit()):
        return None  # malformed: RFC 9110 says ignore it
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise unsatisfiable
        return max(size - length, 0), size
    start = int(first)
    end = int(last) + 1 if last else size
    if start >= size or (last and int(last) < start):
        raise unsatisfiable
    return start, min(end, size)


class BlobResponse:
    """Send a stored blob, whole through `http.response.pathsend` where the server offers it."""

    def __init__(
        self,
        path: Path,
        size: int,
        headers: dict[str, str],
        head: bool,
        byte_range: tuple[int, int] | None = None,
    ) -> None:
        self.path = path
        self.size = size
        self.head = head
        self.range = byte_range
        self.headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            **headers,
        }
        if byte_range is None:
            self.status = 200
            self.headers["Content-Length"] = str(size)
        else:
            start, end = byte_range
            self.status = 206
            self.headers["Content-Length"] = str(end - start)
            self.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": raw_headers})
        if self.head:
            await send({"type": "http.response.body", "body": b""})
            return
        if self.range is None and "http.response.pathsend" in scope.get("extensions", {}):
            await send({"type": "http.response.pathsend", "path": str(self.path)})
            return
        start, end = self.range or (0, self.size)
        await self._stream(send, start, end)

    async def _stream(self, send: Send, start: int, end: int) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            offset = start
            while offset < end:
                block = await asyncio.to_thread(
                    os.pread, fd, min(CHUNK_BYTES, end - offset), offset
                )
                if not block:
                    break
                offset += len(block)
                await send({"type": "http.response.body", "body": block, "more_body": offset < end})
            if offset < end or start == end:
                await send({"type": "http.response.body", "body": b""})
        finally:
            os.close(fd)
