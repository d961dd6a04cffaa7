"""Run the real `cargobay` CLI in a subprocess, with its own login file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from liveserver import ADMIN, LiveRegistry

SRC = str(Path(__file__).parents[2] / "src")

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def database() -> str:
    """The CLI only speaks HTTP, so its tests run against the embedded default (SQLite); what
    the server does on PostgreSQL behind each route is tests/api's to check."""
    return "sqlite"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """`cli("project", "list", input=..., check=True)` runs `cargobay project list`."""
    config = tmp_path / "cli" / "cli.json"
    env = {
        **os.environ,
        "CARGOBAY_CLI_CONFIG": str(config),
        "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
    }
    for name in ("CARGOBAY_ADMIN_PASSWORD", "CARGOBAY_CONFIG"):
        env.pop(name, None)

    def run(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "cargobay", *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"cargobay {' '.join(args)} failed: {result.stderr}")
        return result

    run.config = config  # type: ignore[attr-defined]
    return run


@pytest.fixture
def admin_cli(cli: Cli, live_registry: LiveRegistry) -> Cli:
    """The CLI logged in to a live registry as its administrator."""
    cli("login", live_registry.url, "-u", ADMIN[0], "--password-stdin", input=ADMIN[1] + "\n")
    return cli


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)
