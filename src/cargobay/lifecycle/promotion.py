"""Stages and promotion. Every promotion goes through `promote()`.

A promotion makes an artifact, by digest, visible in a target repository (the same one, or
another in the same or another project) and optionally points a tag or a stage tag at it
there, without copying bytes (see `metadata.promotion`). The caller needs `pull` in the
source's project and `promote` in the target's; the target's tag rules (immutability) apply
because the tag moves through the same path as a push.

An approval workflow would gate promotions in `promote()`, between `_authorize` and
`_apply`: the request is a plain value (`PromotionRequest`) that can be stored and applied
later, and the answer (`Promotion`) says what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cargobay.auth.accounts import Invalid, NotFound
from cargobay.auth.policy import Action
from cargobay.auth.principal import Principal, project_of
from cargobay.auth.service import AccessService
from cargobay.events import Event, EventType
from cargobay.metadata.history import Operation
from cargobay.metadata.promotion import DEFAULT_STAGES, Promoted, PromotionStore
from cargobay.oci import digest as digests
from cargobay.oci import names
from cargobay.oci.errors import OCIError
from cargobay.registry.service import RegistryService

__all__ = ["DEFAULT_STAGES", "Promotion", "PromotionDenied", "PromotionRequest", "promote"]

MAX_STAGES = 32


class PromotionDenied(Exception):
    """The caller may not promote this (403); the message says which permission lacks."""


@dataclass(frozen=True, slots=True)
class PromotionRequest:
    """What to promote where, and who asks."""

    caller: Principal
    source_repository: str
    digest: str
    target_repository: str
    tag: str | None = None  # any tag of the target
    stage: str | None = None  # a stage of the target's project; the stage's tag is its name
    referrers: bool = False  # bring the signatures, SBOMs... whose subject is the digest

    @property
    def target_tag(self) -> str | None:
        return self.stage or self.tag


@dataclass(frozen=True, slots=True)
class Promotion:
    """A promotion done."""

    source_repository: str
    digest: str
    target_repository: str
    tag: str | None
    stage: str | None
    previous_digest: str | None  # where the tag pointed before (None: new, or no tag)
    manifests_added: int
    blobs_linked: int
    referrers: int
    floated: tuple[str, ...]  # floating tags of the target that followed (`1.4`, `latest`)


class Stages:
    """A project's stage names: `dev`, `test`, `prod` unless it names its own."""

    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry
        self.store = PromotionStore(registry.metadata)

    async def of(self, project: str) -> list[str]:
        found = await self.registry.db.read(self.store.stages, project)
        if found is None:
            raise NotFound(f"project {project} does not exist")
        return found

    async def set(self, project: str, stages: Sequence[str], actor: str | None) -> list[str]:
        stages = _checked_stages(stages)
        if not await self.registry.db.write(self.store.set_stages, project, stages):
            raise NotFound(f"project {project} does not exist")
        self.registry.events.emit(
            Event(EventType.PROJECT_UPDATED, project=project, subject="stages", actor=actor)
        )
        return stages


def _checked_stages(stages: Sequence[str]) -> list[str]:
    if not 1 <= len(stages) <= MAX_STAGES:
        raise Invalid("stages", f"give between 1 and {MAX_STAGES} stages")
    if len(set(stages)) != len(stages):
        raise Invalid("stages", "a stage is named twice")
    for stage in stages:
        try:
            names.check_tag(stage)
        except OCIError:
            raise Invalid("stages", f"{stage!r} is not a valid tag name") from None
    return list(stages)


async def promote(
    registry: RegistryService, access: AccessService, request: PromotionRequest
) -> Promotion:
    """Promote an artifact: THE way every promotion is made."""
    _check(request)
    await _authorize(access, request)
    if request.stage is not None:
        await _check_stage(registry, request)
    # An approval workflow would hold the request here.
    return await _apply(registry, request)


def _check(request: PromotionRequest) -> None:
    digests.parse(request.digest)  # a bad digest: 400 DIGEST_INVALID
    names.check_name(request.target_repository)
    if request.tag is not None and request.stage is not None:
        raise Invalid("tag", "give a tag or a stage, not both")
    if request.tag is not None:
        try:
            names.check_tag(request.tag)
        except OCIError:
            raise Invalid("tag", f"{request.tag!r} is not a valid tag name") from None
    if request.target_tag is None and request.target_repository == request.source_repository:
        raise Invalid("target_repository", "within one repository, give a tag or a stage")


async def _authorize(access: AccessService, request: PromotionRequest) -> None:
    await _require(access, request.caller, project_of(request.source_repository), Action.PULL)
    await _require(access, request.caller, project_of(request.target_repository), Action.PROMOTE)


async def _require(access: AccessService, caller: Principal, name: str, action: Action) -> None:
    project = await access.project(name)
    allowed = caller.allowed(project) if project is not None else frozenset()
    if project is None or not allowed:
        # As the API's guards answer: a project the caller may do nothing in is not there.
        raise NotFound(f"project {name} does not exist")
    if action not in allowed:
        raise PromotionDenied(f"{action} is not allowed in project {name}")


async def _check_stage(registry: RegistryService, request: PromotionRequest) -> None:
    project = project_of(request.target_repository)
    stages = await Stages(registry).of(project)
    if request.stage not in stages:
        raise Invalid(
            "stage", f"{request.stage!r} is not a stage of project {project}: {', '.join(stages)}"
        )


async def _apply(registry: RegistryService, request: PromotionRequest) -> Promotion:
    tags = [request.target_tag] if request.target_tag else []
    actor = request.caller.subject
    done: Promoted | None = await registry.db.write(
        PromotionStore(registry.metadata).promote,
        request.source_repository,
        request.digest,
        request.target_repository,
        tags,
        request.referrers,
        actor,
    )
    if done is None:
        raise NotFound(f"{request.source_repository}@{request.digest} does not exist")
    registry.cache.invalidate()
    target = request.target_repository
    registry.events.emit(
        Event(
            EventType.ARTIFACT_PROMOTED,
            target,
            digest=request.digest,
            tag=request.target_tag,
            operation=Operation.PROMOTION,
            actor=actor,
            project=project_of(target),
            subject=f"{request.source_repository}@{request.digest}",
        )
    )
    registry.announce_tag_changes(
        target, request.digest, done.tag_changes, Operation.PROMOTION, actor
    )
    registry.announce_tag_changes(target, request.digest, done.floated, Operation.FLOATING, actor)
    return Promotion(
        source_repository=request.source_repository,
        digest=request.digest,
        target_repository=target,
        tag=request.target_tag,
        stage=request.stage,
        previous_digest=done.tag_changes[0].old_digest if done.tag_changes else None,
        manifests_added=done.manifests_added,
        blobs_linked=done.blobs_linked,
        referrers=done.referrers,
        floated=tuple(change.tag for change in done.floated),
    )
