"""/system/info and /whoami."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from cargobay import __version__
from cargobay.api.models import Permission, SystemInfo, WhoAmI
from cargobay.api.needs import Authenticated, Public
from cargobay.api.problems import documented
from cargobay.api.services import registry

router = APIRouter(tags=["system"])


@router.get("/system/info", summary="Version and backends of this node")
async def system_info(request: Request, caller: Public) -> SystemInfo:
    service = registry(request)
    return SystemInfo(
        version=__version__,
        database=service.metadata.engine.dialect.name,
        storage=type(service.blobs).__name__,
        self_service_projects=request.app.state.settings.self_service_projects,
    )


@router.get("/whoami", summary="Who the credentials sent stand for", responses=documented(401))
async def whoami(caller: Authenticated) -> WhoAmI:
    grants = caller.grants
    return WhoAmI(
        name=caller.name,
        kind=caller.kind.value,
        is_admin=caller.is_admin,
        roles=dict(caller.roles),
        token=caller.token_id is not None,
        permissions=None
        if grants is None
        else [Permission(project=g.project, actions=sorted(g.actions)) for g in grants],
    )
