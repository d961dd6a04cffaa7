"""What commands print: aligned tables for people, JSON (`--json`) for programs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def permissions_text(permissions: list[dict[str, Any]]) -> str:
    return " ".join(f"{p['project']}:{','.join(p['actions'])}" for p in permissions)


def show(data: Any, columns: Sequence[str], as_json: bool) -> None:
    """Print one object (a list of `key: value` lines) or a list of them (a table)."""
    if as_json:
        print(json.dumps(data, indent=2))
    elif isinstance(data, list):
        table(data, columns)
    else:
        width = max(len(column) for column in columns)
        for column in columns:
            print(f"{column + ':':<{width + 1}} {_cell(_value(data, column))}")


def _value(row: dict[str, Any], column: str) -> Any:
    if column == "permissions" and isinstance(row.get(column), list):
        return permissions_text(row[column])
    return row.get(column)


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    cells = [[_cell(_value(row, c)) for c in columns] for row in rows]
    headers = [c.upper().replace("_", " ") for c in columns]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for line in [headers, *cells]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
