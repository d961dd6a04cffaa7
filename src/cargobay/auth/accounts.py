"""Account operations: users, projects, members, robots and personal tokens.

The management API and the CLI call these; each one checks its input, writes through the
access store, empties the generation cache (so every process sees the change on its next
request: a revoked robot is refused at once) and emits one domain event after the commit.
Who may call what is decided before, by the API's route policy (`api.needs`).

Robot and token secrets are made here, returned once, and only their hash is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from cargobay.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    ROBOT_PREFIX,
    TOKEN_PREFIX,
    hash_password,
    new_secret,
    secret_hash,
    verify_password,
)
from cargobay.auth.policy import Action, Role
from cargobay.auth.principal import ANY_PROJECT, Kind, Principal
from cargobay.events import Dispatcher, Event, EventType
from cargobay.metadata.access_store import (
    AccessStore,
    MemberRecord,
    ProjectDetails,
    RobotRecord,
    TokenRecord,
    UserDetails,
)
from cargobay.metadata.runner import Runner
from cargobay.oci import names
from cargobay.oci.errors import OCIError
from cargobay.registry.cache import GenerationCache

NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
MAX_NAME = 64
MAX_GROUP_NAME = 255
MAX_DESCRIPTION = 1024
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
#: Joins a project robot's project and own name, as Harbor does: `team-a+ci`.
ROBOT_SEPARATOR = "+"
#: Passed for an optional field the caller did not send (None means "clear it").
UNSET: Any = object()


class Invalid(ValueError):
    """Input the operation refuses; `field` names the offending one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NotFound(LookupError):
    """The user, project, member, robot or token named does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class NewRobot:
    robot: RobotRecord
    secret: str  # shown to the caller once; only its hash is stored


@dataclass(frozen=True, slots=True)
class NewToken:
    token: TokenRecord
    secret: str


def check_name(name: str, field: str = "name") -> str:
    """A user, project, robot or token name: lowercase words joined by `.`, `_` or `-`."""
    if not isinstance(name, str) or len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise Invalid(
            field,
            f"{field} must be 1 to {MAX_NAME} lowercase letters and digits, "
            "words joined by '.', '_' or '-'",
        )
    return name


def check_project_name(name: str, field: str = "name") -> str:
    check_name(name, field)
    try:  # it becomes the first component of repository names
        names.check_name(f"{name}/x")
    except OCIError:
        raise Invalid(field, f"{name} cannot begin a repository name") from None
    return name


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise Invalid("role", f"unknown role {role!r}; one of {choices}") from None


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password", f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.startswith((ROBOT_PREFIX, TOKEN_PREFIX)):
        # Logins read these prefixes as robot secrets and tokens: such a password never works.
        raise Invalid("password", f"a password may not begin with {ROBOT_PREFIX} or {TOKEN_PREFIX}")
    return password


def check_email(email: str | None) -> str | None:
    if email is not None and (len(email) > 255 or not _EMAIL.fullmatch(email)):
        raise Invalid("email", "not an email address")
    return email


def check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise Invalid("description", f"at most {MAX_DESCRIPTION} characters")
    return description


def check_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if expires_at <= datetime.now(UTC):
        raise Invalid("expires_at", "the expiry must be in the future")
    return expires_at


def check_permissions(
    permissions: list[dict[str, Any]], *, only_project: str | None, allow_any: bool
) -> list[dict[str, object]]:
    """Grants as stored: [{"project": name or "*", "actions": [...]}], merged per project.

    `only_project`: every grant must name it (a project robot's own project); `allow_any`:
    "*" (every project) is allowed (system robots).
    """
    if not permissions:
        raise Invalid("permissions", "grant at least one action in one project")
    merged: dict[str, set[Action]] = {}
    for permission in permissions:
        project = permission.get("project")
        actions = permission.get("actions")
        if not isinstance(project, str) or not isinstance(actions, list) or not actions:
            raise Invalid("permissions", "each permission needs a project and a list of actions")
        if project == ANY_PROJECT:
            if not allow_any:
                raise Invalid("permissions", "'*' (every project) is for system robots only")
        else:
            check_project_name(project, "permissions.project")
            if only_project is not None and project != only_project:
                raise Invalid("permissions", f"a robot of {only_project} may only act in it")
        for action in actions:
            try:
                merged.setdefault(project, set()).add(Action(action))
            except ValueError:
                choices = ", ".join(a.value for a in Action)
                raise Invalid(
                    "permissions.actions", f"unknown action {action!r}; one of {choices}"
                ) from None
    return [{"project": p, "actions": sorted(a)} for p, a in sorted(merged.items())]


def robot_name(project: str | None, name: str) -> str:
    """The full name of robot `name` of `project` (`team-a+ci`), or of a system robot."""
    if project is not None and name.startswith(project + ROBOT_SEPARATOR):
        name = name[len(project) + 1 :]
    check_name(name)
    return f"{project}{ROBOT_SEPARATOR}{name}" if project is not None else name


class Accounts:
    def __init__(
        self,
        store: AccessStore,
        db: Runner,
        caches: Sequence[GenerationCache[tuple[str, str, str], Any]],
        events: Dispatcher,
    ) -> None:
        self.store = store
        self.db = db
        # The access cache, and the registry's: deleting a project deletes repositories.
        self.caches = tuple(caches)
        self.events = events

    async def _write(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self.db.write(function, *args, **kwargs)
        finally:
            # Even a failed write may have committed part of its work elsewhere (a concurrent
            # writer); emptying the caches is always safe.
            for cache in self.caches:
                cache.invalidate()

    def _emit(self, type_: EventType, actor: Principal | None, **fields: Any) -> None:
        if self.events.has_subscribers:
            self.events.emit(Event(type_, actor=actor.subject if actor else None, **fields))

    # -- users -----------------------------------------------------------------------------

    async def list_users(self, limit: int, after: str | None, q: str | None) -> list[UserDetails]:
        return await self.db.read(self.store.list_users, limit, after, q)

    async def user(self, name: str) -> UserDetails:
        found = await self.db.read(self.store.user_details, name)
        if found is None:
            raise NotFound(f"user {name} does not exist")
        return found

    async def create_user(
        self,
        name: str,
        password: str,
        *,
        email: str | None = None,
        is_admin: bool = False,
        actor: Principal | None = None,
    ) -> UserDetails:
        check_name(name)
        check_password(password)
        check_email(email)
        password_hash = await run_in_threadpool(hash_password, password)
        await self._write(
            self.store.create_user, name, password_hash, email=email, is_admin=is_admin
        )
        self._emit(EventType.USER_CREATED, actor, subject=name)
        return await self.user(name)

    async def update_user(
        self,
        name: str,
        *,
        email: str | None = UNSET,
        is_admin: bool | None = None,
        disabled: bool | None = None,
        password: str | None = None,
        actor: Principal | None = None,
    ) -> UserDetails:
        changes: dict[str, Any] = {}
        if email is not UNSET:
            changes["email"] = check_email(email)
        if is_admin is not None:
            changes["is_admin"] = is_admin
        if disabled is not None:
            changes["disabled"] = disabled
        if password is not None:
            check_password(password)
            changes["password_hash"] = await run_in_threadpool(hash_password, password)
        if not changes:
            return await self.user(name)
        if not await self._write(self.store.update_user, name, changes):
            raise NotFound(f"user {name} does not exist")
        self._emit(EventType.USER_UPDATED, actor, subject=name)
        return await self.user(name)

    async def password_matches(self, name: str, password: str) -> bool:
        user = await self.db.read(self.store.user, name)
        if user is None or user.password_hash is None:
            return False
        return await run_in_threadpool(verify_password, user.password_hash, password)

    async def delete_user(self, name: str, actor: Principal | None = None) -> None:
        if not await self._write(self.store.delete_user, name):
            raise NotFound(f"user {name} does not exist")
        self._emit(EventType.USER_DELETED, actor, subject=name)

    # -- projects --------------------------------------------------------------------------

    async def list_projects(
        self, limit: int, after: str | None, q: str | None, visible: set[str] | None
    ) -> list[ProjectDetails]:
        return await self.db.read(self.store.list_projects, limit, after, q, visible)

    async def project(self, name: str) -> ProjectDetails:
        found = await self.db.read(self.store.project_details, name)
        if found is None:
            raise NotFound(f"project {name} does not exist")
        return found

    async def create_project(
        self,
        name: str,
        *,
        public: bool = False,
        description: str | None = None,
        creator: Principal,
    ) -> ProjectDetails:
        """Create a project; a user who creates one becomes its admin."""
        check_project_name(name)
        check_description(description)
        await self._write(
            self.store.create_project,
            name,
            public=public,
            description=description,
            created_by=creator.subject or None,
            admin_user_id=creator.id if creator.kind is Kind.USER else None,
        )
        self._emit(EventType.PROJECT_CREATED, creator, project=name)
        return await self.project(name)

    async def update_project(
        self,
        name: str,
        *,
        public: bool | None = None,
        description: str | None = UNSET,
        actor: Principal | None = None,
    ) -> ProjectDetails:
        changes: dict[str, Any] = {}
        if public is not None:
            changes["public"] = public
        if description is not UNSET:
            changes["description"] = check_description(description)
        if not changes:
            return await self.project(name)
        if not await self._write(self.store.update_project, name, changes):
            raise NotFound(f"project {name} does not exist")
        self._emit(EventType.PROJECT_UPDATED, actor, project=name)
        return await self.project(name)

    async def delete_project(self, name: str, actor: Principal | None = None) -> list[str]:
        """Delete a project and all its repositories; return the repositories' names."""
        repositories = await self._write(self.store.delete_project, name)
        if repositories is None:
            raise NotFound(f"project {name} does not exist")
        for repository in repositories:
            self._emit(EventType.REPOSITORY_DELETED, actor, repository=repository, project=name)
        self._emit(EventType.PROJECT_DELETED, actor, project=name)
        return repositories

    # -- members ---------------------------------------------------------------------------

    async def list_members(self, project: str, limit: int, after: int | None) -> list[MemberRecord]:
        return await self.db.read(self.store.list_members, project, limit, after)

    async def member(self, project: str, kind: str, name: str) -> MemberRecord:
        found = await self.db.read(self.store.member, project, kind, name)
        if found is None:
            raise NotFound(f"{kind} {name} is not a member of {project}")
        return found

    async def add_member(
        self, project: str, kind: str, name: str, role: str, actor: Principal | None = None
    ) -> MemberRecord:
        _check_member(kind, name)
        check_role(role)
        added = await self._write(self.store.add_member, project, kind, name, role)
        if added is None:
            raise NotFound(f"user {name} does not exist")
        self._emit(EventType.MEMBER_ADDED, actor, project=project, subject=f"{kind}:{name}")
        return added

    async def set_role(
        self, project: str, kind: str, name: str, role: str, actor: Principal | None = None
    ) -> MemberRecord:
        _check_member(kind, name)
        check_role(role)
        if not await self._write(self.store.set_member_role, project, kind, name, role):
            raise NotFound(f"{kind} {name} is not a member of {project}")
        self._emit(EventType.MEMBER_UPDATED, actor, project=project, subject=f"{kind}:{name}")
        return await self.member(project, kind, name)

    async def remove_member(
        self, project: str, kind: str, name: str, actor: Principal | None = None
    ) -> None:
        _check_member(kind, name)
        if not await self._write(self.store.remove_member, project, kind, name):
            raise NotFound(f"{kind} {name} is not a member of {project}")
        self._emit(EventType.MEMBER_REMOVED, actor, project=project, subject=f"{kind}:{name}")

    # -- robots ----------------------------------------------------------------------------

    async def list_robots(
        self, project: str | None, limit: int, after: str | None, q: str | None
    ) -> list[RobotRecord]:
        return await self.db.read(self.store.list_robots, project, limit, after, q)

    async def robot(self, project: str | None, name: str) -> RobotRecord:
        """Robot `name` (short or full) of `project`, or the system robot `name`."""
        try:
            full = robot_name(project, name)
        except Invalid:
            full = None  # no robot can have that name
        found = await self.db.read(self.store.robot, full) if full else None
        if found is None or found.project != project:
            raise NotFound(f"robot {name} does not exist")
        return found

    async def create_robot(
        self,
        project: str | None,
        name: str,
        permissions: list[dict[str, Any]] | None = None,
        *,
        description: str | None = None,
        expires_at: datetime | None = None,
        actor: Principal | None = None,
    ) -> NewRobot:
        """A robot of `project` (granted only in it; all registry actions by default) or,
        with `project` None, a system robot (any project or "*")."""
        full = robot_name(project, name)
        if permissions is None and project is not None:
            permissions = [{"project": project, "actions": _REGISTRY_ACTIONS}]
        grants = check_permissions(
            permissions or [], only_project=project, allow_any=project is None
        )
        check_description(description)
        expires_at = check_expiry(expires_at)
        secret = new_secret(ROBOT_PREFIX)
        robot = await self._write(
            self.store.create_robot,
            full,
            project,
            secret_hash(secret),
            grants,
            description=description,
            expires_at=expires_at,
            created_by=actor.subject if actor else None,
        )
        if robot is None:
            raise NotFound(f"project {project} does not exist")
        self._emit(EventType.ROBOT_CREATED, actor, project=project, subject=full)
        return NewRobot(robot, secret)

    async def update_robot(
        self,
        project: str | None,
        name: str,
        *,
        permissions: list[dict[str, Any]] | None = None,
        description: str | None = UNSET,
        expires_at: datetime | None = UNSET,
        actor: Principal | None = None,
    ) -> RobotRecord:
        robot = await self.robot(project, name)
        changes: dict[str, Any] = {}
        if permissions is not None:
            changes["permissions"] = check_permissions(
                permissions, only_project=project, allow_any=project is None
            )
        if description is not UNSET:
            changes["description"] = check_description(description)
        if expires_at is not UNSET:
            changes["expires_at"] = check_expiry(expires_at)
        if changes:
            await self._write(self.store.update_robot, robot.name, changes)
            self._emit(EventType.ROBOT_UPDATED, actor, project=project, subject=robot.name)
        return await self.robot(project, robot.name)

    async def revoke_robot(
        self, project: str | None, name: str, actor: Principal | None = None
    ) -> RobotRecord:
        robot = await self.robot(project, name)
        await self._write(self.store.update_robot, robot.name, {"revoked": True})
        self._emit(EventType.ROBOT_REVOKED, actor, project=project, subject=robot.name)
        return await self.robot(project, robot.name)

    async def regenerate_robot(
        self, project: str | None, name: str, actor: Principal | None = None
    ) -> NewRobot:
        """A new secret for a robot; the old one stops working at once."""
        robot = await self.robot(project, name)
        secret = new_secret(ROBOT_PREFIX)
        await self._write(self.store.set_robot_secret, robot.name, secret_hash(secret))
        self._emit(EventType.ROBOT_UPDATED, actor, project=project, subject=robot.name)
        return NewRobot(await self.robot(project, robot.name), secret)

    async def delete_robot(
        self, project: str | None, name: str, actor: Principal | None = None
    ) -> None:
        robot = await self.robot(project, name)
        await self._write(self.store.delete_robot, robot.name)
        self._emit(EventType.ROBOT_DELETED, actor, project=project, subject=robot.name)

    # -- personal access tokens ------------------------------------------------------------

    async def list_tokens(
        self, user: Principal, limit: int, after: str | None, q: str | None
    ) -> list[TokenRecord]:
        return await self.db.read(self.store.list_tokens, _owner(user), limit, after, q)

    async def token(self, user: Principal, name: str) -> TokenRecord:
        found = await self.db.read(self.store.token, _owner(user), name)
        if found is None:
            raise NotFound(f"token {name} does not exist")
        return found

    async def create_token(
        self,
        user: Principal,
        name: str,
        permissions: list[dict[str, Any]],
        expires_at: datetime | None = None,
    ) -> NewToken:
        """A token that acts as `user`, narrowed to `permissions` (which must name projects:
        at use time they are intersected with the user's roles there)."""
        check_name(name)
        grants = check_permissions(permissions, only_project=None, allow_any=False)
        expires_at = check_expiry(expires_at)
        secret = new_secret(TOKEN_PREFIX)
        token = await self._write(
            self.store.create_token, _owner(user), name, secret_hash(secret), grants, expires_at
        )
        self._emit(EventType.TOKEN_CREATED, user, subject=f"{user.name}/{name}")
        return NewToken(token, secret)

    async def revoke_token(self, user: Principal, name: str) -> TokenRecord:
        if not await self._write(self.store.revoke_token, _owner(user), name):
            raise NotFound(f"token {name} does not exist")
        self._emit(EventType.TOKEN_REVOKED, user, subject=f"{user.name}/{name}")
        return await self.token(user, name)

    async def delete_token(self, user: Principal, name: str) -> None:
        if not await self._write(self.store.delete_token, _owner(user), name):
            raise NotFound(f"token {name} does not exist")
        self._emit(EventType.TOKEN_DELETED, user, subject=f"{user.name}/{name}")


#: What a project robot may do when created without explicit permissions: push and pull.
_REGISTRY_ACTIONS = [Action.PULL.value, Action.LIST.value, Action.PUSH.value]


def _check_member(kind: str, name: str) -> None:
    if kind == "user":
        check_name(name)
    elif kind == "group":
        # Group names come from LDAP (a cn): any printable text, matched exactly.
        if not name or len(name) > MAX_GROUP_NAME or not name.isprintable():
            raise Invalid("name", f"a group name is 1 to {MAX_GROUP_NAME} printable characters")
    else:
        raise Invalid("kind", "a member is a user or a group")


def _owner(user: Principal) -> int:
    if user.kind is not Kind.USER or user.id is None:
        raise Invalid("user", "only users have personal access tokens")
    return user.id
