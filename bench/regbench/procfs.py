"""Memory and CPU of a server's whole process tree, read from /proc.

Servers fork workers (granian does), so a figure for the main process alone
would hide most of the cost: everything here sums over the tree.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after ")" is safe.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants alive right now."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(_children(pid))
    return tree


def _children(pid: int) -> list[int]:
    # /proc/PID/task/TID/children lists what each thread forked: reading a
    # handful of these is far cheaper than scanning all of /proc, which matters
    # when sampling every 50 ms on a machine whose cores the server needs.
    found: list[int] = []
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            resident = int((_PROC / str(pid) / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += resident * _PAGE
    return total


def pss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            text = (_PROC / str(pid) / "smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the given live processes."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # After the name: state is index 0, utime index 11, stime index 12.
            ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICKS


def tree_cpu(root: int) -> float:
    return cpu_seconds(process_tree(root))


@dataclass
class Memory:
    """Summed over a process tree, in bytes."""

    rss: int = 0
    pss: int = 0
    processes: int = 0


def tree_memory(root: int) -> Memory:
    pids = process_tree(root)
    return Memory(rss_bytes(pids), pss_bytes(pids), len(pids))


class PeakMemory:
    """Samples the tree's summed RSS and PSS every `interval` seconds in a thread.

    RSS is the headline (what the target is about), but forked workers share
    the interpreter and imported modules, which summed RSS counts once per
    process; PSS splits shared pages between their users and so tells how much
    memory the tree really holds.
    """

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak = Memory()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        now = tree_memory(self.root)
        self.peak = Memory(
            max(self.peak.rss, now.rss),
            max(self.peak.pss, now.pss),
            max(self.peak.processes, now.processes),
        )
        self.samples += 1


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (_PROC / str(pid)).exists():
            return True
        time.sleep(0.05)
    return False
