"""Queries over accounts, projects, memberships, robots and personal tokens.

Like `MetadataStore`: each public method is one transaction, synchronous, run by
`metadata.runner`. Writes share the metadata store's gate (one SQLite writer at a time).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cargobay.metadata.db import WRITE, WriteGate
from cargobay.metadata.errors import Conflict
from cargobay.metadata.models import (
    AccessToken,
    Group,
    GroupMember,
    LoginFailure,
    Project,
    ProjectMember,
    Robot,
    User,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    email: str | None
    password_hash: str | None
    source: str
    is_admin: bool
    disabled: bool


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: int
    name: str
    public: bool


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """A robot or a personal access token found by its secret's hash."""

    id: int
    name: str
    permissions: list[dict[str, object]]
    expires_at: datetime | None
    revoked: bool
    user_id: int | None  # personal tokens: the owner
    project_id: int | None  # project robots: their project


_USER_COLUMNS = (
    User.id,
    User.name,
    User.email,
    User.password_hash,
    User.source,
    User.is_admin,
    User.disabled,
)
_PROJECT_COLUMNS = (Project.id, Project.name, Project.public)


class AccessStore:
    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._gate = gate

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._gate.held(), self._writer.begin() as connection:
            yield connection

    # -- users -----------------------------------------------------------------------------

    def user(self, name: str) -> UserRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(*_USER_COLUMNS).where(User.name == name)).first()
        return UserRecord(*row) if row else None

    def user_by_id(self, user_id: int) -> UserRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(*_USER_COLUMNS).where(User.id == user_id)).first()
        return UserRecord(*row) if row else None

    def admin_exists(self) -> bool:
        query = select(User.id).where(User.is_admin.is_(True), User.disabled.is_(False)).limit(1)
        with self.engine.connect() as connection:
            return connection.scalar(query) is not None

    def create_user(
        self,
        name: str,
        password_hash: str | None,
        *,
        email: str | None = None,
        is_admin: bool = False,
        source: str = "local",
    ) -> int:
        values = {
            "name": name,
            "email": email,
            "password_hash": password_hash,
            "is_admin": is_admin,
            "source": source,
            "disabled": False,
            "created_at": utcnow(),
        }
        with self._write() as connection:
            try:
                return connection.execute(
                    insert(User).values(values).returning(User.id)
                ).scalar_one()
            except IntegrityError:
                raise Conflict(f"user {name} already exists") from None

    def record_login(self, user_id: int) -> None:
        with self._write() as connection:
            connection.execute(
                update(User).where(User.id == user_id).values(last_login_at=utcnow())
            )

    def memberships(self, user_id: int) -> list[tuple[str, str]]:
        """(project name, role) of the user's own memberships and their groups'.

        A user with several roles in one project gets each; the caller keeps the strongest.
        """
        groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
        query = (
            select(Project.name, ProjectMember.role)
            .join(Project, Project.id == ProjectMember.project_id)
            .where(or_(ProjectMember.user_id == user_id, ProjectMember.group_id.in_(groups)))
        )
        with self.engine.connect() as connection:
            return [(row.name, row.role) for row in connection.execute(query)]

    # -- projects --------------------------------------------------------------------------

    def project(self, name: str) -> ProjectRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(*_PROJECT_COLUMNS).where(Project.name == name)).first()
        return ProjectRecord(*row) if row else None

    def public_projects(self) -> list[str]:
        query = select(Project.name).where(Project.public.is_(True)).order_by(Project.name)
        with self.engine.connect() as connection:
            return list(connection.scalars(query))

    def create_project(
        self,
        name: str,
        *,
        public: bool = False,
        created_by: str | None = None,
        admin_user_id: int | None = None,
        description: str | None = None,
    ) -> ProjectRecord:
        """Create a project; its creator (if given) becomes its admin, in one transaction."""
        now = utcnow()
        values = {
            "name": name,
            "public": public,
            "description": description,
            "created_by": created_by,
            "created_at": now,
        }
        with self._write() as connection:
            try:
                project_id = connection.execute(
                    insert(Project).values(values).returning(Project.id)
                ).scalar_one()
            except IntegrityError:
                raise Conflict(f"project {name} already exists") from None
            if admin_user_id is not None:
                connection.execute(
                    insert(ProjectMember).values(
                        project_id=project_id, user_id=admin_user_id, role="admin", created_at=now
                    )
                )
        return ProjectRecord(project_id, name, public)

    # -- robots and personal tokens --------------------------------------------------------

    def robot_by_secret(self, secret_hash: str) -> CredentialRecord | None:
        query = select(
            Robot.id,
            Robot.name,
            Robot.permissions,
            Robot.expires_at,
            Robot.revoked,
            Robot.project_id,
        ).where(Robot.secret_hash == secret_hash)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return CredentialRecord(
            row.id,
            row.name,
            json.loads(row.permissions),
            row.expires_at,
            row.revoked,
            None,
            row.project_id,
        )

    def token_by_secret(self, secret_hash: str) -> CredentialRecord | None:
        query = select(
            AccessToken.id,
            AccessToken.name,
            AccessToken.permissions,
            AccessToken.expires_at,
            AccessToken.revoked,
            AccessToken.user_id,
        ).where(AccessToken.secret_hash == secret_hash)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return CredentialRecord(
            row.id,
            row.name,
            json.loads(row.permissions),
            row.expires_at,
            row.revoked,
            row.user_id,
            None,
        )

    def robot_by_id(self, robot_id: int) -> CredentialRecord | None:
        query = select(Robot.secret_hash).where(Robot.id == robot_id)
        with self.engine.connect() as connection:
            secret_hash = connection.scalar(query)
        return self.robot_by_secret(secret_hash) if secret_hash else None

    def token_by_id(self, token_id: int) -> CredentialRecord | None:
        query = select(AccessToken.secret_hash).where(AccessToken.id == token_id)
        with self.engine.connect() as connection:
            secret_hash = connection.scalar(query)
        return self.token_by_secret(secret_hash) if secret_hash else None

    def mark_used(self, robot_ids: list[int], token_ids: list[int]) -> None:
        """Record when robots and tokens were last used (batched off the request path)."""
        now = utcnow()
        with self._write() as connection:
            if robot_ids:
                connection.execute(
                    update(Robot).where(Robot.id.in_(robot_ids)).values(last_used_at=now)
                )
            if token_ids:
                connection.execute(
                    update(AccessToken)
                    .where(AccessToken.id.in_(token_ids))
                    .values(last_used_at=now)
                )

    # -- failed logins ---------------------------------------------------------------------

    def login_failure(self, key: str) -> tuple[int, datetime | None]:
        """How many recent failures `key` has, and until when it is locked."""
        query = select(LoginFailure.failures, LoginFailure.locked_until).where(
            LoginFailure.key == key
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return (row.failures, row.locked_until) if row else (0, None)

    def record_login_failure(
        self, key: str, *, window: timedelta, lock_after: int, lockout: timedelta
    ) -> int:
        """Count one more failure of `key` (failures older than `window` are forgotten);
        lock it for `lockout` once it reaches `lock_after`. Returns the new count."""
        now = utcnow()
        with self._write() as connection:
            row = connection.execute(
                select(LoginFailure.failures, LoginFailure.last_failure_at).where(
                    LoginFailure.key == key
                )
            ).first()
            recent = row is not None and _aware(row.last_failure_at) > now - window
            failures = row.failures + 1 if recent else 1
            locked_until = now + lockout if failures >= lock_after else None
            values = {"failures": failures, "last_failure_at": now, "locked_until": locked_until}
            if row is None:
                connection.execute(insert(LoginFailure).values(key=key, **values))
            else:
                connection.execute(
                    update(LoginFailure).where(LoginFailure.key == key).values(**values)
                )
            return failures

    def clear_login_failures(self, key: str) -> None:
        with self._write() as connection:
            connection.execute(delete(LoginFailure).where(LoginFailure.key == key))

    # -- directory (LDAP) users ------------------------------------------------------------

    def sync_ldap_user(self, name: str, email: str | None, groups: Sequence[str]) -> UserRecord:
        """Record a user the directory just let in: create them (source "ldap", no local
        password) or refresh their email, and set their groups to exactly `groups`."""
        now = utcnow()
        with self._write() as connection:
            user_id = connection.scalar(select(User.id).where(User.name == name))
            if user_id is None:
                user_id = connection.execute(
                    insert(User)
                    .values(
                        name=name,
                        email=email,
                        password_hash=None,
                        source="ldap",
                        is_admin=False,
                        disabled=False,
                        created_at=now,
                        last_login_at=now,
                    )
                    .returning(User.id)
                ).scalar_one()
            else:
                connection.execute(
                    update(User).where(User.id == user_id).values(email=email, last_login_at=now)
                )
            group_ids = []
            for group in sorted(set(groups)):
                group_id = connection.scalar(select(Group.id).where(Group.name == group))
                if group_id is None:
                    group_id = connection.execute(
                        insert(Group)
                        .values(name=group, source="ldap", created_at=now)
                        .returning(Group.id)
                    ).scalar_one()
                group_ids.append(group_id)
            connection.execute(delete(GroupMember).where(GroupMember.user_id == user_id))
            if group_ids:
                connection.execute(
                    insert(GroupMember),
                    [{"group_id": group_id, "user_id": user_id} for group_id in group_ids],
                )
            row = connection.execute(select(*_USER_COLUMNS).where(User.id == user_id)).one()
        return UserRecord(*row)


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
