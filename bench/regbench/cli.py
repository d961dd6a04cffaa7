"""Command line: start the registries, run the selected workloads, print the table."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from regbench import report
from regbench.blobs import MiB
from regbench.client import BenchError
from regbench.machine import describe, facts, load_average, load_warning
from regbench.runner import Outcome, run_workload
from regbench.servers import Server, start_cargobay, start_distribution, stop
from regbench.workloads import ALL, Options, Workload

REPO = Path(__file__).resolve().parents[2]
TARGETS = {
    "both": ["distribution", "cargobay"],
    "cargobay": ["cargobay"],
    "distribution": ["distribution"],
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [w.name for w in ALL] + [s.name for w in ALL for s in w.specs if s.name != w.name]
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="Cargobay vs CNCF Distribution, side by side on loopback.",
        epilog="benchmarks: " + ", ".join(names),
    )
    p.add_argument("--target", choices=sorted(TARGETS), default="both")
    p.add_argument("--rounds", type=int, default=3, help="rounds per benchmark (median kept)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these benchmarks (repeat or comma-separate)",
    )
    p.add_argument("--skip-1g", action="store_true", help="skip the 1 GiB peak-memory push")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    p.add_argument("--workers", type=int, default=2, help="cargobay --workers (default 2)")
    p.add_argument("--cargobay-bin", default=str(REPO / ".venv/bin/cargobay"))
    p.add_argument(
        "--cargobay-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for `cargobay serve` (repeatable)",
    )
    p.add_argument(
        "--cargobay-log-level",
        default="error",
        help="cargobay --log-level; Distribution runs at error level too ('' to omit)",
    )
    p.add_argument("--distribution-bin", default="/usr/bin/docker-registry")
    p.add_argument("--blob-mib", type=int, default=256, help="push/pull blob size")
    p.add_argument("--chunk-mib", type=int, default=16, help="PATCH chunk size")
    p.add_argument("--big-mib", type=int, default=1024, help="peak-memory blob size")
    p.add_argument("--images", type=int, default=200, help="small images pushed per round")
    p.add_argument("--tag-puts", type=int, default=2000, help="tags PUT per round")
    p.add_argument("--tag-list", type=int, default=3000, help="tags in the listed repository")
    p.add_argument("--concurrency", type=int, default=8, help="client threads for small pushes")
    p.add_argument("--wrk-seconds", type=float, default=10.0)
    p.add_argument("--wrk-connections", type=int, default=32)
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--work-dir", type=Path, help="parent of the temporary directory")
    p.add_argument("--keep", action="store_true", help="keep data dirs and logs afterwards")
    args = p.parse_args(argv)
    args.only = [n for item in args.only for n in item.split(",") if n]
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(names)}")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def selected(args: argparse.Namespace) -> list[type[Workload]]:
    """Workloads named by --only, directly or through one of their rows."""
    chosen = [
        w
        for w in ALL
        if not args.only or w.name in args.only or any(s.name in args.only for s in w.specs)
    ]
    return [w for w in chosen if not (args.skip_1g and w.name == "mem-1g")]


def options(args: argparse.Namespace, work: Path) -> Options:
    return Options(
        work=work,
        blob_size=args.blob_mib * MiB,
        chunk_size=args.chunk_mib * MiB,
        big_size=args.big_mib * MiB,
        images=args.images,
        tag_puts=args.tag_puts,
        tag_list=args.tag_list,
        concurrency=args.concurrency,
        wrk_seconds=args.wrk_seconds,
        wrk_connections=args.wrk_connections,
        wrk_threads=args.wrk_threads,
    )


def log(line: str) -> None:
    print(line, flush=True)


def start_servers(args: argparse.Namespace, work: Path) -> list[Server]:
    servers: list[Server] = []
    try:
        for name in TARGETS[args.target]:
            began = time.perf_counter()
            if name == "distribution":
                server = start_distribution(args.distribution_bin, work)
            else:
                server = start_cargobay(
                    args.cargobay_bin,
                    work,
                    args.workers,
                    args.cargobay_log_level,
                    args.cargobay_arg,
                )
            log(
                f"  started {name} on port {server.port} (pid {server.pid}) in "
                f"{time.perf_counter() - began:.1f}s: {' '.join(server.command)}"
            )
            servers.append(server)
    except BaseException:
        for server in servers:
            stop(server)
        raise
    return servers


def run_all(
    classes: list[type[Workload]], opts: Options, servers: list[Server], rounds: int
) -> Outcome:
    total = Outcome([], [])
    for cls in classes:
        log(f"- {cls.name}")
        outcome = run_workload(cls(opts), servers, rounds, log)
        total.rows += outcome.rows
        total.records += outcome.records
        total.notes += outcome.notes
    return total


def legend(opts: Options, args: argparse.Namespace) -> str:
    return "\n".join(
        [
            "Ratio = how many times better Cargobay is than Distribution (>1 means Cargobay wins):",
            "  rates are Cargobay/Distribution, times are Distribution/Cargobay.",
            f"Medians of {args.rounds} round(s) (peak RSS: one). Push/pull:"
            f" {opts.blob_size // MiB} MiB blob, {opts.chunk_size // MiB} MiB chunks.",
            f"Manifest GET: wrk -t{opts.wrk_threads} -c{opts.wrk_connections}"
            f" -d{opts.wrk_seconds:g}s. Image push: {opts.images} images, {opts.concurrency} at a"
            f" time. Tag PUT: {opts.tag_puts} tags. Listing: {opts.tag_list} tags.",
            f"Peak RSS: summed over the server's process tree while a {opts.big_size // MiB} MiB"
            " blob is pushed; the ceiling is on Cargobay's figure.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    classes = selected(args)
    if not classes:
        log("nothing to run")
        return 2
    began = time.perf_counter()
    machine = facts(REPO, args.distribution_bin)
    log("machine:\n" + describe(machine))
    if warning := load_warning(len(os.sched_getaffinity(0))):
        log(warning)
    work = Path(tempfile.mkdtemp(prefix="cargobay-bench-", dir=args.work_dir))
    opts = options(args, work)
    try:
        servers = start_servers(args, work)
        try:
            outcome = run_all(classes, opts, servers, args.rounds)
        finally:
            for server in servers:
                stop(server)
    except BenchError as error:
        log(f"error: {error}")
        return 1
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    targets = TARGETS[args.target]
    log("\n" + report.table(outcome.rows, targets))
    log("\n" + legend(opts, args))
    if outcome.notes:
        log("\nnotes:\n" + "\n".join(f"  {n}" for n in outcome.notes))
    if problems := report.errors(outcome.rows):
        log("\nfailures:\n" + problems)
    if args.json:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        report.write_json(
            args.json, machine, settings, outcome.rows, outcome.records, outcome.notes
        )
        log(f"\nwrote {args.json}")
    log(f"\ntotal {time.perf_counter() - began:.0f}s, load average at end {load_average():.1f}")
    return 1 if any(row.errors for row in outcome.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
