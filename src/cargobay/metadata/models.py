"""The metadata schema. Alembic migrations in `migrations/versions` must build exactly this."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Names for constraints so that migrations are reproducible on every database.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Lexical (byte) order for names, whatever the database's default collation is.
NAME = String(255).with_variant(String(255, collation="C"), "postgresql")
DIGEST = String(200)
MEDIA_TYPE = String(255)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives back naive ones)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_utc_or_none(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Blob(Base):
    """A blob the store holds, once however many repositories link it."""

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RepositoryBlob(Base):
    """A blob is visible only in the repositories it was pushed or mounted into."""

    __tablename__ = "repository_blobs"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(
        ForeignKey("blobs.digest", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_repository_blobs_digest", "digest"),)


class Manifest(Base):
    """A manifest in one repository; `payload` holds the pushed bytes unchanged."""

    __tablename__ = "manifests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(DIGEST)
    media_type: Mapped[str] = mapped_column(MEDIA_TYPE)
    artifact_type: Mapped[str | None] = mapped_column(MEDIA_TYPE, nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    subject_digest: Mapped[str | None] = mapped_column(DIGEST, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set by a delete: the manifest is gone for clients, but history can still restore it
    # until garbage collection reclaims it after the history window.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Pulls, counted in memory by each node and added here in batches (lifecycle.pulls).
    pull_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_pulled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        UniqueConstraint("repository_id", "digest"),
        Index("ix_manifests_repository_id_subject_digest", "repository_id", "subject_digest"),
    )


class ManifestReference(Base):
    """What a manifest points at: its config and layers (blobs) or its children (manifests)."""

    __tablename__ = "manifest_references"

    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # config | layer | child
    digest: Mapped[str] = mapped_column(DIGEST)

    __table_args__ = (Index("ix_manifest_references_digest", "digest"),)


class Tag(Base):
    __tablename__ = "tags"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_tags_manifest_id", "manifest_id"),)


class TagHistory(Base):
    """One change of a tag: created (no old digest), moved, or deleted (no new digest)."""

    __tablename__ = "tag_history"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(NAME)
    old_digest: Mapped[str | None] = mapped_column(DIGEST, nullable=True)
    new_digest: Mapped[str | None] = mapped_column(DIGEST, nullable=True)
    operation: Mapped[str] = mapped_column(String(16))  # see metadata.history.Operation
    actor: Mapped[str | None] = mapped_column(NAME, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_tag_history_repository_id_tag_id", "repository_id", "tag", "id"),
        Index("ix_tag_history_repository_id_at", "repository_id", "at"),
        Index("ix_tag_history_at", "at"),
        # A repository's history newest first, page after page (keyset on id).
        Index("ix_tag_history_repository_id_id", "repository_id", "id"),
    )


class ImmutabilityRule(Base):
    """A project's rule that tags it matches may be created but never moved or deleted.

    `kind` says how `pattern` reads: a tag glob (`v*`), a Python regular expression matched
    against the whole tag, or a semver range (`>=1.0.0`). `repositories` is a glob of the
    repositories it covers (None: every repository of the project).
    """

    __tablename__ = "immutability_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # glob | regex | semver
    pattern: Mapped[str] = mapped_column(String(255))
    repositories: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    created_by: Mapped[str | None] = mapped_column(NAME, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_immutability_rules_project_id", "project_id"),)


class RepositorySettings(Base):
    """A repository's own settings; no row means the defaults (every option off)."""

    __tablename__ = "repository_settings"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    # A release push moves `1.4`, `1` and `latest` to it when it is the highest of them.
    floating_tags: Mapped[bool] = mapped_column(Boolean, default=False)
    float_prereleases: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProjectStage(Base):
    """A stage a project promotes artifacts through; a project without rows has the default
    stages (`metadata.promotion.DEFAULT_STAGES`)."""

    __tablename__ = "project_stages"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)

    __table_args__ = (UniqueConstraint("project_id", "name"),)


class Upload(Base):
    """An upload session; its bytes are in the blob store under the same id."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_uploads_updated_at", "updated_at"),)


class GcRun(Base):
    """One garbage collection run (or dry run) and what it removed.

    Kept apart from any general jobs table on purpose: it is small and GC's own.
    """

    __tablename__ = "gc_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node: Mapped[str] = mapped_column(String(255))
    actor: Mapped[str | None] = mapped_column(NAME, nullable=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))  # running | finished | failed
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    manifests_removed: Mapped[int] = mapped_column(Integer, default=0)
    blobs_removed: Mapped[int] = mapped_column(Integer, default=0)
    bytes_reclaimed: Mapped[int] = mapped_column(BigInteger, default=0)
    uploads_purged: Mapped[int] = mapped_column(Integer, default=0)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_gc_runs_started_at", "started_at"),)


class Lease(Base):
    """A claim on background work that one node at a time may do (`gc`): compare-and-set."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(255), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# -- access control ------------------------------------------------------------------------


class User(Base):
    """A person. `password_hash` is argon2id; None for accounts that log in through LDAP."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="local")  # local | ldap
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Group(Base):
    """A group of users, today always an LDAP group, matched by name when a user logs in."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    source: Mapped[str] = mapped_column(String(16), default="ldap")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GroupMember(Base):
    """Who is in a group, as of that user's last login (LDAP is asked at every login)."""

    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_group_members_user_id", "user_id"),)


class Project(Base):
    """A namespace: the first path component of its repositories' names."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    created_by: Mapped[str | None] = mapped_column(NAME, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Storage quota in bytes (None: unlimited), and the bytes the project holds: each blob
    # once (see ProjectBlob) plus its manifests' payloads, kept up to date by every change.
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ProjectMember(Base):
    """A user or a group with a role in a project (exactly one of user_id, group_id is set)."""

    __tablename__ = "project_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), nullable=True
    )
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        UniqueConstraint("project_id", "group_id"),
        Index("ix_project_members_user_id", "user_id"),
        Index("ix_project_members_group_id", "group_id"),
    )


class Robot(Base):
    """A machine account; `permissions` is JSON: [{"project": name or "*", "actions": [...]}].

    Project robots (project_id set) may only name their own project; system robots any.
    The secret is 256 random bits, so a SHA-256 of it is as safe to keep as a slow hash,
    and it lets every request be checked without argon2's cost.
    """

    __tablename__ = "robots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    description: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    permissions: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(NAME, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AccessToken(Base):
    """A personal access token: the user's rights, narrowed to `permissions` (as robots')."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    permissions: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (UniqueConstraint("user_id", "name"),)


class LoginFailure(Base):
    """Recent failed logins of one account or one source address ("user:NAME", "ip:ADDR")."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Secret(Base):
    """A value Cargobay must use later, AES-256-GCM encrypted under the master key `key_id`."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)  # nonce + ciphertext + tag
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- background jobs -----------------------------------------------------------------------


class Job(Base):
    """One unit of background work (`cargobay.jobs`): queued, running on one node, finished.

    `payload` and `result` are JSON text. A running job holds a lease (`lease_until`) that
    its node renews; a job whose lease ran out is queued again, `attempts` bounding how often.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    # What the job is about (`retention-policy:7`), so a thing's runs are listed by index.
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | succeeded | failed
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    run_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(NAME, nullable=True)

    __table_args__ = (
        Index("ix_jobs_status_run_after_id", "status", "run_after", "id"),
        Index("ix_jobs_kind_target_id", "kind", "target", "id"),
    )


class Schedule(Base):
    """A recurring job: when `next_run_at` is due, exactly one node moves it on (compare and
    set) and enqueues a job of `kind` with `payload`."""

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    cron: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    next_run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_schedules_next_run_at", "next_run_at"),)


# -- retention -----------------------------------------------------------------------------


class RetentionPolicy(Base):
    """Which tags and manifests of a project's repositories to keep; the rest is deleted.

    `rules` is JSON (see `cargobay.lifecycle.retention.Rules`); `schedule` a cron expression,
    None for a policy run on demand only.
    """

    __tablename__ = "retention_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(NAME)
    repository: Mapped[str] = mapped_column(String(255), default="**")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule: Mapped[str | None] = mapped_column(String(255), nullable=True)
    rules: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(NAME, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("project_id", "name"),)


# -- labels, search and usage --------------------------------------------------------------


class ArtifactLabel(Base):
    """A key=value label a user put on a manifest."""

    __tablename__ = "artifact_labels"

    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_by: Mapped[str | None] = mapped_column(NAME, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_artifact_labels_key_value", "key", "value"),)


class ArtifactAnnotation(Base):
    """An `org.opencontainers.image.*` annotation of a manifest, copied out of its payload
    at push time so that search is an indexed query."""

    __tablename__ = "artifact_annotations"

    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(512))

    __table_args__ = (Index("ix_artifact_annotations_key_value", "key", "value"),)


class ProjectBlob(Base):
    """A blob counted in a project's usage: `links` repositories of the project link it,
    and its `size` counts once in `projects.used_bytes` while `links` is above zero."""

    __tablename__ = "project_blobs"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(
        ForeignKey("blobs.digest", ondelete="CASCADE"), primary_key=True
    )
    size: Mapped[int] = mapped_column(BigInteger)
    links: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_project_blobs_digest", "digest"),)
