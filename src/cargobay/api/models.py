"""The API's request and response bodies. Responses never carry a password hash or a
secret's hash; a robot's or token's secret appears once, in the answer that created it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cargobay.auth.policy import Action, Role

Name = Annotated[str, Field(min_length=1, max_length=64, examples=["team-a"])]
Description = Annotated[str, Field(max_length=1024)]


class Body(BaseModel):
    # A field the API does not know is a mistake worth reporting (a typo of `public`...).
    model_config = ConfigDict(extra="forbid")


# -- users ---------------------------------------------------------------------------------


class User(BaseModel):
    name: str
    email: str | None
    source: str
    is_admin: bool
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class UserCreate(Body):
    name: Name
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    email: Annotated[str, Field(max_length=255)] | None = None
    is_admin: bool = False


class UserUpdate(Body):
    email: Annotated[str, Field(max_length=255)] | None = None
    is_admin: bool | None = None
    disabled: bool | None = None
    password: Annotated[str, Field(min_length=1, max_length=1024)] | None = None


class PasswordChange(Body):
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    # Required when users change their own password: a stolen session alone cannot.
    current_password: Annotated[str, Field(max_length=1024)] | None = None


# -- projects ------------------------------------------------------------------------------


class Project(BaseModel):
    name: str
    public: bool
    description: str | None
    created_by: str | None
    created_at: datetime


class ProjectCreate(Body):
    name: Name
    public: bool = False
    description: Description | None = None


class ProjectUpdate(Body):
    public: bool | None = None
    description: Description | None = None


# -- members -------------------------------------------------------------------------------

MemberKind = Literal["user", "group"]


class Member(BaseModel):
    kind: MemberKind
    name: str
    role: Role
    created_at: datetime


class MemberAdd(Body):
    kind: MemberKind = "user"
    name: Annotated[str, Field(min_length=1, max_length=255)]
    role: Role


class MemberUpdate(Body):
    role: Role


# -- robots and tokens ---------------------------------------------------------------------


class Permission(BaseModel):
    project: Annotated[str, Field(min_length=1, max_length=64, description='or "*"')]
    actions: Annotated[list[Action], Field(min_length=1)]


class Robot(BaseModel):
    name: str
    project: str | None
    description: str | None
    permissions: list[Permission]
    expires_at: datetime | None
    revoked: bool
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None


class RobotWithSecret(Robot):
    secret: str = Field(description="Shown once: only its hash is kept.")


class RobotCreate(Body):
    name: Name
    description: Description | None = None
    expires_at: datetime | None = None
    # Default for project robots: pull, list and push in the project.
    permissions: Annotated[list[Permission], Field(min_length=1)] | None = None


class RobotUpdate(Body):
    description: Description | None = None
    expires_at: datetime | None = None
    permissions: Annotated[list[Permission], Field(min_length=1)] | None = None


class Token(BaseModel):
    name: str
    permissions: list[Permission]
    expires_at: datetime | None
    revoked: bool
    created_at: datetime
    last_used_at: datetime | None


class TokenWithSecret(Token):
    secret: str = Field(description="Shown once: only its hash is kept.")


class TokenCreate(Body):
    name: Name
    permissions: Annotated[list[Permission], Field(min_length=1)]
    expires_at: datetime | None = None


# -- repositories --------------------------------------------------------------------------


class Repository(BaseModel):
    name: str
    tag_count: int
    artifact_count: int
    created_at: datetime
    last_pushed_at: datetime | None


class Artifact(BaseModel):
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    tags: list[str]
    pushed_at: datetime
    labels: dict[str, str] = Field(default_factory=dict)
    pull_count: int = Field(0, description="Pulls by manifest GET, added every few seconds.")
    last_pulled_at: datetime | None = None


# -- labels, search, quotas ----------------------------------------------------------------


class Label(BaseModel):
    key: str
    value: str
    created_by: str | None
    created_at: datetime


class LabelSet(Body):
    value: Annotated[str, Field(max_length=256)]


class SearchResult(BaseModel):
    repository: str
    project: str
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    tags: list[str]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(
        description="The artifact's org.opencontainers.image.* annotations."
    )
    pushed_at: datetime
    pull_count: int
    last_pulled_at: datetime | None


class QuotaSet(Body):
    bytes: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = Field(
        description="The quota in bytes; null: no quota."
    )


class ProjectUsage(BaseModel):
    project: str
    quota_bytes: int | None
    used_bytes: int = Field(description="Each blob once, plus the manifests' payloads.")
    blob_count: int
    blob_bytes: int
    manifest_count: int
    manifest_bytes: int


class RepositoryUsage(BaseModel):
    repository: str
    used_bytes: int
    blob_count: int
    blob_bytes: int = Field(description="Each blob linked into the repository once.")
    manifest_count: int
    manifest_bytes: int


class Recount(BaseModel):
    project: str
    before: int
    after: int


class WhoAmI(BaseModel):
    name: str
    kind: str
    is_admin: bool
    roles: dict[str, Role]
    token: bool  # authenticated with a personal access token
    permissions: list[Permission] | None  # a robot's or token's grants


class SystemInfo(BaseModel):
    version: str
    database: str
    storage: str
    self_service_projects: bool


# -- background jobs -----------------------------------------------------------------------

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class Job(BaseModel):
    id: int
    kind: str
    target: str | None
    payload: dict[str, Any]
    status: JobStatus
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_until: datetime | None
    node: str | None
    attempts: int
    created_by: str | None


# -- retention -----------------------------------------------------------------------------

RULES_DESCRIPTION = (
    'Filters and keep rules, e.g. {"filters": {"tags": ["v*"], "untagged_days": 7}, '
    '"keep": {"latest": {"count": 5, "by": "semver"}, "pulled_within_days": 30}}; '
    "see docs/lifecycle.md (Retention)."
)


class RetentionPolicyBody(Body):
    name: Name
    repository: Annotated[
        str, Field(min_length=1, max_length=255, description="Glob over repository names")
    ] = "**"
    enabled: bool = True
    schedule: Annotated[
        str | None,
        Field(max_length=255, description="Cron expression (UTC); none: on demand only"),
    ] = None
    rules: Annotated[dict[str, Any], Field(description=RULES_DESCRIPTION)] = {}


class RetentionPolicy(BaseModel):
    id: int
    project: str
    name: str
    repository: str
    enabled: bool
    schedule: str | None
    rules: dict[str, Any]
    created_by: str | None
    created_at: datetime
    next_run_at: datetime | None


class RetentionRun(Body):
    dry_run: bool = False
