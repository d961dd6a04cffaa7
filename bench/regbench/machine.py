"""Facts about the host, printed first so results can be compared across machines."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _output(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=cwd, check=False)
    except OSError:
        return "?"
    # stdout only: failures (git outside a commit) talk on stderr.
    text = done.stdout.strip()
    return text.splitlines()[0] if text else "?"


def facts(repo: Path, distribution_bin: str) -> dict[str, object]:
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "mem_total": _first("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "distribution": _output([distribution_bin, "--version"]),
        "cargobay_commit": _output(["git", "rev-parse", "--short", "HEAD"], cwd=repo),
        "wrk": _output(["wrk", "--version"]).split(" [")[0],
    }


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def load_warning(cpus: int) -> str | None:
    """A warning when other work already fills the cores: every figure will be noisy."""
    load = load_average()
    if load < cpus * 0.5:
        return None
    return (
        f"warning: load average {load:.1f} on {cpus} CPUs: other work competes with the "
        "servers; compare ratios, not figures, and consider more --rounds"
    )


def describe(info: dict[str, object]) -> str:
    return "\n".join(f"  {key:<17} {value}" for key, value in info.items())
