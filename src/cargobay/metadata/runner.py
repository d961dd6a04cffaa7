"""Where metadata calls run, so that the event loop never waits on a database.

PostgreSQL: every call goes to the thread pool; a query is a network round trip and many
can be in flight at once.

SQLite: reads run right on the event loop. In WAL mode a reader never waits for a lock,
and an indexed lookup costs less than handing it to a thread. Writes go to one writer
thread per process: SQLite takes one writer at a time anyway, and several threads queued
on its lock mostly wait for the interpreter lock while the one holding the database lock
cannot run (a convoy that cut tag pushes to a fifth).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class Runner:
    def __init__(self, sqlite: bool) -> None:
        self._sqlite = sqlite
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer") if sqlite else None

    async def read(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._sqlite:
            return function(*args, **kwargs)
        return await run_in_threadpool(function, *args, **kwargs)

    async def write(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._writer is not None:
            call = functools.partial(function, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self._writer, call)
        return await run_in_threadpool(function, *args, **kwargs)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
