"""`cargobay serve`: migrate once, then run the ASGI server with N workers."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from cargobay.config import Settings
from cargobay.logs import setup_logging

logger = logging.getLogger("cargobay")
APP = "cargobay.app:create_app"


def serve(settings: Settings) -> None:
    setup_logging(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Workers are new processes: they rebuild the same settings from the environment.
    os.environ.update(settings.to_environment())
    # The supervisor stays small (it only watches workers), so the migration, which needs
    # SQLAlchemy and Alembic, runs in a process of its own that exits when done.
    migration = subprocess.run([sys.executable, "-m", "cargobay", "migrate"], check=False)
    if migration.returncode != 0:
        sys.exit("cargobay: could not bring the metadata schema up to date (see above)")
    logger.info(
        "cargobay listening on http://%s (data in %s, %s, %d worker(s), %s)",
        settings.listen,
        settings.data_dir.resolve(),
        settings.effective_database_url.split(":", 1)[0],
        settings.workers,
        settings.server,
    )
    if settings.server == "uvicorn":
        _uvicorn(settings)
    else:
        _granian(settings)


def _granian(settings: Settings) -> None:
    from granian.constants import Interfaces, Loops
    from granian.server import Server

    Server(
        APP,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=Loops.uvloop if sys.platform != "win32" else Loops.asyncio,
        factory=True,
        log_enabled=False,  # Cargobay writes its own access log
        workers_kill_timeout=settings.shutdown_timeout_seconds,
        respawn_failed_workers=True,
    ).serve()


def _uvicorn(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )
