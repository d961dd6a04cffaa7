"""Run many small requests from a fixed number of threads, each with its own connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from regbench.client import Client

T = TypeVar("T")


class _Work:
    """A shared cursor over the items plus the first error any thread hit."""

    def __init__(self, items: Sequence[object]) -> None:
        self.items = items
        self.next = 0
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def take(self) -> int | None:
        with self.lock:
            if self.error is not None or self.next >= len(self.items):
                return None
            self.next += 1
            return self.next - 1

    def fail(self, error: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = error


def run_parallel(
    connect: Callable[[], Client],
    items: Sequence[T],
    task: Callable[[Client, T], None],
    workers: int,
) -> float:
    """Do `task` on every item from `workers` threads; return wall seconds.

    Every thread opens and warms its connection before the clock starts, so
    the figure is the steady-state rate, not TCP setup.
    """
    work = _Work(items)
    start = threading.Barrier(workers + 1)
    threads = [
        threading.Thread(target=_worker, args=(connect, items, task, work, start), daemon=True)
        for _ in range(workers)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if work.error is not None:
        raise work.error
    return elapsed


def _worker(
    connect: Callable[[], Client],
    items: Sequence[T],
    task: Callable[[Client, T], None],
    work: _Work,
    start: threading.Barrier,
) -> None:
    client = connect()
    try:
        try:
            client.request("GET", "/v2/")
        finally:
            start.wait()
        while (index := work.take()) is not None:
            task(client, items[index])
    except BaseException as error:
        work.fail(error)
    finally:
        client.close()
