"""Authentication and authorization: who a request comes from, and whether it may go on.

Every route of the application asks `AccessService.authorize` (through the /v2 route guard or
the management API's dependency); the answer comes from `policy.MATRIX` and the caller's
memberships, robots' and tokens' grants, read live so that a revoked robot, a disabled user
or a removed member is refused on the next request, not when a token expires. Those reads go
through the access cache, which any account or project change on any node empties (its
generation is apart from the registry's, so pushes do not empty it).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool

from cargobay.auth.directory import DirectorySource
from cargobay.auth.errors import AuthError
from cargobay.auth.ldap import LdapUnavailable
from cargobay.auth.passwords import (
    ROBOT_PREFIX,
    TOKEN_PREFIX,
    hash_password,
    secret_hash,
    verify_password,
)
from cargobay.auth.policy import Action, Role, scope_action, scope_actions_allowed, stronger
from cargobay.auth.principal import (
    ANONYMOUS,
    ANY_PROJECT,
    Grant,
    Kind,
    Principal,
    Project,
    grants_for,
    project_of,
)
from cargobay.auth.throttle import LoginThrottle
from cargobay.auth.tokens import Claims, TokenInvalid, TokenIssuer
from cargobay.metadata.access_store import AccessStore, CredentialRecord, UserRecord
from cargobay.metadata.errors import Conflict
from cargobay.metadata.runner import Runner
from cargobay.oci import names
from cargobay.oci.errors import OCIError
from cargobay.registry.cache import GenerationCache

if TYPE_CHECKING:
    from cargobay.auth.ldap_directory import LdapDirectory

logger = logging.getLogger("cargobay.auth")
T = TypeVar("T")

# How a token's `cb_cred` claim names the credential it was issued for.
PASSWORD = "password"
# A bearer token speaks for its account on the management API only when it was asked for
# this scope: a token a CI job got to pull one repository must not manage users.
API_SCOPE = ("registry", "api")
DIRECTORY_LOGIN_SECONDS = 60.0
ANONYMOUS_CREDENTIAL = "anonymous"


@dataclass(frozen=True, slots=True)
class ProjectRules:
    auto_create: bool = False  # a push to a missing project creates it
    self_service: bool = False  # any user may create projects (else administrators only)


class AccessService:
    def __init__(
        self,
        store: AccessStore,
        db: Runner,
        cache: GenerationCache[tuple[str, str, str], Any],
        tokens: TokenIssuer,
        throttle: LoginThrottle,
        rules: ProjectRules,
        directories: DirectorySource | None = None,
    ) -> None:
        self.store = store
        self.db = db
        self.cache = cache
        self.tokens = tokens
        self.throttle = throttle
        self.rules = rules
        self.directories = directories
        # Checking an argon2 hash takes tens of milliseconds by design. A client that sends
        # Basic credentials with every request pays it once per process: this remembers the
        # hashes of (user, password, stored hash) that verified, never the password.
        self._verified_passwords: OrderedDict[str, None] = OrderedDict()
        # The same for LDAP binds, for a short while: the directory stays the authority.
        self._directory_logins: OrderedDict[str, tuple[str, float]] = OrderedDict()
        # At most two argon2 checks at a time per process: each holds 19 MiB while it runs,
        # and a burst of logins must not take the memory the registry needs.
        self._verifying = asyncio.Semaphore(2)
        self._used: tuple[set[int], set[int]] = (set(), set())  # robots, tokens to mark

    # -- cached reads ----------------------------------------------------------------------

    async def _cached(self, key: tuple[str, str, str], load: Callable[[], Awaitable[T]]) -> T:
        found = self.cache.get(key)
        if found is None:
            snapshot = self.cache.snapshot()
            found = await load()
            if found is not None:
                self.cache.put(key, found, snapshot)
        return found

    async def project(self, name: str) -> Project | None:
        async def load() -> Project | None:
            record = await self.db.read(self.store.project, name)
            return Project(record.id, record.name, record.public) if record else None

        return await self._cached(("project", name, ""), load)

    async def _user(self, name: str) -> UserRecord | None:
        return await self._cached(("user", name, ""), lambda: self.db.read(self.store.user, name))

    # -- authentication --------------------------------------------------------------------

    async def basic(self, username: str, password: str, address: str | None) -> Principal:
        """The principal that a username and a password, robot secret or token stand for."""
        if password.startswith(ROBOT_PREFIX):
            return await self._robot_login(username, password)
        if password.startswith(TOKEN_PREFIX):
            return await self._token_login(username, password)
        # Checked here, not only before verifying: a password verified earlier is remembered
        # and skips verification, and the lockout must hold for it too. Otherwise, while an
        # account is locked, every wrong guess gets a 429 and the right one a 200.
        await self.throttle.check(username, address)
        return await self._password_login(username, password, address)

    async def _password_login(self, username: str, password: str, address: str | None) -> Principal:
        # Local accounts first, so a local administrator can log in while LDAP is down.
        user = await self._user(username)
        if user is not None and user.password_hash is not None:
            return await self._local_login(user, password, address)
        directory = await self.directories.directory() if self.directories else None
        if directory is not None and (user is None or user.source == "ldap"):
            return await self._directory_login(directory, username, password, address)
        await self.throttle.failed(username, address, "unknown user")
        raise _bad_credentials()

    async def _local_login(self, user: UserRecord, password: str, address: str | None) -> Principal:
        username = user.name
        assert user.password_hash is not None
        key = hashlib.sha256(f"{username}\0{password}\0{user.password_hash}".encode()).hexdigest()
        if key not in self._verified_passwords:
            async with self._verifying:
                verified = await run_in_threadpool(verify_password, user.password_hash, password)
            if not verified:
                await self.throttle.failed(username, address, "wrong password")
                raise _bad_credentials()
            await self.throttle.succeeded(username)
            self._verified_passwords[key] = None
            if len(self._verified_passwords) > 1_000:
                self._verified_passwords.popitem(last=False)
        if user.disabled:
            logger.warning("login refused for disabled user %r", username)
            raise _bad_credentials()
        return await self._user_principal(user)

    async def _directory_login(
        self, directory: LdapDirectory, username: str, password: str, address: str | None
    ) -> Principal:
        """Log in through LDAP; the user and their groups are recorded at each bind, so
        group memberships follow the directory."""
        key = hashlib.sha256(f"ldap\0{username}\0{password}".encode()).hexdigest()
        remembered = self._directory_logins.get(key)
        if remembered is not None and remembered[1] > time.monotonic():
            user = await self._user(remembered[0])
        else:
            try:
                identity = await run_in_threadpool(directory.authenticate, username, password)
            except LdapUnavailable as exc:
                logger.error("LDAP is unavailable; login of %r refused: %s", username, exc)
                raise AuthError("UNAUTHORIZED", "the directory is unavailable") from None
            if identity is None:
                await self.throttle.failed(username, address, "refused by LDAP")
                raise _bad_credentials()
            await self.throttle.succeeded(username)
            user = await self.db.write(
                self.store.sync_ldap_user, identity.username, identity.email, identity.groups
            )
            self.cache.invalidate()
            self._directory_logins[key] = (user.name, time.monotonic() + DIRECTORY_LOGIN_SECONDS)
            if len(self._directory_logins) > 1_000:
                self._directory_logins.popitem(last=False)
        if user is None or user.disabled:
            logger.warning("login refused for disabled user %r", username)
            raise _bad_credentials()
        return await self._user_principal(user)

    async def _robot_login(self, username: str, secret: str) -> Principal:
        robot = await self._credential("robot", secret_hash(secret), self.store.robot_by_secret)
        if robot is None or robot.name != _robot_name(username):
            logger.warning("failed robot login as %r", username)
            raise _bad_credentials()
        return self._robot_principal(robot)

    async def _token_login(self, username: str, secret: str) -> Principal:
        token = await self._credential("token", secret_hash(secret), self.store.token_by_secret)
        user = await self._token_owner(token)
        if user is None or user.name != username:
            logger.warning("failed token login as %r", username)
            raise _bad_credentials()
        assert token is not None
        return await self._user_principal(user, token)

    async def _credential(
        self, kind: str, key: str | int, load: Callable[[Any], CredentialRecord | None]
    ) -> CredentialRecord | None:
        """A robot or personal token (`kind`), by its secret's hash or its id, if still valid;
        its use is noted for `flush_usage`."""
        by = "id" if isinstance(key, int) else "secret"
        record = await self._cached((f"{kind}-{by}", str(key), ""), lambda: self.db.read(load, key))
        if record is None or record.revoked or _expired(record.expires_at):
            return None
        self._used[0 if kind == "robot" else 1].add(record.id)
        return record

    async def _token_owner(self, token: CredentialRecord | None) -> UserRecord | None:
        if token is None or token.user_id is None:
            return None
        user = await self._cached(
            ("user-id", str(token.user_id), ""),
            lambda: self.db.read(self.store.user_by_id, token.user_id),
        )
        return None if user is None or user.disabled else user

    async def _user_principal(
        self, user: UserRecord, token: CredentialRecord | None = None
    ) -> Principal:
        """The user (narrowed by `token`) with their roles; built once per cache generation,
        since every request of theirs asks for it."""

        async def build() -> Principal:
            rows = await self.db.read(self.store.memberships, user.id)
            roles: dict[str, Role] = {}
            for project, role in rows:
                strongest = stronger(roles.get(project), Role(role))
                assert strongest is not None
                roles[project] = strongest
            return Principal(
                Kind.USER,
                user.name,
                user.id,
                user.is_admin,
                roles,
                _grants(token.permissions) if token else None,
                token.id if token else None,
            )

        key = ("principal", str(user.id), str(token.id) if token else "")
        return await self._cached(key, build)

    @staticmethod
    def _robot_principal(robot: CredentialRecord) -> Principal:
        grants = _grants(robot.permissions)
        if robot.project_id is not None:
            # A project robot acts in its own project only, whatever its stored grants name:
            # the API refuses others, and this holds for rows written any other way too.
            own = robot.project or ""
            grants = tuple(
                Grant(own, grant.actions) for grant in grants if grant.project in (own, ANY_PROJECT)
            )
        return Principal(Kind.ROBOT, robot.name, robot.id, grants=grants)

    async def bearer(self, token: str) -> tuple[Principal, Claims]:
        """The principal a token of ours was issued to, as that principal stands now."""
        try:
            claims = self.tokens.verify(token)
        except TokenInvalid as exc:
            raise AuthError("UNAUTHORIZED", str(exc), error="invalid_token") from None
        return await self.principal_for(claims.subject, claims.credential), claims

    async def principal_for(self, subject: str, credential: str) -> Principal:
        """Rebuild the principal a token names; refuse it if the account was disabled,
        the robot or token revoked or expired since the token was issued."""
        kind, _, ident = credential.partition(":")
        principal: Principal | None = None
        if kind == ANONYMOUS_CREDENTIAL:
            principal = ANONYMOUS
        elif kind == PASSWORD:
            user = await self._user(subject)
            if user is not None and not user.disabled:
                principal = await self._user_principal(user)
        elif kind == "token" and ident.isdigit():
            token = await self._credential("token", int(ident), self.store.token_by_id)
            user = await self._token_owner(token)
            if user is not None and user.name == subject and token is not None:
                principal = await self._user_principal(user, token)
        elif kind == "robot" and ident.isdigit():
            robot = await self._credential("robot", int(ident), self.store.robot_by_id)
            if robot is not None and f"robot:{robot.name}" == subject:
                principal = self._robot_principal(robot)
        if principal is None:
            raise AuthError(
                "UNAUTHORIZED", "the token's account is disabled or revoked", error="invalid_token"
            )
        return principal

    @staticmethod
    def credential_of(principal: Principal) -> str:
        """What a token issued to `principal` records of how it authenticated."""
        if principal.kind is Kind.ANONYMOUS:
            return ANONYMOUS_CREDENTIAL
        if principal.kind is Kind.ROBOT:
            return f"robot:{principal.id}"
        if principal.token_id is not None:
            return f"token:{principal.token_id}"
        return PASSWORD

    # -- authorization ---------------------------------------------------------------------

    async def authorize(
        self, principal: Principal, repository: str, action: Action, claims: Claims | None
    ) -> None:
        """Let the request on, or raise AuthError: UNAUTHORIZED (log in), DENIED, NAME_UNKNOWN.

        `claims` is the bearer token the request came with: it must grant the access too.
        """
        name = project_of(repository)
        project = await self.project(name)
        if project is None and action is Action.PUSH:
            project, principal = await self._auto_create(principal, name, repository, claims)
        if action not in principal.allowed(project):
            if not principal.authenticated:
                raise AuthError(
                    "UNAUTHORIZED", "authentication required", scope=_scope(repository, action)
                )
            raise AuthError("DENIED", "requested access to the resource is denied")
        if claims is not None and not _token_grants(claims, repository, action):
            raise AuthError(
                "UNAUTHORIZED",
                "the token does not grant this access",
                scope=_scope(repository, action),
                error="insufficient_scope",
            )

    def _may_create_projects(self, principal: Principal, name: str) -> bool:
        if principal.kind is not Kind.USER:
            return False
        if principal.grants is not None and Action.PUSH not in grants_for(principal.grants, name):
            return False  # a personal token must grant the push that would create it
        return principal.is_admin or self.rules.self_service

    async def _auto_create(
        self, principal: Principal, name: str, repository: str, claims: Claims | None
    ) -> tuple[Project | None, Principal]:
        """Create a missing project on push where the rules allow it; the pusher is its admin.

        Only for a push the credential itself allows: a personal token narrowed to pull, or a
        bearer token without push, must not leave a project behind when its push is refused.
        """
        may_create = self._may_create_projects(principal, name)
        if not (self.rules.auto_create and may_create):
            if principal.is_admin and may_create:
                raise AuthError(
                    "NAME_UNKNOWN",
                    f"project {name} does not exist; create it first "
                    f"(cargobay project create {name})",
                )
            return None, principal
        if claims is not None and not _token_grants(claims, repository, Action.PUSH):
            return None, principal  # refused below, with nothing created
        try:
            await self.db.write(
                self.store.create_project,
                name,
                created_by=principal.name,
                admin_user_id=principal.id,
            )
            logger.info("project %s created by %s on first push", name, principal.name)
        except Conflict:
            pass  # another request created it first
        self.cache.invalidate()
        # The principal in hand was read before the project existed: reread its roles.
        user = await self._user(principal.name)
        if user is not None and principal.token_id is not None:
            token = await self._credential("token", principal.token_id, self.store.token_by_id)
            principal = await self._user_principal(user, token)
        elif user is not None:
            principal = await self._user_principal(user)
        return await self.project(name), principal

    async def listable_projects(self, principal: Principal) -> set[str] | None:
        """Projects whose repositories the caller may list; None: every project."""
        wildcard = any(
            g.project == ANY_PROJECT and Action.LIST in g.actions for g in principal.grants or ()
        )
        if principal.kind is Kind.ROBOT:
            everything = wildcard
        else:
            everything = principal.is_admin and (principal.grants is None or wildcard)
        if everything:
            return None
        public = await self._cached(
            ("public-projects", "", ""), lambda: self.db.read(self.store.public_projects)
        )
        visible = set(public)
        candidates = set(principal.roles) | {g.project for g in principal.grants or ()}
        for name in candidates - {ANY_PROJECT}:
            if principal.can(await self.project(name), Action.LIST):
                visible.add(name)
        return visible

    # -- tokens ----------------------------------------------------------------------------

    async def grant(self, principal: Principal, scopes: list[str]) -> list[dict[str, Any]]:
        """The `access` claim for a token: each scope asked, narrowed to what is allowed."""
        granted: dict[tuple[str, str], set[str]] = {}
        for scope in scopes:
            parsed = _parse_scope(scope)
            if parsed is None:
                continue
            kind, name, wanted = parsed
            api = (kind, name) == API_SCOPE and principal.authenticated
            if api or (kind, name) == ("registry", "catalog"):
                allowed = {"*"}
            elif kind == "repository":
                allowed = await self._scope_actions(principal, name)
                if "*" in wanted:
                    wanted = wanted | allowed
            else:
                continue
            actions = wanted & allowed if "*" not in allowed else wanted
            if actions:
                granted.setdefault((kind, name), set()).update(actions)
        return [
            {"type": kind, "name": name, "actions": sorted(actions - {"*"} or actions)}
            for (kind, name), actions in granted.items()
        ]

    async def _scope_actions(self, principal: Principal, repository: str) -> set[str]:
        try:
            names.check_name(repository)
        except OCIError:
            return set()
        name = project_of(repository)
        project = await self.project(name)
        allowed = scope_actions_allowed(principal.allowed(project))
        creatable = self.rules.auto_create and self._may_create_projects(principal, name)
        if project is None and creatable:
            allowed |= {"pull", "push"}
        return allowed

    def issue(self, principal: Principal, access: list[dict[str, Any]]) -> tuple[str, int, int]:
        return self.tokens.issue(principal.subject, self.credential_of(principal), access)

    def issue_refresh(self, principal: Principal, ttl_seconds: int) -> str:
        token, _, _ = self.tokens.issue(
            principal.subject,
            self.credential_of(principal),
            [],
            ttl_seconds=ttl_seconds,
            token_type="refresh",
        )
        return token

    async def refresh(self, token: str) -> Principal:
        try:
            claims = self.tokens.verify(token, token_type="refresh")
        except TokenInvalid as exc:
            raise AuthError("UNAUTHORIZED", f"refresh token refused: {exc}") from None
        principal = await self.principal_for(claims.subject, claims.credential)
        if not principal.authenticated:
            raise AuthError("UNAUTHORIZED", "refresh token refused")
        return principal

    # -- accounts --------------------------------------------------------------------------

    async def ensure_admin(self, username: str, password: str) -> bool:
        """Create the first administrator unless one exists; True if it was created."""
        if await self.db.read(self.store.admin_exists):
            return False
        try:
            await self.db.write(
                self.store.create_user, username, hash_password(password), is_admin=True
            )
        except Conflict:
            return False  # another worker created it first
        self.cache.invalidate()
        logger.info("created administrator %r from CARGOBAY_ADMIN_PASSWORD", username)
        return True

    async def flush_usage(self) -> None:
        """Write when robots and tokens were last used (called periodically, off requests)."""
        robots, tokens = self._used
        if not robots and not tokens:
            return
        self._used = (set(), set())
        await self.db.write(self.store.mark_used, sorted(robots), sorted(tokens))


def _bad_credentials() -> AuthError:
    return AuthError("UNAUTHORIZED", "invalid username or password")


def _robot_name(username: str) -> str:
    # Harbor's clients log robots in as "robot$name"; accept that spelling too.
    return username.removeprefix("robot$").removeprefix("robot:")


def _expired(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at <= datetime.now(UTC)


def _grants(permissions: list[dict[str, object]]) -> tuple[Grant, ...]:
    return tuple(Grant.from_json(p) for p in permissions)


def _scope(repository: str, action: Action) -> str:
    needed = scope_action(action) or "pull"
    actions = "pull,push" if needed == "push" else needed
    return f"repository:{repository}:{actions}"


def grants_api(claims: Claims) -> bool:
    """Whether a token was issued for the management API (scope `registry:api:*`)."""
    return any((entry.get("type"), entry.get("name")) == API_SCOPE for entry in claims.access)


def _token_grants(claims: Claims, repository: str, action: Action) -> bool:
    needed = scope_action(action)
    for entry in claims.access:
        if entry.get("type") == "repository" and entry.get("name") == repository:
            actions = entry.get("actions") or []
            if needed in actions or "*" in actions:
                return True
    return False


def _parse_scope(scope: str) -> tuple[str, str, set[str]] | None:
    """`repository:team/app:pull,push` (or `repository(plugin):...`) -> parts; None if malformed."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    kind = kind.split("(", 1)[0]
    return kind, name, {a for a in actions.split(",") if a}
