"""One settings object: defaults, then the TOML file, then CARGOBAY_* variables, then flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from cargobay.cli.main import _parser, _settings
from cargobay.config import Settings
from cargobay.docs_reference import settings_reference
from cargobay.metadata.db import migrate
from cargobay.metadata.migrations import HEAD
from cargobay.metadata.models import Base

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _restore_config_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # `--config` is handed to worker processes through the environment; undo that here.
    monkeypatch.delenv("CARGOBAY_CONFIG", raising=False)


def parse(*argv: str) -> Settings:
    return _settings(_parser().parse_args(["serve", *argv]))


def test_defaults_listen_on_loopback_5000_with_data_in_cargobay_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [k for k in os.environ if k.startswith("CARGOBAY_")]:
        monkeypatch.delenv(name)
    settings = parse()
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert settings.data_dir == Path("cargobay-data")
    assert settings.effective_database_url.endswith("cargobay-data/metadata.db")


def test_the_file_is_overridden_by_the_environment_which_is_overridden_by_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cargobay.toml"
    config.write_text('listen = "0.0.0.0:6000"\nworkers = 3\nlog_format = "json"\n')
    monkeypatch.setenv("CARGOBAY_WORKERS", "4")
    monkeypatch.setenv("CARGOBAY_LOG_LEVEL", "debug")
    settings = parse("--config", str(config), "--log-level", "warning")
    assert settings.listen == "0.0.0.0:6000"  # file
    assert settings.log_format == "json"  # file
    assert settings.workers == 4  # environment over file
    assert settings.log_level == "warning"  # flag over environment


def test_bad_settings_exit_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cargobay",
            "serve",
            "--listen",
            "nowhere",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "listen must be HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        parse("--config", str(tmp_path / "absent.toml"))
    assert "does not exist" in str(caught.value)


def test_the_configuration_reference_in_docs_is_current() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text() == settings_reference(), (
        "run: cargobay config-reference > docs/configuration.md"
    )


def test_the_recorded_head_revision_is_the_newest_migration() -> None:
    migrations = ROOT / "src" / "cargobay" / "metadata" / "migrations"
    assert ScriptDirectory(str(migrations)).get_current_head() == HEAD


def test_migrations_build_exactly_the_models(settings: Settings) -> None:
    engine = create_engine(settings.effective_database_url)
    migrate(engine, settings.data_dir)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []
