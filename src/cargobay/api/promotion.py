"""/projects/{project}/stages, and promoting an artifact:
POST /projects/{project}/repositories/{repository}/artifacts/{digest}/promote.

The promote route's guard asks `pull` in the source's project (the path's); `promote` in
the target's project is asked by `lifecycle.promotion.promote`, which every promotion goes
through.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request

from cargobay.api.models import Body
from cargobay.api.needs import Lister, Puller, SettingsManager, access
from cargobay.api.problems import ProblemError, documented
from cargobay.api.repositories import _in_project
from cargobay.api.services import registry
from cargobay.lifecycle.promotion import (
    MAX_STAGES,
    Promotion,
    PromotionDenied,
    PromotionRequest,
    Stages,
    promote,
)

stages_router = APIRouter(
    prefix="/projects/{project}/stages", tags=["stages"], responses=documented(401, 403, 404, 422)
)
router = APIRouter(
    prefix="/projects/{project}/repositories",
    tags=["promotion"],
    responses=documented(400, 401, 403, 404, 422),
)

StageName = Annotated[str, Field(min_length=1, max_length=128)]


class StageList(BaseModel):
    stages: list[str] = Field(description="In promotion order; default dev, test, prod.")


class StageListUpdate(Body):
    stages: Annotated[list[StageName], Field(min_length=1, max_length=MAX_STAGES)]


class PromotionBody(Body):
    target_repository: str | None = Field(
        None, max_length=255, description="Default: the source repository."
    )
    tag: str | None = Field(None, max_length=128, description="A tag to point in the target.")
    stage: str | None = Field(
        None, max_length=128, description="A stage of the target's project: its tag."
    )
    referrers: bool = Field(False, description="Bring the referrers (signatures, SBOMs) too.")


class PromotionOut(BaseModel):
    source_repository: str
    digest: str
    target_repository: str
    tag: str | None
    stage: str | None
    previous_digest: str | None
    manifests_added: int
    blobs_linked: int
    referrers: int
    floated: list[str]


def promotion_out(done: Promotion) -> PromotionOut:
    return PromotionOut(
        source_repository=done.source_repository,
        digest=done.digest,
        target_repository=done.target_repository,
        tag=done.tag,
        stage=done.stage,
        previous_digest=done.previous_digest,
        manifests_added=done.manifests_added,
        blobs_linked=done.blobs_linked,
        referrers=done.referrers,
        floated=list(done.floated),
    )


@stages_router.get("", summary="List a project's stages")
async def get_stages(request: Request, project: str, caller: Lister) -> StageList:
    return StageList(stages=await Stages(registry(request)).of(project))


@stages_router.put("", summary="Set a project's stages")
async def put_stages(
    request: Request, project: str, caller: SettingsManager, body: StageListUpdate
) -> StageList:
    stages = await Stages(registry(request)).set(project, body.stages, caller.subject)
    return StageList(stages=stages)


@router.post(
    "/{repository:path}/artifacts/{digest}/promote",
    summary="Promote an artifact to a tag, a stage or another repository",
    responses=documented(409),
)
async def promote_artifact(
    request: Request,
    project: str,
    repository: str,
    digest: str,
    caller: Puller,
    body: PromotionBody,
) -> PromotionOut:
    source = _in_project(project, repository)
    promotion = PromotionRequest(
        caller=caller,
        source_repository=source,
        digest=digest,
        target_repository=body.target_repository or source,
        tag=body.tag,
        stage=body.stage,
        referrers=body.referrers,
    )
    try:
        done = await promote(registry(request), access(request), promotion)
    except PromotionDenied as exc:
        raise ProblemError(403, str(exc)) from None
    return promotion_out(done)
