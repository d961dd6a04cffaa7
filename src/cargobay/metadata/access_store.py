"""Queries over accounts, projects, memberships, robots and personal tokens.

Like `MetadataStore`: each public method is one transaction, synchronous, run by
`metadata.runner`. Writes share the metadata store's gate (one SQLite writer at a time).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cargobay.metadata.db import WriteGate, Writes
from cargobay.metadata.errors import Conflict
from cargobay.metadata.models import (
    AccessToken,
    Group,
    GroupMember,
    LoginFailure,
    Project,
    ProjectMember,
    Repository,
    Robot,
    User,
    as_utc,
    as_utc_or_none,
    utcnow,
)

#: The project of repositories whose name has no slash (as `auth.principal.DEFAULT_PROJECT`).
_UNNAMESPACED_PROJECT = "library"


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
    project: str | None = None  # and its name


@dataclass(frozen=True, slots=True)
class UserDetails:
    """What the management API shows of a user (never the password hash)."""

    id: int
    name: str
    email: str | None
    source: str
    is_admin: bool
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProjectDetails:
    id: int
    name: str
    public: bool
    description: str | None
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MemberRecord:
    id: int
    kind: str  # user | group
    name: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RobotRecord:
    """A robot as the management API shows it (never its secret's hash)."""

    id: int
    name: str
    project: str | None  # None: a system robot
    description: str | None
    permissions: list[dict[str, object]]
    expires_at: datetime | None
    revoked: bool
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A personal access token as its owner sees it (never its secret's hash)."""

    id: int
    user_id: int
    name: str
    permissions: list[dict[str, object]]
    expires_at: datetime | None
    revoked: bool
    created_at: datetime
    last_used_at: datetime | None


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
_USER_DETAILS = (
    User.id,
    User.name,
    User.email,
    User.source,
    User.is_admin,
    User.disabled,
    User.created_at,
    User.last_login_at,
)
_PROJECT_DETAILS = (
    Project.id,
    Project.name,
    Project.public,
    Project.description,
    Project.created_by,
    Project.created_at,
)
_ROBOT_DETAILS = (
    Robot.id,
    Robot.name,
    Project.name.label("project"),
    Robot.description,
    Robot.permissions,
    Robot.expires_at,
    Robot.revoked,
    Robot.created_by,
    Robot.created_at,
    Robot.last_used_at,
)
_TOKEN_DETAILS = (
    AccessToken.id,
    AccessToken.user_id,
    AccessToken.name,
    AccessToken.permissions,
    AccessToken.expires_at,
    AccessToken.revoked,
    AccessToken.created_at,
    AccessToken.last_used_at,
)
_USER_CHANGES = frozenset({"email", "password_hash", "is_admin", "disabled"})
_PROJECT_CHANGES = frozenset({"public", "description"})
_ROBOT_CHANGES = frozenset({"permissions", "description", "expires_at", "revoked"})


class AccessStore:
    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        self.engine = engine
        self._gate = gate
        self._write = Writes(engine, self._gate)

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

    def list_users(self, limit: int, after: str | None, q: str | None) -> list[UserDetails]:
        """Users in name order after `after`, whose name or email contains `q`."""
        query = select(*_USER_DETAILS).order_by(User.name).limit(limit)
        if after is not None:
            query = query.where(User.name > after)
        if q:
            query = query.where(
                or_(User.name.contains(q, autoescape=True), User.email.contains(q, autoescape=True))
            )
        with self.engine.connect() as connection:
            return [_user_details(row) for row in connection.execute(query)]

    def user_details(self, name: str) -> UserDetails | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(*_USER_DETAILS).where(User.name == name)).first()
        return _user_details(row) if row else None

    def update_user(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Change a user's email, password_hash, is_admin or disabled; False if none such."""
        _check_changes(changes, _USER_CHANGES)
        with self._write() as connection:
            result = connection.execute(update(User).where(User.name == name).values(**changes))
            return result.rowcount > 0

    def delete_user(self, name: str) -> bool:
        """Delete a user with their memberships and personal tokens (by cascade)."""
        with self._write() as connection:
            return connection.execute(delete(User).where(User.name == name)).rowcount > 0

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

    def list_projects(
        self,
        limit: int,
        after: str | None,
        q: str | None,
        names: Collection[str] | None = None,
    ) -> list[ProjectDetails]:
        """Projects in name order after `after`, whose name contains `q`; only `names` if
        given (the projects the caller may see)."""
        if names is not None and not names:
            return []
        query = select(*_PROJECT_DETAILS).order_by(Project.name).limit(limit)
        if after is not None:
            query = query.where(Project.name > after)
        if q:
            query = query.where(Project.name.contains(q, autoescape=True))
        if names is not None:
            query = query.where(Project.name.in_(sorted(names)))
        with self.engine.connect() as connection:
            return [_project_details(row) for row in connection.execute(query)]

    def project_details(self, name: str) -> ProjectDetails | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(*_PROJECT_DETAILS).where(Project.name == name)).first()
        return _project_details(row) if row else None

    def update_project(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Change a project's visibility or description; False if there is no such project."""
        _check_changes(changes, _PROJECT_CHANGES)
        with self._write() as connection:
            result = connection.execute(
                update(Project).where(Project.name == name).values(**changes)
            )
            return result.rowcount > 0

    def delete_project(self, name: str) -> list[str] | None:
        """Delete a project, its members and robots, and every repository in it (their
        manifests, tags, blob links and uploads go by cascade), in one transaction.

        Returns the names of the repositories deleted; None if there was no such project.
        The blobs' bytes stay: other repositories may link them.
        """
        in_project = Repository.name.startswith(f"{name}/", autoescape=True)
        if name == _UNNAMESPACED_PROJECT:
            in_project = or_(in_project, ~Repository.name.contains("/"))
        with self._write() as connection:
            project_id = connection.scalar(select(Project.id).where(Project.name == name))
            if project_id is None:
                return None
            repositories = list(
                connection.scalars(select(Repository.name).where(in_project).order_by("name"))
            )
            connection.execute(delete(Repository).where(in_project))
            connection.execute(delete(Project).where(Project.id == project_id))
            return repositories

    # -- members ---------------------------------------------------------------------------

    def list_members(self, project: str, limit: int, after: int | None) -> list[MemberRecord]:
        """A project's users and groups, in the order they were added (by id, after `after`)."""
        query = _MEMBERS.where(Project.name == project).order_by(ProjectMember.id).limit(limit)
        if after is not None:
            query = query.where(ProjectMember.id > after)
        with self.engine.connect() as connection:
            return [_member(row) for row in connection.execute(query)]

    def member(self, project: str, kind: str, name: str) -> MemberRecord | None:
        query = _MEMBERS.where(Project.name == project, _member_is(kind, name))
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return _member(row) if row else None

    def add_member(self, project: str, kind: str, name: str, role: str) -> MemberRecord | None:
        """Give a user or a group (created on demand: LDAP fills it at its members' next
        login) a role in a project. Conflict if already a member; None if the project or
        the user does not exist."""
        now = utcnow()
        with self._write() as connection:
            project_id = connection.scalar(select(Project.id).where(Project.name == project))
            if project_id is None:
                return None
            values: dict[str, Any] = {"project_id": project_id, "role": role, "created_at": now}
            if kind == "group":
                values["group_id"] = _ensure_group(connection, name)
            else:
                values["user_id"] = connection.scalar(select(User.id).where(User.name == name))
                if values["user_id"] is None:
                    return None
            try:
                with connection.begin_nested():
                    member_id = connection.execute(
                        insert(ProjectMember).values(values).returning(ProjectMember.id)
                    ).scalar_one()
            except IntegrityError:
                raise Conflict(f"{kind} {name} is already a member of {project}") from None
        return MemberRecord(member_id, kind, name, role, now)

    def set_member_role(self, project: str, kind: str, name: str, role: str) -> bool:
        with self._write() as connection:
            member_id = connection.scalar(
                _MEMBERS.with_only_columns(ProjectMember.id).where(
                    Project.name == project, _member_is(kind, name)
                )
            )
            if member_id is None:
                return False
            connection.execute(
                update(ProjectMember).where(ProjectMember.id == member_id).values(role=role)
            )
            return True

    def remove_member(self, project: str, kind: str, name: str) -> bool:
        with self._write() as connection:
            member_id = connection.scalar(
                _MEMBERS.with_only_columns(ProjectMember.id).where(
                    Project.name == project, _member_is(kind, name)
                )
            )
            if member_id is None:
                return False
            connection.execute(delete(ProjectMember).where(ProjectMember.id == member_id))
            return True

    # -- robots and personal tokens --------------------------------------------------------

    def robot_by_secret(self, secret_hash: str) -> CredentialRecord | None:
        query = (
            select(
                Robot.id,
                Robot.name,
                Robot.permissions,
                Robot.expires_at,
                Robot.revoked,
                Robot.project_id,
                Project.name.label("project"),
            )
            .outerjoin(Project, Project.id == Robot.project_id)
            .where(Robot.secret_hash == secret_hash)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return CredentialRecord(
            row.id,
            row.name,
            json.loads(row.permissions),
            as_utc_or_none(row.expires_at),
            row.revoked,
            None,
            row.project_id,
            row.project,
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
            as_utc_or_none(row.expires_at),
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

    def create_robot(
        self,
        name: str,
        project: str | None,
        secret_hash: str,
        permissions: list[dict[str, object]],
        *,
        description: str | None = None,
        expires_at: datetime | None = None,
        created_by: str | None = None,
    ) -> RobotRecord | None:
        """Create a robot of `project` (None: a system robot); None if the project is gone."""
        with self._write() as connection:
            project_id = None
            if project is not None:
                project_id = connection.scalar(select(Project.id).where(Project.name == project))
                if project_id is None:
                    return None
            values = {
                "name": name,
                "project_id": project_id,
                "description": description,
                "secret_hash": secret_hash,
                "permissions": json.dumps(permissions),
                "expires_at": expires_at,
                "revoked": False,
                "created_by": created_by,
                "created_at": utcnow(),
            }
            try:
                with connection.begin_nested():
                    robot_id = connection.execute(
                        insert(Robot).values(values).returning(Robot.id)
                    ).scalar_one()
            except IntegrityError:
                raise Conflict(f"robot {name} already exists") from None
            return _robot(connection.execute(_ROBOTS.where(Robot.id == robot_id)).one())

    def list_robots(
        self, project: str | None, limit: int, after: str | None, q: str | None
    ) -> list[RobotRecord]:
        """The robots of `project` (None: the system robots) in name order after `after`."""
        query = _ROBOTS.order_by(Robot.name).limit(limit)
        if project is None:
            query = query.where(Robot.project_id.is_(None))
        else:
            query = query.where(Project.name == project)
        if after is not None:
            query = query.where(Robot.name > after)
        if q:
            query = query.where(Robot.name.contains(q, autoescape=True))
        with self.engine.connect() as connection:
            return [_robot(row) for row in connection.execute(query)]

    def robot(self, name: str) -> RobotRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(_ROBOTS.where(Robot.name == name)).first()
        return _robot(row) if row else None

    def update_robot(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Change a robot's permissions, description, expiry or revocation."""
        _check_changes(changes, _ROBOT_CHANGES)
        values = dict(changes)
        if "permissions" in values:
            values["permissions"] = json.dumps(values["permissions"])
        with self._write() as connection:
            result = connection.execute(update(Robot).where(Robot.name == name).values(**values))
            return result.rowcount > 0

    def set_robot_secret(self, name: str, secret_hash: str) -> bool:
        """Replace a robot's secret: the old one stops working at once."""
        with self._write() as connection:
            result = connection.execute(
                update(Robot).where(Robot.name == name).values(secret_hash=secret_hash)
            )
            return result.rowcount > 0

    def delete_robot(self, name: str) -> bool:
        with self._write() as connection:
            return connection.execute(delete(Robot).where(Robot.name == name)).rowcount > 0

    def create_token(
        self,
        user_id: int,
        name: str,
        secret_hash: str,
        permissions: list[dict[str, object]],
        expires_at: datetime | None,
    ) -> TokenRecord:
        values = {
            "user_id": user_id,
            "name": name,
            "secret_hash": secret_hash,
            "permissions": json.dumps(permissions),
            "expires_at": expires_at,
            "revoked": False,
            "created_at": utcnow(),
        }
        with self._write() as connection:
            try:
                with connection.begin_nested():
                    token_id = connection.execute(
                        insert(AccessToken).values(values).returning(AccessToken.id)
                    ).scalar_one()
            except IntegrityError:
                raise Conflict(f"a token named {name} exists already") from None
            row = connection.execute(
                select(*_TOKEN_DETAILS).where(AccessToken.id == token_id)
            ).one()
            return _token(row)

    def list_tokens(
        self, user_id: int, limit: int, after: str | None, q: str | None
    ) -> list[TokenRecord]:
        """A user's personal tokens in name order after `after`."""
        query = (
            select(*_TOKEN_DETAILS)
            .where(AccessToken.user_id == user_id)
            .order_by(AccessToken.name)
            .limit(limit)
        )
        if after is not None:
            query = query.where(AccessToken.name > after)
        if q:
            query = query.where(AccessToken.name.contains(q, autoescape=True))
        with self.engine.connect() as connection:
            return [_token(row) for row in connection.execute(query)]

    def token(self, user_id: int, name: str) -> TokenRecord | None:
        query = select(*_TOKEN_DETAILS).where(
            AccessToken.user_id == user_id, AccessToken.name == name
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return _token(row) if row else None

    def revoke_token(self, user_id: int, name: str) -> bool:
        with self._write() as connection:
            result = connection.execute(
                update(AccessToken)
                .where(AccessToken.user_id == user_id, AccessToken.name == name)
                .values(revoked=True)
            )
            return result.rowcount > 0

    def delete_token(self, user_id: int, name: str) -> bool:
        with self._write() as connection:
            result = connection.execute(
                delete(AccessToken).where(AccessToken.user_id == user_id, AccessToken.name == name)
            )
            return result.rowcount > 0

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
        return (row.failures, as_utc_or_none(row.locked_until)) if row else (0, None)

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
            recent = row is not None and as_utc(row.last_failure_at) > now - window
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


_MEMBERS: Select[Any] = (
    select(
        ProjectMember.id,
        ProjectMember.user_id,
        User.name.label("user_name"),
        Group.name.label("group_name"),
        ProjectMember.role,
        ProjectMember.created_at,
    )
    .join(Project, Project.id == ProjectMember.project_id)
    .outerjoin(User, User.id == ProjectMember.user_id)
    .outerjoin(Group, Group.id == ProjectMember.group_id)
)
_ROBOTS: Select[Any] = select(*_ROBOT_DETAILS).outerjoin(Project, Project.id == Robot.project_id)


def _member_is(kind: str, name: str) -> Any:
    return User.name == name if kind == "user" else Group.name == name


def _member(row: Any) -> MemberRecord:
    if row.user_id is not None:
        return MemberRecord(row.id, "user", row.user_name, row.role, as_utc(row.created_at))
    return MemberRecord(row.id, "group", row.group_name, row.role, as_utc(row.created_at))


def _ensure_group(connection: Connection, name: str) -> int:
    group_id = connection.scalar(select(Group.id).where(Group.name == name))
    if group_id is None:
        group_id = connection.execute(
            insert(Group).values(name=name, source="ldap", created_at=utcnow()).returning(Group.id)
        ).scalar_one()
    return group_id


def _user_details(row: Any) -> UserDetails:
    return UserDetails(
        row.id,
        row.name,
        row.email,
        row.source,
        row.is_admin,
        row.disabled,
        as_utc(row.created_at),
        as_utc_or_none(row.last_login_at),
    )


def _project_details(row: Any) -> ProjectDetails:
    return ProjectDetails(
        row.id, row.name, row.public, row.description, row.created_by, as_utc(row.created_at)
    )


def _robot(row: Any) -> RobotRecord:
    return RobotRecord(
        row.id,
        row.name,
        row.project,
        row.description,
        json.loads(row.permissions),
        as_utc_or_none(row.expires_at),
        row.revoked,
        row.created_by,
        as_utc(row.created_at),
        as_utc_or_none(row.last_used_at),
    )


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        row.id,
        row.user_id,
        row.name,
        json.loads(row.permissions),
        as_utc_or_none(row.expires_at),
        row.revoked,
        as_utc(row.created_at),
        as_utc_or_none(row.last_used_at),
    )


def _check_changes(changes: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    if not changes:
        # An UPDATE without values is not SQL; the caller asks for nothing to change.
        raise ValueError("nothing to change")
