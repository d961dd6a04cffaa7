"""Run a workload's rounds against each server, alternating the order."""

from __future__ import annotations

import http.client
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from regbench.client import BenchError
from regbench.procfs import tree_cpu
from regbench.servers import Server
from regbench.workloads import Spec, Workload

# What a misbehaving server can make the client raise; anything else is a bug here.
FAILURES = (BenchError, OSError, http.client.HTTPException, ValueError)


@dataclass
class RoundRecord:
    workload: str
    target: str
    round: int
    values: dict[str, float]
    detail: dict[str, object]
    server_cpu_s: float
    client_cpu_s: float
    wall_s: float


@dataclass
class Row:
    spec: Spec
    values: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def median(self, target: str) -> float | None:
        if target in self.errors or not self.values.get(target):
            return None
        return statistics.median(self.values[target])


@dataclass
class Outcome:
    rows: list[Row]
    records: list[RoundRecord]
    notes: list[str] = field(default_factory=list)


Log = Callable[[str], None]
R = TypeVar("R")


def run_workload(wl: Workload, servers: Sequence[Server], rounds: int, log: Log) -> Outcome:
    rows = [Row(spec) for spec in wl.specs]
    records: list[RoundRecord] = []
    failed: dict[str, str] = {}
    for server in servers:
        _guard(server, failed, log, f"{wl.name} setup", lambda s=server: wl.prepare(s))
    for index in range(wl.fixed_rounds or rounds):
        wl.begin_round(index)
        # Alternate who goes first so slow drift on a noisy host hits both alike.
        order = servers if index % 2 == 0 else list(reversed(servers))
        for server in order:
            if server.name not in failed:
                record = _guard(
                    server,
                    failed,
                    log,
                    f"{wl.name} round {index + 1}",
                    lambda s=server, i=index: _measure(wl, s, i),
                )
                if record is not None:
                    records.append(record)
                    log(_progress(record, wl))
    for server in servers:
        if server.name not in failed:
            _guard(server, failed, log, f"{wl.name} check", lambda s=server: wl.finish(s))
    _fill(rows, records, failed)
    notes = wl.notes([(r.target, r.detail) for r in records]) if records else []
    return Outcome(rows, records, [f"{wl.name}: {n}" for n in notes])


def _guard(
    server: Server, failed: dict[str, str], log: Log, what: str, action: Callable[[], R]
) -> R | None:
    """Run `action`; a failure marks the server failed for this workload only."""
    try:
        return action()
    except FAILURES as error:
        message = f"{type(error).__name__}: {error}".strip()
        if server.proc.poll() is not None:
            message += f" (server exited {server.proc.returncode}; log:\n{server.log_tail()})"
        failed[server.name] = message.splitlines()[0][:200]
        log(f"  !! {server.name}: {what} failed: {message}")
        return None


def _measure(wl: Workload, server: Server, index: int) -> RoundRecord:
    cpu_before, client_before = tree_cpu(server.pid), _client_cpu()
    began = time.perf_counter()
    measured = wl.measure(server, index)
    wall = time.perf_counter() - began
    return RoundRecord(
        workload=wl.name,
        target=server.name,
        round=index + 1,
        values=measured.values,
        detail=measured.detail,
        server_cpu_s=tree_cpu(server.pid) - cpu_before,
        client_cpu_s=_client_cpu() - client_before,
        wall_s=wall,
    )


def _client_cpu() -> float:
    """CPU of this process and of finished children (wrk)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _fill(rows: list[Row], records: list[RoundRecord], failed: dict[str, str]) -> None:
    for row in rows:
        for record in records:
            if row.spec.name in record.values:
                row.values.setdefault(record.target, []).append(record.values[row.spec.name])
        row.errors.update(failed)


def _progress(record: RoundRecord, wl: Workload) -> str:
    figures = ", ".join(
        f"{s.format(record.values[s.name])} {s.unit}" for s in wl.specs if s.name in record.values
    )
    return (
        f"  {record.workload:<13} r{record.round} {record.target:<12} {figures}"
        f"  (server cpu {record.server_cpu_s:.2f}s, client cpu {record.client_cpu_s:.2f}s,"
        f" wall {record.wall_s:.2f}s)"
    )
