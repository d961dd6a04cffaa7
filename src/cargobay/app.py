"""The one ASGI application: /v2 (OCI API), /api/v1 (management), health checks.

`create_app` is the factory the servers import (`cargobay.app:create_app`, factory mode); it
reads the settings from the environment, which `cargobay serve` fills from its flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from cargobay.accesslog import AccessLog
from cargobay.api import create_api
from cargobay.auth.accounts import Accounts
from cargobay.auth.directory import DirectorySource
from cargobay.auth.secrets import load_box
from cargobay.auth.service import AccessService, ProjectRules
from cargobay.auth.throttle import LoginThrottle, ThrottleSettings
from cargobay.auth.tokens import TokenIssuer, TokenKeys, ensure_key
from cargobay.config import Settings
from cargobay.events import Dispatcher
from cargobay.jobs import Jobs, build_jobs
from cargobay.lifecycle.gc import JOB_KIND as GC_JOB
from cargobay.lifecycle.gc import build_collector, collect_as_job
from cargobay.lifecycle.pulls import PullCounter
from cargobay.lifecycle.pulls import flush_forever as flush_pulls_forever
from cargobay.lifecycle.retention_service import RetentionService
from cargobay.logs import setup_logging
from cargobay.metadata.access_store import AccessStore
from cargobay.metadata.db import create_db_engine, is_sqlite, migrate
from cargobay.metadata.job_store import JobStore
from cargobay.metadata.retention_store import RetentionStore
from cargobay.metadata.secret_store import SecretStore
from cargobay.metadata.store import MetadataStore
from cargobay.registry.cache import FileGeneration, Generation, GenerationCache, RedisGeneration
from cargobay.registry.errors import RegistryError, error_response
from cargobay.registry.routes import routes as registry_routes
from cargobay.registry.service import RegistryService
from cargobay.storage.filesystem import FilesystemBlobStore

logger = logging.getLogger("cargobay")


def build_registry(settings: Settings, events: Dispatcher | None = None) -> RegistryService:
    """Wire storage, metadata, events and the cache into the registry service."""
    engine = create_db_engine(settings)
    migrate(engine, settings.data_dir)
    return RegistryService(
        MetadataStore(engine),
        FilesystemBlobStore(settings.data_dir),
        events or Dispatcher(),
        GenerationCache(_cache_generation(settings, engine)),
        max_manifest_bytes=settings.max_manifest_bytes,
        sparse_indexes=settings.sparse_indexes,
    )


def build_access(settings: Settings, registry: RegistryService) -> AccessService:
    """Wire accounts, tokens and login throttling onto the registry's database."""
    keys_dir = settings.effective_token_keys_dir
    ensure_key(keys_dir)
    store = AccessStore(registry.metadata.engine, registry.metadata.gate)
    cache: GenerationCache[tuple[str, str, str], Any] = GenerationCache(
        _cache_generation(settings, registry.metadata.engine, "auth")
    )
    throttle = LoginThrottle(
        store,
        registry.db,
        cache,
        ThrottleSettings(
            account_lock_after=settings.login_lock_after_failures,
            address_lock_after=settings.login_lock_after_address_failures,
            window=timedelta(seconds=settings.login_failure_window_seconds),
            lockout=timedelta(seconds=settings.login_lockout_seconds),
        ),
    )
    return AccessService(
        store,
        registry.db,
        cache,
        TokenIssuer(
            TokenKeys(keys_dir),
            settings.token_issuer,
            settings.token_service,
            settings.token_ttl_seconds,
        ),
        throttle,
        ProjectRules(settings.auto_create_projects, settings.self_service_projects),
        DirectorySource(SecretStore(registry.metadata.engine), load_box(settings), registry.db),
    )


async def _bootstrap_admin(access: AccessService, settings: Settings) -> None:
    if settings.admin_password is not None:
        password = settings.admin_password.get_secret_value()
        await access.ensure_admin(settings.admin_username, password)
    elif not await access.db.read(access.store.admin_exists):
        logger.warning(NO_ADMIN_YET)


NO_ADMIN_YET = (
    "no administrator exists yet: create one with "
    "`cargobay user create NAME --admin --password-stdin` "
    "(or set CARGOBAY_ADMIN_PASSWORD before the first start)"
)


async def _flush_usage_forever(access: AccessService) -> None:
    while True:
        await asyncio.sleep(30)
        try:
            await access.flush_usage()
        except Exception:
            logger.exception("recording when robots and tokens were last used failed")


