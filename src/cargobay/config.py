"""The one settings object: defaults, then a TOML file, then `CARGOBAY_*` variables, then flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# The file is named by an environment variable (the CLI sets it from --config) because
# pydantic-settings reads sources at construction time, before any flag is parsed.
CONFIG_FILE_ENV = "CARGOBAY_CONFIG"


class Settings(BaseSettings):
    """Everything an operator can set. The docs' configuration reference is generated from this."""

    model_config = SettingsConfigDict(env_prefix="CARGOBAY_", extra="forbid")

    listen: str = Field("127.0.0.1:5000", description="Address and port to serve on, HOST:PORT.")
    data_dir: Path = Field(
        Path("./cargobay-data"),
        description="Directory for blobs, uploads and the SQLite database.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata database; default SQLite in the data "
        "directory. Use postgresql+psycopg://... for production.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL (redis://host:6379/0). Nodes that share PostgreSQL use it to "
        "keep their manifest caches coherent; without it they do not cache.",
    )
    workers: int = Field(1, ge=1, le=64, description="Server worker processes.")
    server: Literal["granian", "uvicorn"] = Field("granian", description="ASGI server to run.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level logged."
    )
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    access_log: bool = Field(True, description="Log one line per request.")
    max_manifest_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest manifest accepted on push, in bytes."
    )
    sparse_indexes: bool = Field(
        False,
        description="Accept image indexes whose child manifests are not in the repository.",
    )
    upload_max_age_seconds: int = Field(
        24 * 3600, ge=60, description="Abandoned upload sessions older than this are purged."
    )
    upload_purge_interval_seconds: int = Field(
        600, ge=1, description="How often each node looks for abandoned uploads."
    )
    history_window_days: float = Field(
        14,
        ge=0,
        description="How long a manifest that a tag's history refers to (or that was deleted) "
        "stays restorable before garbage collection may reclaim it.",
    )
    job_poll_interval_seconds: float = Field(
        5,
        gt=0,
        le=3600,
        description="How often each node looks for queued background jobs and due schedules "
        "(a job queued on the node itself starts at once).",
    )
    job_lease_seconds: int = Field(
        60,
        ge=5,
        description="A running job's lease, renewed by its node every third of it; a job whose "
        "node stops renewing is taken over by another node when the lease runs out.",
    )
    job_max_attempts: int = Field(
        3, ge=1, description="How often a job whose node died is started again before it fails."
    )
    gc_grace_seconds: float = Field(
        3600,
        ge=0,
        description="Garbage collection leaves blobs and untagged manifests younger than this "
        "(pushed, or pushed again, this recently), so pushes in progress and clock skew "
        "between nodes are safe.",
    )
    gc_schedule: str | None = Field(
        None,
        description="Cron expression (e.g. `0 3 * * *`) on which garbage collection runs as a "
        "background job, on one node at a time; unset: only on demand (API or `cargobay gc`).",
    )
    pull_flush_interval_seconds: float = Field(
        5,
        gt=0,
        le=3600,
        description="How often each node adds the pulls it counted to the artifacts' pull "
        "counts and last-pull times (in one batch; also at shutdown).",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="SQLite WAL durability: NORMAL survives process crashes, FULL also power loss.",
    )
    database_pool_size: int = Field(16, ge=1, description="Connections per worker process.")
    shutdown_timeout_seconds: int = Field(
        30, ge=1, description="How long SIGTERM waits for in-flight requests."
    )
    master_key: SecretStr | None = Field(
        None,
        description="Key that encrypts stored secrets: 32 bytes, base64. Overrides "
        "`master_key_file`. Every node must have the same one.",
    )
    master_key_file: Path | None = Field(
        None,
        description="File holding the master key (base64); default `master.key` in the data "
        "directory, created on first use.",
    )

    # -- access control ---------------------------------------------------------------------
    admin_username: str = Field("admin", description="Name of the first administrator.")
    admin_password: SecretStr | None = Field(
        None,
        description="Creates the first administrator on start if there is none yet "
        "(usually given as CARGOBAY_ADMIN_PASSWORD).",
    )
    auto_create_projects: bool = Field(
        False,
        description="A push to a project that does not exist creates it (private, with the "
        "pusher as its admin) instead of being refused.",
    )
    self_service_projects: bool = Field(
        False, description="Any user may create projects; otherwise administrators only."
    )
    external_url: str | None = Field(
        None,
        description="The URL clients reach this registry at (https://registry.example.com); "
        "the token realm is derived from it. Default: from each request's Host header.",
    )
    token_service: str = Field(
        "cargobay", description="The `service` (audience) of the tokens this registry issues."
    )
    token_issuer: str = Field("cargobay", description="The issuer of the tokens it issues.")
    token_ttl_seconds: int = Field(300, ge=30, le=86400, description="Lifetime of access tokens.")
    refresh_token_ttl_seconds: int = Field(
        30 * 86400, ge=300, description="Lifetime of refresh (offline) tokens."
    )
    token_keys_dir: Path | None = Field(
        None,
        description="Directory of the token signing keys (default DATA_DIR/token-keys). "
        "Nodes of one registry must share the same keys.",
    )
    login_lock_after_failures: int = Field(
        5, ge=1, description="Failed logins of one account before it is locked out."
    )
    login_lock_after_address_failures: int = Field(
        20, ge=1, description="Failed logins from one address before it is locked out."
    )
    login_lockout_seconds: int = Field(300, ge=1, description="How long a lockout lasts.")
    login_failure_window_seconds: int = Field(
        900, ge=1, description="Failures older than this are forgotten."
    )

    @field_validator("listen")
    @classmethod
    def _listen_has_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("listen must be HOST:PORT, e.g. 127.0.0.1:5000")
        return value

    @field_validator("gc_schedule")
    @classmethod
    def _gc_schedule_is_cron(cls, value: str | None) -> str | None:
        from cargobay.jobs import cron  # here: the jobs package imports this module

        return cron.check(value) if value else None

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def effective_token_keys_dir(self) -> Path:
        return self.token_keys_dir or self.data_dir / "token-keys"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'metadata.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    def to_environment(self) -> dict[str, str]:
        """The settings as `CARGOBAY_*` variables, so server worker processes rebuild them."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            if isinstance(value, SecretStr):
                # Workers need the value itself; str() of a SecretStr is asterisks.
                value = value.get_secret_value()
            env[f"CARGOBAY_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        return env
