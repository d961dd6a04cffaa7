"""/projects/{project}/repositories/{repository}/versions and .../settings: a repository's
tags read as semantic versions, ranges resolved to a tag, and the floating-tag setting.

Included before `api.repositories`, whose `{repository:path}` would take these paths.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from cargobay.api.models import Body
from cargobay.api.needs import Lister, SettingsManager
from cargobay.api.problems import ProblemError, documented
from cargobay.api.repositories import _in_project
from cargobay.api.services import registry
from cargobay.lifecycle.versions import TaggedVersion, Versions
from cargobay.metadata.versions import FloatingSettings
from cargobay.oci import semver

router = APIRouter(
    prefix="/projects/{project}/repositories",
    tags=["versions"],
    responses=documented(400, 401, 403, 404, 422),
)


class Version(BaseModel):
    tag: str
    digest: str
    version: str = Field(description="As semver writes it: the tag `v1.2.3_b5` is 1.2.3+b5.")
    prerelease: bool


class OtherTag(BaseModel):
    tag: str
    digest: str


class VersionList(BaseModel):
    versions: list[Version]
    other_tags: list[OtherTag] | None = Field(
        description="Tags that are not semantic versions, by name; null with other_tags=false."
    )


class RepositorySettings(BaseModel):
    floating_tags: bool = Field(
        description="A release push moves `1.4`, `1` and `latest` to it if it is their highest."
    )
    float_prereleases: bool = Field(description="Prereleases move floating tags too.")


class RepositorySettingsUpdate(Body):
    floating_tags: bool | None = None
    float_prereleases: bool | None = None


def versions(request: Request) -> Versions:
    return Versions(registry(request))


def version_out(found: TaggedVersion) -> Version:
    return Version(
        tag=found.tag,
        digest=found.digest,
        version=found.text,
        prerelease=found.version.is_prerelease,
    )


def settings_out(settings: FloatingSettings) -> RepositorySettings:
    return RepositorySettings(
        floating_tags=settings.floating_tags, float_prereleases=settings.float_prereleases
    )


@router.get("/{repository:path}/versions/resolve", summary="Resolve a semver range to a tag")
async def resolve(
    request: Request,
    project: str,
    repository: str,
    caller: Lister,
    range: Annotated[
        str, Query(max_length=semver.MAX_LENGTH, description="`^1.2`, `~1.4.0`, `>=2 <3`...")
    ],
    prerelease: Annotated[bool, Query(description="Prereleases may match.")] = False,
) -> Version:
    name = _in_project(project, repository)
    try:
        found = await versions(request).resolve(name, range, prerelease)
    except semver.RangeInvalid as exc:
        raise ProblemError(400, str(exc)) from None
    return version_out(found)


@router.get("/{repository:path}/versions", summary="List a repository's tags in version order")
async def list_versions(
    request: Request,
    project: str,
    repository: str,
    caller: Lister,
    order: Literal["asc", "desc"] = "asc",
    prerelease: Annotated[bool, Query(description="List prereleases.")] = True,
    other_tags: Annotated[bool, Query(description="List the tags that are not semver.")] = True,
) -> VersionList:
    name = _in_project(project, repository)
    found = await versions(request).listing(
        name, descending=order == "desc", prereleases=prerelease
    )
    others = [OtherTag(tag=t, digest=d) for t, d in found.others] if other_tags else None
    return VersionList(versions=[version_out(v) for v in found.versions], other_tags=others)


@router.get("/{repository:path}/settings", summary="Show a repository's settings")
async def get_settings(
    request: Request, project: str, repository: str, caller: Lister
) -> RepositorySettings:
    name = _in_project(project, repository)
    return settings_out(await versions(request).settings(name))


@router.put("/{repository:path}/settings", summary="Change a repository's settings")
async def put_settings(
    request: Request,
    project: str,
    repository: str,
    caller: SettingsManager,
    body: RepositorySettingsUpdate,
) -> RepositorySettings:
    """Fields left out keep their value; the repository is created (empty) if need be, so
    that floating tags can be turned on before the first release."""
    name = _in_project(project, repository)
    service = versions(request)
    try:
        current = await service.settings(name)
    except LookupError:
        current = FloatingSettings()
    changes = body.model_dump(exclude_none=True)
    updated = FloatingSettings(**{**settings_out(current).model_dump(), **changes})
    return settings_out(await service.save_settings(name, updated, caller.subject))
