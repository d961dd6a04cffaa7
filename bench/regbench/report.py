"""The results table and the JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from regbench.runner import RoundRecord, Row
from regbench.workloads import Spec

CB, DIST = "cargobay", "distribution"


def ratio(spec: Spec, row: Row) -> float | None:
    """How many times better Cargobay is than Distribution (>1: Cargobay wins).

    Throughputs: Cargobay / Distribution. Times: Distribution / Cargobay.
    """
    cb, dist = row.median(CB), row.median(DIST)
    if spec.limit or cb is None or dist is None or cb <= 0 or dist <= 0:
        return None
    return cb / dist if spec.higher_is_better else dist / cb


def met(spec: Spec, row: Row) -> bool | None:
    if spec.limit:
        cb = row.median(CB)
        return None if cb is None else cb < spec.target
    r = ratio(spec, row)
    return None if r is None else r >= spec.target


def target_text(spec: Spec) -> str:
    if spec.limit:
        return f"< {spec.target:g} {spec.unit}"
    return f">= {spec.target:g}x"


def _figure(row: Row, target: str, targets: list[str]) -> str:
    if target not in targets:
        return "-"
    if target in row.errors:
        return "ERROR"
    value = row.median(target)
    if value is None:
        return "-"
    return row.spec.format(value)


def _verdict(value: bool | None) -> str:
    return {True: "ok", False: "MISS", None: ""}[value]


def table(rows: list[Row], targets: list[str]) -> str:
    header = ("benchmark", "unit", "distribution", "cargobay", "ratio", "target", "")
    lines = [header]
    for row in rows:
        r = ratio(row.spec, row)
        lines.append(
            (
                row.spec.label,
                row.spec.unit,
                _figure(row, DIST, targets),
                _figure(row, CB, targets),
                "-" if r is None else f"{r:.2f}x",
                target_text(row.spec),
                _verdict(met(row.spec, row)),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths).rstrip())
    return "\n".join(out)


def errors(rows: list[Row]) -> str:
    """One line per distinct failure, naming the rows it blanked."""
    seen: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        for target, message in row.errors.items():
            seen.setdefault((target, message), []).append(row.spec.name)
    return "\n".join(f"  {t} [{', '.join(names)}]: {m}" for (t, m), names in seen.items())


def write_json(
    path: Path,
    machine: dict[str, object],
    settings: dict[str, object],
    rows: list[Row],
    records: list[RoundRecord],
    notes: list[str],
) -> None:
    results = []
    for row in rows:
        results.append(
            {
                **asdict(row.spec),
                "figures": {
                    t: {
                        "median": row.median(t),
                        "rounds": row.values.get(t, []),
                        "error": row.errors.get(t),
                    }
                    for t in sorted({*row.values, *row.errors})
                },
                "ratio": ratio(row.spec, row),
                "met": met(row.spec, row),
            }
        )
    doc = {
        "machine": machine,
        "settings": settings,
        "ratio_meaning": "times better than Distribution: throughput cargobay/distribution,"
        " time distribution/cargobay; memory rows have a ceiling, no ratio",
        "results": results,
        "notes": notes,
        "rounds": [asdict(r) for r in records],
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