def _cache_generation(settings: Settings, engine: Engine, name: str = "cache") -> Generation | None:
    """How this process learns that another one wrote; None turns the cache off.

    The registry's cache ("cache") and the access cache ("auth") move separately: pushes,
    many a second, must not empty the cache of accounts and memberships, which change rarely.
    """
    if settings.redis_url:
        return RedisGeneration(settings.redis_url, name)
    if is_sqlite(engine):
        # Only one host can use a SQLite file, so a file beside it reaches every writer.
        return FileGeneration(settings.data_dir / f"{name}.generation")
    return None  # other PostgreSQL nodes could not tell us about their writes


async def _purge_uploads_forever(registry: RegistryService, settings: Settings) -> None:
    max_age = timedelta(seconds=settings.upload_max_age_seconds)
    while True:
        try:
            purged = await registry.purge_uploads(max_age)
            if purged:
                logger.info("purged %d abandoned uploads", purged)
        except Exception:
            logger.exception("purging abandoned uploads failed")
        await asyncio.sleep(settings.upload_purge_interval_seconds)


def build_jobs_and_retention(
    settings: Settings, registry: RegistryService
) -> tuple[Jobs, RetentionService]:
    """The background work queue on the registry's database, with the job kinds it runs."""
    engine, gate = registry.metadata.engine, registry.metadata.gate
    jobs = build_jobs(settings, JobStore(engine, gate), registry.db)
    retention = RetentionService(registry, RetentionStore(engine, gate), jobs)
    retention.register()
    return jobs, retention


async def _schedule_gc(jobs: Jobs, settings: Settings) -> None:
    """Every node states the schedule at start; the scheduler queues each run once."""
    if settings.gc_schedule:
        await jobs.scheduler.ensure(GC_JOB, settings.gc_schedule)
    else:
        await jobs.scheduler.remove(GC_JOB)


def _health_routes(registry: RegistryService) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await registry.db.read(registry.metadata.ping)
        except Exception as exc:
            logger.warning("not ready: %s", exc)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok"})

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods under /v2 still answer in the OCI error format."""
    assert isinstance(exc, HTTPException)
    code = "NAME_UNKNOWN" if exc.status_code == 404 else "UNSUPPORTED"
    error = RegistryError(code, exc.detail or "not supported", status=exc.status_code)
    return error_response(error, head=request.method == "HEAD")


def _return_freed_memory() -> None:
    """Fix glibc's mmap threshold at its default (128 KiB), for this worker process.

    glibc raises the threshold to the size of any large block freed (up to 32 MiB): after
    one argon2 password check (19 MiB) frees its memory, the upload path's 1 MiB buffers
    come from the heap instead, and the heap keeps them resident. A push after a login grew
    each worker by about 20 MiB for good; a fixed threshold keeps it at about 3.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 128 * 1024)  # not glibc: nothing to do


_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h


def create_app(settings: Settings | None = None, events: Dispatcher | None = None) -> Starlette:
    if settings is None:  # started by a server in factory mode: a fresh worker process
        settings = Settings()
        setup_logging(settings)
        _return_freed_memory()
    registry = build_registry(settings, events)
    access = build_access(settings, registry)
    accounts = Accounts(access.store, registry.db, (access.cache, registry.cache), registry.events)
    jobs, retention = build_jobs_and_retention(settings, registry)
    collector = build_collector(registry, settings)
    jobs.worker.register(GC_JOB, lambda job: collect_as_job(collector))
    pulls = PullCounter(registry.metadata, registry.db)
    pulls.subscribe(registry.events)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await _bootstrap_admin(access, settings)
        await _schedule_gc(jobs, settings)
        tasks = [
            asyncio.create_task(_purge_uploads_forever(registry, settings)),
            asyncio.create_task(_flush_usage_forever(access)),
            asyncio.create_task(jobs.worker.run_forever()),
            asyncio.create_task(jobs.scheduler.run_forever(settings.job_poll_interval_seconds)),
            asyncio.create_task(flush_pulls_forever(pulls, settings.pull_flush_interval_seconds)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):
                await access.flush_usage()
            try:
                await pulls.flush()
            except Exception:
                logger.exception("writing pull counts at shutdown failed")
            registry.db.close()
            registry.metadata.engine.dispose()

    api = create_api(registry, access, accounts, settings, collector)
    api.state.jobs = jobs
    api.state.retention = retention
    app = Starlette(
        routes=[
            *registry_routes,
            *_health_routes(registry),
            Mount("/api/v1", app=api),
        ],
        exception_handlers={HTTPException: _http_error},
        middleware=[Middleware(AccessLog)],
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.access = access
    app.state.accounts = accounts
    app.state.pulls = pulls
    app.state.settings = settings
    app.state.jobs = jobs
    app.state.retention = retention
    app.state.gc = collector
    return app
