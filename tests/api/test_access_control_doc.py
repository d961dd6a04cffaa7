"""docs/access-control.md's permission table is policy.MATRIX, row for row."""

from __future__ import annotations

from pathlib import Path

from cargobay.auth.policy import MATRIX, PUBLIC, Action, Role

DOC = Path(__file__).parents[2] / "docs" / "access-control.md"


def _table() -> dict[str, dict[str, bool]]:
    """The rows of the table whose header begins `| Action |`, up to its end."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Action |"))
    columns = [c.strip() for c in lines[start].strip("|").split("|")][1:]
    table: dict[str, dict[str, bool]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        table[cells[0].strip("`")] = {
            column: cell == "yes" for column, cell in zip(columns, cells[1:], strict=True)
        }
    return table


def test_the_documented_matrix_is_the_policy_matrix() -> None:
    table = _table()
    assert set(table) == {action.value for action in Action}
    for action in Action:
        row = table[action.value]
        for role in Role:
            assert row[role.value] == (action in MATRIX[role]), (action, role)
        assert row["anonymous (public project)"] == (action in PUBLIC), action
