"""Cron expressions (five fields, UTC), read by croniter."""

from __future__ import annotations

from datetime import datetime

from croniter import croniter

MAX_LENGTH = 255


class CronInvalid(ValueError):
    """A cron expression that cannot be read; the message says which."""


def check(expression: str) -> str:
    """The expression, if it is a valid five-field cron expression; CronInvalid otherwise."""
    fields = expression.split()
    if len(expression) > MAX_LENGTH or len(fields) != 5 or not croniter.is_valid(expression):
        raise CronInvalid(
            f"{expression!r} is not a cron expression (five fields: minute hour day-of-month "
            "month day-of-week, e.g. '0 3 * * *')"
        )
    return expression


def next_run(expression: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the expression names (UTC)."""
    return croniter(expression, after).get_next(datetime)
