"""A deliberately thin HTTP/1.1 client: http.client plus sendfile.

The client shares two cores with the server under test, so every cycle it
spends is taken from the server. http.client costs a fraction of what httpx
costs per request, and big bodies go out through sendfile(2) and come back
into one reused buffer, so blob bytes are never copied through Python objects.
The same client drives both registries, so whatever it costs is the same for
both.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

RECV_BUFFER = 1 << 20
# Failures that mean "the kept-alive connection went stale", worth one retry.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class BenchError(RuntimeError):
    """A registry answered something the benchmark cannot accept."""


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def expect(self, *statuses: int, what: str) -> Response:
        if self.status not in statuses:
            excerpt = self.body[:300].decode("utf-8", "replace")
            raise BenchError(f"{what}: HTTP {self.status} (wanted {statuses}): {excerpt}")
        return self


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        # Headers and a small body go in separate writes when sendfile is used;
        # Nagle plus delayed ACK would add up to 40 ms to each such request.
        assert self.sock is not None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Client:
    """One kept-alive connection to one registry. Not thread-safe: one per thread."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 300.0,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        # Sent with every request (the credentials a registry wants).
        self.default_headers = dict(default_headers or {})
        self._conn = _Connection(host, port, timeout=timeout)

    def close(self) -> None:
        self._conn.close()

    def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        try:
            return self._request_once(method, target, headers, body)
        except _STALE:
            self._conn.close()
            return self._request_once(method, target, headers, body)

    def _request_once(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str] | None,
        body: bytes | None,
    ) -> Response:
        self._conn.request(
            method, target, body=body, headers={**self.default_headers, **(headers or {})}
        )
        resp = self._conn.getresponse()
        # HEAD responses announce a length but carry no body; http.client knows.
        return Response(resp.status, resp.headers, resp.read())

    def send_file(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        file: BinaryIO,
        offset: int,
        length: int,
    ) -> Response:
        """Send `length` bytes of `file` from `offset` as the body, via sendfile."""
        conn = self._conn
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in {**self.default_headers, **headers}.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        assert conn.sock is not None
        # The server may answer early (an error) and close: its answer is more
        # useful than the broken pipe, so read it anyway.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sock.sendfile(file, offset, length)
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())

    def get_stream(
        self,
        target: str,
        headers: Mapping[str, str] | None = None,
        sink: Callable[[memoryview], object] | None = None,
    ) -> tuple[Response, int]:
        """GET `target`, feeding the body to `sink` (or dropping it); return bytes read."""
        self._conn.request("GET", target, headers={**self.default_headers, **(headers or {})})
        resp = self._conn.getresponse()
        if resp.status != 200:
            return Response(resp.status, resp.headers, resp.read()), 0
        view = memoryview(bytearray(RECV_BUFFER))
        total = 0
        while n := resp.readinto(view):
            total += n
            if sink is not None:
                sink(view[:n])
        return Response(resp.status, resp.headers, b""), total


def location_target(location: str) -> str:
    """Path and query of a Location header, absolute or relative."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_query(target: str, name: str, value: str) -> str:
    sep = "&" if "?" in target else "?"
    return f"{target}{sep}{name}={value}"
