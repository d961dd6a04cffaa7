"""One log line per request: method, path, status, bytes sent, duration."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("cargobay.access")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.pathsend":
                sent = -1  # sent by the server; the size is in Content-Length
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            logger.info(
                "%s %s %d %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                sent,
                (time.perf_counter() - started) * 1000,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "bytes": sent,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
