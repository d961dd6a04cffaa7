"""Every management API route answers each kind of caller as its declared need says.

The routes come from the API's own route table (`api.needs.routes`), what each one needs
from its guard (`need_of`); what a caller may do in a project comes from `Principal.allowed`
(hence `policy.MATRIX`), for a principal built here from how the caller was set up. The
rules themselves are docs/api.md's, read as a spec: nothing below restates the matrix, so a
change to the policy changes the expectations and a route that declares nothing fails.

For a need that is met the route answers its success status; otherwise, as api/needs.py
documents: 401 with a challenge (no credentials), 404 (a project the caller may do nothing
in: its name does not leak), or 403 — always as an `application/problem+json` problem.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount, compile_path
from starlette.testclient import TestClient

from auth.apps import make_settings, running
from auth.population import Account, Population
from cargobay.api.needs import Need, Rule, need_of, routes
from cargobay.auth.policy import Action, Role
from cargobay.auth.principal import ANONYMOUS, Grant, Kind, Principal, Project
from cargobay.config import Settings
from cargobay.metadata.access_store import ProjectRecord
from cargobay.metadata.retention_store import PolicyValues
from conformance.helpers import check_each, describe, push_image
from liveserver import ADMIN

API = "/api/v1"

# -- the route table ---------------------------------------------------------------------------


def api_of(client: TestClient) -> FastAPI:
    """The management API, as the application mounts it."""
    mounts = [r for r in client.app.routes if isinstance(r, Mount) and r.path == API]  # type: ignore[attr-defined]
    assert len(mounts) == 1, "the management API is mounted once, at /api/v1"
    api = mounts[0].app
    assert isinstance(api, FastAPI)
    return api


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the template, under /api/v1
    need: Need | None
    pattern: re.Pattern[str]


def route_table(api: FastAPI) -> list[Route]:
    """Every (method, path) of the API, in the order the router tries them."""
    table = []
    for route in routes(api.router):
        assert route.path is not None
        pattern, _, _ = compile_path(route.path)
        for method in sorted(route.methods or ()):
            table.append(Route(method, route.path, need_of(route), pattern))
    return table


def dispatch(table: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route that serves `method path` (under /api/v1), and its path parameters."""
    for route in table:
        match = route.pattern.match(path)
        if match and route.method == method:
            return route, match.groupdict()
    raise AssertionError(f"no route of the API serves {method} {path}")


# -- who asks ----------------------------------------------------------------------------------

PUBLIC, PRIVATE, OTHER = "pub", "priv", "other"
VISIBILITIES = {"public": PUBLIC, "private": PRIVATE}
PULL_ONLY = frozenset({Action.PULL})
PUSHER = frozenset({Action.PULL, Action.LIST, Action.PUSH})


@dataclass(frozen=True)
class Caller:
    """How one kind of caller is set up: the same role (or robot, or token) in every project
    the cases act in, so that pub and priv differ only by their visibility."""

    name: str
    role: Role | None = None
    admin: bool = False  # a system administrator
    robot: frozenset[Action] | None = None  # a robot of the project, granted these
    elsewhere: bool = False  # the robot is the other project's, not the project's
    other: Role | None = None  # a role in the other project only
    token: frozenset[Action] | None = None  # logs in with a personal token granted these

    @property
    def anonymous(self) -> bool:
        return self.name == "anonymous"

    @property
    def person(self) -> bool:
        """Logs in as a user with that user's own password (docs/api.md: "a user's own
        login"), not as a robot, not with a personal token."""
        return not self.anonymous and self.robot is None and self.token is None

    def home(self, project: str) -> str:
        """The project this caller's robot belongs to, when it calls into `project`."""
        return OTHER if self.elsewhere else project

    def principal(self, name: str, project: str) -> Principal:
        """What this caller, logged in as `name`, is for the policy in `project`."""
        if self.anonymous:
            return ANONYMOUS
        if self.robot is not None:
            return Principal(Kind.ROBOT, name, grants=(Grant(self.home(project), self.robot),))
        roles = {project: self.role} if self.role else {}
        if self.other:
            roles[OTHER] = self.other
        grants = (Grant(project, self.token),) if self.token is not None else None
        return Principal(Kind.USER, name, is_admin=self.admin, roles=roles, grants=grants)


CALLERS = {
    caller.name: caller
    for caller in [
        Caller("anonymous"),
        Caller("limited-guest", role=Role.LIMITED_GUEST),
        Caller("guest", role=Role.GUEST),
        Caller("developer", role=Role.DEVELOPER),
        Caller("maintainer", role=Role.MAINTAINER),
        Caller("project-admin", role=Role.ADMIN),
        Caller("admin", admin=True),  # the system administrator the application bootstraps
        Caller("robot-push", robot=PUSHER),
        Caller("robot-pull", robot=PULL_ONLY),
        # The other project's robot: its grants name the project it belongs to, never pub
        # or priv, whatever path it calls.
        Caller("other-robot", robot=PUSHER, elsewhere=True),
        Caller("other-member", other=Role.DEVELOPER),
        # The project's admin, through a token that narrows it to pull: the token, not the
        # role, must decide, and a token is never the person.
        Caller("token-pull", role=Role.ADMIN, token=PULL_ONLY),
    ]
}


@dataclass(frozen=True)
class Identity:
    """Who a caller logs in as for one case: its name and Basic credentials."""

    name: str  # "" for the anonymous caller
    auth: tuple[str, str] | None
    account: Account | None = None  # the user behind it, if any


def _unique(stem: str) -> str:
    return f"{stem}-{secrets.token_hex(4)}"


@dataclass
class World:
    """Projects pub (public), priv (private) and other, one image in each, and every caller
    set up in pub and priv. Cases that destroy something make their own object to destroy."""

    client: TestClient
    people: Population
    projects: dict[str, ProjectRecord]
    images: dict[str, tuple[str, str]]  # project -> (repository, manifest digest)
    admin: Account
    bystander: Account  # a user no case logs in as
    system_robot: str
    accounts: dict[str, Account] = field(default_factory=dict)
    robots: dict[tuple[str, str], Identity] = field(default_factory=dict)
    tokens: dict[tuple[str, str], Identity] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.client.app.state.settings  # type: ignore[attr-defined,no-any-return]

    def project(self, name: str) -> Project:
        record = self.projects[name]
        return Project(record.id, record.name, record.public)

    def _join(self, account: Account, caller: Caller, project: ProjectRecord) -> None:
        if caller.role is not None:
            self.people.member(project, caller.role, user=account)

    def _account(self, caller: Caller, *, fresh: bool) -> Account:
        if not fresh:
            return self.admin if caller.admin else self.accounts[caller.name]
        account = self.people.user(_unique(caller.name), admin=caller.admin)
        for name in (PUBLIC, PRIVATE):
            self._join(account, caller, self.projects[name])
        if caller.other is not None:
            self.people.member(self.projects[OTHER], caller.other, user=account)
        return account

    def identity(self, caller: Caller, project: str, *, fresh: bool = False) -> Identity:
        """How `caller` logs in for a case in `project`; `fresh`: as a new account, robot or
        token set up the same way (for a case that changes the caller itself)."""
        if caller.anonymous:
            return Identity("", None)
        if caller.robot is not None:
            key = (caller.name, project)
            if not fresh and key in self.robots:
                return self.robots[key]
            home = self.projects[caller.home(project)]
            name = f"{home.name}+{_unique(caller.name) if fresh else caller.name}-{project}"
            robot = self.people.robot(name, [Grant(home.name, caller.robot)], project=home)
            identity = Identity(name, robot.basic)
            if not fresh:
                self.robots[key] = identity
            return identity
        account = self._account(caller, fresh=fresh)
        if caller.token is None:
            return Identity(account.name, account.basic, account)
        key = (account.name, project)
        if key not in self.tokens:
            token = self.people.token(account, f"pull-{project}", [Grant(project, caller.token)])
            self.tokens[key] = Identity(account.name, token.basic, account)
        return self.tokens[key]

    def scratch_project(self, public: bool) -> str:
        """A new project with the same members as pub and priv (robots and tokens come with
        `identity`), for a case that deletes its project."""
        record = self.people.project(_unique("scratch"), public=public)
        self.projects[record.name] = record
        for caller in CALLERS.values():
            if caller.name in self.accounts:
                self._join(self.accounts[caller.name], caller, record)
        return record.name

    def fresh_user(self) -> Account:
        return self.people.user(_unique("user"))

    def fresh_member(self, project: str) -> str:
        account = self.fresh_user()
        self.people.member(self.projects[project], Role.GUEST, user=account)
        return account.name

    def fresh_robot(self, project: str | None) -> str:
        """A robot of `project`, or a system robot (None), for a case that changes it."""
        if project is None:
            name = _unique("system")
            self.people.robot(name, [Grant("*", PULL_ONLY)])
        else:
            name = f"{project}+{_unique('ci')}"
            self.people.robot(name, [Grant(project, PULL_ONLY)], project=self.projects[project])
        return name

    def fresh_token(self, identity: Identity) -> str:
        """A token of the user the caller logs in as (any name will do for anyone else:
        they are refused before it is looked up)."""
        name = _unique("token")
        if identity.account is not None:
            self.people.token(identity.account, name, [Grant(PUBLIC, PULL_ONLY)])
        return name

    def fresh_policy(self, project: str) -> int:
        """A retention policy of `project` about a repository that does not exist."""
        retention = self.client.app.state.retention  # type: ignore[attr-defined]
        values = PolicyValues(_unique("policy"), "no-such-repository", True, None, {})
        policy = retention.store.create(project, values, ADMIN[0], lambda cron: None)
        return int(policy.id)

    def job(self) -> int:
        jobs = self.client.app.state.jobs  # type: ignore[attr-defined]
        return int(jobs.queue.store.record_finished("test", {}, {}, "node"))

    def fresh_image(self, project: str, repository: str | None = None) -> tuple[str, str]:
        repository = repository or f"{project}/{_unique('scratch')}"
        manifest = push_image(self.client, repository)
        return repository, manifest.digest


def build_world(client: TestClient) -> World:
    people = Population(client.app)  # type: ignore[arg-type]
    projects = {
        PUBLIC: people.project(PUBLIC, public=True),
        PRIVATE: people.project(PRIVATE),
        OTHER: people.project(OTHER),
    }
    admin = people.store.user(ADMIN[0])
    assert admin is not None, "the application bootstraps its administrator"
    world = World(
        client,
        people,
        projects,
        images={},
        admin=Account(admin.id, ADMIN[0], ADMIN[1]),
        bystander=people.user("bystander"),
        system_robot="system-reader",
    )
    people.robot(world.system_robot, [Grant("*", PULL_ONLY)])
    world.images = {name: world.fresh_image(name, f"{name}/app") for name in (PUBLIC, PRIVATE)}
    for caller in CALLERS.values():
        if caller.role is not None or caller.other is not None:
            account = people.user(caller.name)
            world.accounts[caller.name] = account
            for name in (PUBLIC, PRIVATE):
                world._join(account, caller, projects[name])
            if caller.other is not None:
                people.member(projects[OTHER], caller.other, user=account)
        for name in (PUBLIC, PRIVATE):
            world.identity(caller, name)  # the robots and tokens, which cases look up
    return world


# -- what is asked -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """One case's setting: the world, who asks, logged in how, about which project."""

    world: World
    caller: Caller
    identity: Identity
    project: str


@dataclass(frozen=True)
class Call:
    """A concrete request (path under /api/v1), and the status it gets when allowed."""

    method: str
    path: str
    ok: int
    json: Any = None


Builder = Callable[[Ask], Call]


@dataclass(frozen=True)
class Case:
    route: tuple[str, str]  # (method, path template) it exercises
    build: Builder
    changes_caller: bool = False  # acts on the caller's own account: log in as a fresh one
    deletes_project: bool = False  # acts on a project of its own, made like pub or priv
    # For system administrators only: everyone else is refused (403) alike whether the
    # project exists or not, so refusing tells nothing about it.
    system: bool = False


def _get(path: str) -> Builder:
    """A read of a path that depends on the project only (`{p}`: its name)."""
    return lambda a: Call("GET", path.format(p=a.project), 200)


def _repository(a: Ask) -> str:
    return a.world.images[a.project][0]


def _artifact(a: Ask) -> str:
    repository, digest = a.world.images[a.project]
    return f"{repository}/artifacts/{digest}"


def _self(a: Ask) -> str:
    # Anonymous callers are no one: name someone who exists, they are refused before.
    return a.identity.name or a.world.bystander.name


def _own_password(a: Ask) -> Call:
    current = a.identity.auth[1] if a.identity.auth else ""
    body = {"password": "a-brand-new-password", "current_password": current}
    return Call("PUT", f"/users/{_self(a)}/password", 204, body)


def _delete_artifact(a: Ask) -> Call:
    repository, digest = a.world.fresh_image(a.project)
    path = f"/projects/{a.project}/repositories/{repository}/artifacts/{digest}"
    return Call("DELETE", path, 204)


def _delete_repository(a: Ask) -> Call:
    repository, _ = a.world.fresh_image(a.project)
    return Call("DELETE", f"/projects/{a.project}/repositories/{repository}", 204)


def _members(a: Ask) -> str:
    return f"/projects/{a.project}/members"


def _robots(a: Ask) -> str:
    return f"/projects/{a.project}/robots"


def _project_robot(a: Ask) -> str:
    return f"{_robots(a)}/{a.world.fresh_robot(a.project)}"


def _system_robot(a: Ask) -> str:
    return f"/robots/{a.world.fresh_robot(None)}"


def _new_robot(a: Ask) -> dict[str, Any]:
    return {"name": _unique("ci")}


def _pull_in(project: str) -> list[dict[str, Any]]:
    return [{"project": project, "actions": ["pull"]}]


def _rules(a: Ask) -> str:
    return f"/projects/{a.project}/immutability-rules"


def _fresh_rule(a: Ask) -> str:
    """A new immutability rule of the project (made by the administrator), its path."""
    body = {"kind": "glob", "pattern": _unique("never")}
    response = a.world.client.post(API + _rules(a), json=body, auth=a.world.admin.basic)
    assert response.status_code == 201, describe(response)
    return f"{_rules(a)}/{response.json()['id']}"


def _versioned(a: Ask) -> str:
    """The project's repository with a semver tag, pushed once per world."""
    repository = f"{a.project}/versioned"
    if (id(a.world), a.project) not in _VERSIONED:
        push_image(a.world.client, repository, "1.0.0")
        _VERSIONED.add((id(a.world), a.project))
    return f"/projects/{a.project}/repositories/{repository}"


_VERSIONED: set[tuple[int, str]] = set()


def _promote(a: Ask) -> Call:
    """Promote the project's image to its `prod` stage: the guard asks pull in the project,
    `promote()` then asks promote in the target (the same project) and answers 403."""
    principal = a.caller.principal(a.identity.name, a.project)
    ok = 200 if Action.PROMOTE in principal.allowed(a.world.project(a.project)) else 403
    path = f"/projects/{a.project}/repositories/{_artifact(a)}/promote"
    return Call("POST", path, ok, {"stage": "prod"})


P = "/projects/{project}"
R = f"{P}/repositories/{{repository:path}}"
RP = f"{P}/retention-policies"


def _policies(a: Ask) -> str:
    return f"/projects/{a.project}/retention-policies"


def _policy(a: Ask) -> str:
    return f"{_policies(a)}/{a.world.fresh_policy(a.project)}"


LABELS = f"{R}/artifacts/{{digest}}/labels"


def _label(a: Ask) -> str:
    return f"/projects/{a.project}/repositories/{_artifact(a)}/labels/{_unique('qa')}"


def _remove_label(a: Ask) -> Call:
    path = _label(a)
    response = a.world.client.put(API + path, json={"value": "passed"}, auth=ADMIN)
    assert response.status_code == 204, describe(response)
    return Call("DELETE", path, 204)


#: One or more concrete requests for each (method, route path) of the API's route table.
CASES: dict[str, Case] = {
    # -- the system and the API's documents
    "openapi": Case(("GET", "/openapi.json"), _get("/openapi.json")),
    "openapi-head": Case(("HEAD", "/openapi.json"), lambda a: Call("HEAD", "/openapi.json", 200)),
    "docs": Case(("GET", "/docs"), _get("/docs")),
    "docs-head": Case(("HEAD", "/docs"), lambda a: Call("HEAD", "/docs", 200)),
    "oauth2-redirect": Case(("GET", "/docs/oauth2-redirect"), _get("/docs/oauth2-redirect")),
    "oauth2-redirect-head": Case(
        ("HEAD", "/docs/oauth2-redirect"), lambda a: Call("HEAD", "/docs/oauth2-redirect", 200)
    ),
    "system-info": Case(("GET", "/system/info"), _get("/system/info")),
    "whoami": Case(("GET", "/whoami"), _get("/whoami")),
    # -- the caller's personal access tokens
    "list-tokens": Case(("GET", "/users/me/tokens"), _get("/users/me/tokens")),
    "create-token": Case(
        ("POST", "/users/me/tokens"),
        lambda a: Call(
            "POST",
            "/users/me/tokens",
            201,
            {"name": _unique("t"), "permissions": _pull_in(a.project)},
        ),
    ),
    "show-token": Case(
        ("GET", "/users/me/tokens/{token}"),
        lambda a: Call("GET", f"/users/me/tokens/{a.world.fresh_token(a.identity)}", 200),
    ),
    "revoke-token": Case(
        ("POST", "/users/me/tokens/{token}/revoke"),
        lambda a: Call("POST", f"/users/me/tokens/{a.world.fresh_token(a.identity)}/revoke", 200),
    ),
    "delete-token": Case(
        ("DELETE", "/users/me/tokens/{token}"),
        lambda a: Call("DELETE", f"/users/me/tokens/{a.world.fresh_token(a.identity)}", 204),
    ),
    # -- users
    "list-users": Case(("GET", "/users"), _get("/users")),
    "create-user": Case(
        ("POST", "/users"),
        lambda a: Call("POST", "/users", 201, {"name": _unique("u"), "password": "a-good-one"}),
    ),
    "show-self": Case(("GET", "/users/{name}"), lambda a: Call("GET", f"/users/{_self(a)}", 200)),
    "show-another-user": Case(
        ("GET", "/users/{name}"), lambda a: Call("GET", f"/users/{a.world.bystander.name}", 200)
    ),
    "update-user": Case(
        ("PATCH", "/users/{name}"),
        lambda a: Call(
            "PATCH", f"/users/{a.world.fresh_user().name}", 200, {"email": "u@example.com"}
        ),
    ),
    "change-own-password": Case(
        ("PUT", "/users/{name}/password"), _own_password, changes_caller=True
    ),
    "change-another-password": Case(
        ("PUT", "/users/{name}/password"),
        lambda a: Call(
            "PUT", f"/users/{a.world.fresh_user().name}/password", 204, {"password": "new-one-1"}
        ),
    ),
    "delete-user": Case(
        ("DELETE", "/users/{name}"),
        lambda a: Call("DELETE", f"/users/{a.world.fresh_user().name}", 204),
    ),
    # -- projects
    "list-projects": Case(("GET", "/projects"), _get("/projects")),
    "create-project": Case(
        ("POST", "/projects"), lambda a: Call("POST", "/projects", 201, {"name": _unique("new")})
    ),
    "show-project": Case(("GET", P), _get("/projects/{p}")),
    "update-project": Case(
        ("PATCH", P),
        lambda a: Call("PATCH", f"/projects/{a.project}", 200, {"description": "described"}),
    ),
    "delete-project": Case(
        ("DELETE", P), lambda a: Call("DELETE", f"/projects/{a.project}", 204), deletes_project=True
    ),
    # -- members
    "list-members": Case(("GET", f"{P}/members"), _get("/projects/{p}/members")),
    "add-member": Case(
        ("POST", f"{P}/members"),
        lambda a: Call(
            "POST", _members(a), 201, {"name": a.world.fresh_user().name, "role": "guest"}
        ),
    ),
    "show-member": Case(
        ("GET", f"{P}/members/{{kind}}/{{name}}"),
        lambda a: Call("GET", f"{_members(a)}/user/guest", 200),
    ),
    "change-role": Case(
        ("PATCH", f"{P}/members/{{kind}}/{{name}}"),
        lambda a: Call(
            "PATCH",
            f"{_members(a)}/user/{a.world.fresh_member(a.project)}",
            200,
            {"role": "developer"},
        ),
    ),
    "remove-member": Case(
        ("DELETE", f"{P}/members/{{kind}}/{{name}}"),
        lambda a: Call("DELETE", f"{_members(a)}/user/{a.world.fresh_member(a.project)}", 204),
    ),
    # -- project robots
    "list-robots": Case(("GET", f"{P}/robots"), _get("/projects/{p}/robots")),
    "create-robot": Case(
        ("POST", f"{P}/robots"), lambda a: Call("POST", _robots(a), 201, _new_robot(a))
    ),
    "show-robot": Case(
        ("GET", f"{P}/robots/{{robot}}"),
        lambda a: Call("GET", f"{_robots(a)}/{a.project}+robot-pull-{a.project}", 200),
    ),
    "update-robot": Case(
        ("PATCH", f"{P}/robots/{{robot}}"),
        lambda a: Call("PATCH", _project_robot(a), 200, {"description": "described"}),
    ),
    "revoke-robot": Case(
        ("POST", f"{P}/robots/{{robot}}/revoke"),
        lambda a: Call("POST", f"{_project_robot(a)}/revoke", 200),
    ),
    "regenerate-robot": Case(
        ("POST", f"{P}/robots/{{robot}}/secret"),
        lambda a: Call("POST", f"{_project_robot(a)}/secret", 200),
    ),
    "delete-robot": Case(
        ("DELETE", f"{P}/robots/{{robot}}"), lambda a: Call("DELETE", _project_robot(a), 204)
    ),
    # -- system robots
    "list-system-robots": Case(("GET", "/robots"), _get("/robots")),
    "create-system-robot": Case(
        ("POST", "/robots"),
        lambda a: Call("POST", "/robots", 201, {**_new_robot(a), "permissions": _pull_in("*")}),
    ),
    "show-system-robot": Case(
        ("GET", "/robots/{robot}"),
        lambda a: Call("GET", f"/robots/{a.world.system_robot}", 200),
    ),
    "update-system-robot": Case(
        ("PATCH", "/robots/{robot}"),
        lambda a: Call("PATCH", _system_robot(a), 200, {"description": "described"}),
    ),
    "revoke-system-robot": Case(
        ("POST", "/robots/{robot}/revoke"),
        lambda a: Call("POST", f"{_system_robot(a)}/revoke", 200),
    ),
    "regenerate-system-robot": Case(
        ("POST", "/robots/{robot}/secret"),
        lambda a: Call("POST", f"{_system_robot(a)}/secret", 200),
    ),
    "delete-system-robot": Case(
        ("DELETE", "/robots/{robot}"), lambda a: Call("DELETE", _system_robot(a), 204)
    ),
    # -- repositories and artifacts
    "list-repositories": Case(("GET", f"{P}/repositories"), _get("/projects/{p}/repositories")),
    "show-repository": Case(
        ("GET", R),
        lambda a: Call("GET", f"/projects/{a.project}/repositories/{_repository(a)}", 200),
    ),
    "list-artifacts": Case(
        ("GET", f"{R}/artifacts"),
        lambda a: Call(
            "GET", f"/projects/{a.project}/repositories/{_repository(a)}/artifacts", 200
        ),
    ),
    "show-artifact": Case(
        ("GET", f"{R}/artifacts/{{digest}}"),
        lambda a: Call("GET", f"/projects/{a.project}/repositories/{_artifact(a)}", 200),
    ),
    "delete-artifact": Case(("DELETE", f"{R}/artifacts/{{digest}}"), _delete_artifact),
    "delete-repository": Case(("DELETE", R), _delete_repository),
    # -- labels, search, quotas
    "list-labels": Case(
        ("GET", f"{LABELS}"),
        lambda a: Call("GET", f"/projects/{a.project}/repositories/{_artifact(a)}/labels", 200),
    ),
    "set-label": Case(
        ("PUT", f"{LABELS}/{{key:path}}"),
        lambda a: Call("PUT", _label(a), 204, {"value": "passed"}),
    ),
    "remove-label": Case(("DELETE", f"{LABELS}/{{key:path}}"), _remove_label),
    "search": Case(("GET", "/search"), _get("/search")),
    "show-usage": Case(("GET", f"{P}/usage"), _get("/projects/{p}/usage")),
    "show-repository-usage": Case(
        ("GET", f"{R}/usage"),
        lambda a: Call("GET", f"/projects/{a.project}/repositories/{_repository(a)}/usage", 200),
    ),
    "set-quota": Case(
        ("PUT", f"{P}/quota"),
        lambda a: Call("PUT", f"/projects/{a.project}/quota", 200, {"bytes": None}),
        system=True,
    ),
    "recount-usage": Case(
        ("POST", "/system/usage/recount"), lambda a: Call("POST", "/system/usage/recount", 200)
    ),
    # -- tag history and restores
    "list-history": Case(
        ("GET", f"{P}/history/{{repository:path}}"),
        lambda a: Call("GET", f"/projects/{a.project}/history/{_repository(a)}", 200),
    ),
    "restore": Case(
        ("POST", f"{P}/restore/{{repository:path}}"),
        lambda a: Call(
            "POST",
            f"/projects/{a.project}/restore/{_repository(a)}",
            200,
            {"at": "2030-01-01T00:00:00Z", "dry_run": True},
        ),
    ),
    # -- immutability rules
    "list-immutability-rules": Case(
        ("GET", f"{P}/immutability-rules"), _get("/projects/{p}/immutability-rules")
    ),
    "create-immutability-rule": Case(
        ("POST", f"{P}/immutability-rules"),
        lambda a: Call("POST", _rules(a), 201, {"kind": "glob", "pattern": "v*"}),
    ),
    "show-immutability-rule": Case(
        ("GET", f"{P}/immutability-rules/{{rule_id}}"),
        lambda a: Call("GET", _fresh_rule(a), 200),
    ),
    "update-immutability-rule": Case(
        ("PATCH", f"{P}/immutability-rules/{{rule_id}}"),
        lambda a: Call("PATCH", _fresh_rule(a), 200, {"description": "described"}),
    ),
    "delete-immutability-rule": Case(
        ("DELETE", f"{P}/immutability-rules/{{rule_id}}"),
        lambda a: Call("DELETE", _fresh_rule(a), 204),
    ),
    # -- retention policies and background jobs
    "list-retention-policies": Case(("GET", RP), _get("/projects/{p}/retention-policies")),
    "create-retention-policy": Case(
        ("POST", RP),
        lambda a: Call("POST", _policies(a), 201, {"name": _unique("p"), "repository": "none"}),
    ),
    "show-retention-policy": Case(
        ("GET", f"{RP}/{{policy_id}}"), lambda a: Call("GET", _policy(a), 200)
    ),
    "update-retention-policy": Case(
        ("PUT", f"{RP}/{{policy_id}}"),
        lambda a: Call("PUT", _policy(a), 200, {"name": _unique("p"), "repository": "none"}),
    ),
    "delete-retention-policy": Case(
        ("DELETE", f"{RP}/{{policy_id}}"), lambda a: Call("DELETE", _policy(a), 204)
    ),
    "dry-run-retention-policy": Case(
        ("POST", f"{RP}/{{policy_id}}/run"),
        lambda a: Call("POST", f"{_policy(a)}/run", 200, {"dry_run": True}),
    ),
    "list-retention-runs": Case(
        ("GET", f"{RP}/{{policy_id}}/runs"), lambda a: Call("GET", f"{_policy(a)}/runs", 200)
    ),
    "list-jobs": Case(("GET", "/jobs"), _get("/jobs")),
    "show-job": Case(
        ("GET", "/jobs/{job_id}"), lambda a: Call("GET", f"/jobs/{a.world.job()}", 200)
    ),
    # -- versions, floating tags, stages and promotion
    "list-versions": Case(
        ("GET", f"{R}/versions"), lambda a: Call("GET", f"{_versioned(a)}/versions", 200)
    ),
    "resolve-version": Case(
        ("GET", f"{R}/versions/resolve"),
        lambda a: Call("GET", f"{_versioned(a)}/versions/resolve?range=%5E1", 200),
    ),
    "show-repository-settings": Case(
        ("GET", f"{R}/settings"),
        lambda a: Call("GET", f"/projects/{a.project}/repositories/{_repository(a)}/settings", 200),
    ),
    "change-repository-settings": Case(
        ("PUT", f"{R}/settings"),
        lambda a: Call(
            "PUT",
            f"/projects/{a.project}/repositories/{_repository(a)}/settings",
            200,
            {"floating_tags": False},
        ),
    ),
    "list-stages": Case(("GET", f"{P}/stages"), _get("/projects/{p}/stages")),
    "set-stages": Case(
        ("PUT", f"{P}/stages"),
        lambda a: Call("PUT", f"/projects/{a.project}/stages", 200, {"stages": ["dev", "prod"]}),
    ),
    "promote-artifact": Case(("POST", f"{R}/artifacts/{{digest}}/promote"), _promote),
    # -- garbage collection (a dry run: the world's objects must stay)
    "run-gc": Case(("POST", "/gc"), lambda a: Call("POST", "/gc", 200, {"dry_run": True})),
    "list-gc-runs": Case(("GET", "/gc/runs"), _get("/gc/runs")),
}


# -- what is expected --------------------------------------------------------------------------


def expected_status(
    need: Need, caller: Caller, principal: Principal, world: World, params: dict[str, str], ok: int
) -> int:
    """What docs/api.md and api/needs.py say the caller gets from a route with this need."""
    if need.rule in (Rule.PUBLIC, Rule.ANYONE):
        return ok  # ANYONE: the route shows anonymous callers only what is public
    if not principal.authenticated:
        return 401  # "anything else answers 401 with a WWW-Authenticate challenge"
    if need.rule is Rule.AUTHENTICATED:
        return ok
    if need.rule is Rule.PROJECT:
        assert need.param is not None
        name = params[need.param]
        allowed = principal.allowed(world.project(name)) if name in world.projects else frozenset()
        if not allowed:
            return 404  # a project the caller may do nothing in does not exist for it
        return ok if need.action is None or need.action in allowed else 403
    # The rest is about accounts: "a user's own login" only, never a robot or a token.
    if not caller.person:
        return 403
    if need.rule is Rule.PERSON or principal.is_admin:
        return ok
    if need.rule is Rule.SELF_OR_ADMIN:
        assert need.param is not None
        return ok if params[need.param] == principal.name else 403
    if need.rule is Rule.PROJECT_CREATOR:
        return ok if world.settings.self_service_projects else 403
    assert need.rule is Rule.ADMIN, f"a rule this test does not know: {need.rule}"
    return 403


def assert_problem(response: httpx.Response, status: int) -> None:
    """An RFC 9457 problem detail with this status, as every API error is."""
    assert response.headers.get("content-type", "").startswith("application/problem+json"), (
        describe(response)
    )
    body = response.json()
    assert body.get("status") == status and {"type", "title", "detail"} <= body.keys(), describe(
        response
    )


def bearer(world: World, identity: Identity) -> dict[str, str]:
    """The Authorization header of a token from /auth/token for these credentials (none:
    an anonymous token), which the API takes as it takes them (docs/api.md)."""
    response = world.client.get(
        "/auth/token",
        params={"service": world.settings.token_service, "scope": "registry:api:*"},
        auth=identity.auth,
    )
    assert response.status_code == 200, describe(response)
    return {"Authorization": f"Bearer {response.json()['token']}"}


def check(
    world: World,
    table: list[Route],
    case_name: str,
    caller: Caller,
    visibility: str,
    *,
    with_token: bool = False,
) -> None:
    """Run one case and compare its answer with what the route's need says; `with_token`:
    send a bearer token got with the caller's credentials instead of the credentials."""
    case = CASES[case_name]
    project = VISIBILITIES[visibility]
    if case.deletes_project:
        project = world.scratch_project(public=world.projects[project].public)
    identity = world.identity(caller, project, fresh=case.changes_caller)
    call = case.build(Ask(world, caller, identity, project))
    route, params = dispatch(table, call.method, call.path.partition("?")[0])
    assert (route.method, route.path) == case.route, f"{case_name} reaches {route.path}"
    assert route.need is not None, f"{route.method} {route.path} declares no need"
    principal = caller.principal(identity.name, project)
    expected = expected_status(route.need, caller, principal, world, params, call.ok)

    if with_token:
        options: dict[str, Any] = {"auth": None, "headers": bearer(world, identity)}
    else:
        options = {"auth": identity.auth}
    response = world.client.request(call.method, API + call.path, json=call.json, **options)
    how = "token" if with_token else "credentials"
    context = f"{caller.name} ({how}) in {project}, {route.need}: expected {expected}"
    context += f"\n{describe(response)}"
    assert response.status_code == expected, context
    if expected >= 400 and call.method != "HEAD":
        assert_problem(response, expected)
    if expected == 401:
        challenge = response.headers.get("www-authenticate", "")
        assert 'Bearer realm="http://testserver/auth/token"' in challenge, context


# -- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One application on SQLite for the whole module: cases only read what they share, and
    make their own object for whatever they change or delete."""
    with running(make_settings(tmp_path_factory.mktemp("api-matrix") / "data")) as client:
        yield client


@pytest.fixture(scope="module")
def world(app_client: TestClient) -> World:
    return build_world(app_client)


@pytest.fixture(scope="module")
def table(app_client: TestClient) -> list[Route]:
    return route_table(api_of(app_client))


def test_every_api_route_declares_its_need(table: list[Route]) -> None:
    undeclared = [f"{route.method} {route.path}" for route in table if route.need is None]
    assert undeclared == [], "every route takes its caller from one guard of api.needs"


def test_every_api_route_is_exercised_by_this_matrix(table: list[Route]) -> None:
    declared = {(route.method, route.path) for route in table}
    exercised = {case.route for case in CASES.values()}
    assert declared - exercised == set(), "write a request for these routes in CASES"
    assert exercised - declared == set(), "CASES names routes the API lacks"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("visibility", sorted(VISIBILITIES))
@pytest.mark.parametrize("caller_name", list(CALLERS))
def test_api_route_answers_the_caller_as_its_need_says(
    world: World, table: list[Route], caller_name: str, visibility: str, case: str
) -> None:
    check(world, table, case, CALLERS[caller_name], visibility)


#: Where how the caller logged in matters most: the account routes, which want "a user's own
#: login", and a read and two changes in a project.
TOKEN_CASES = [
    "whoami",
    "list-tokens",
    "create-token",
    "show-self",
    "change-own-password",
    "list-users",
    "create-project",
    "show-project",
    "list-members",
    "update-project",
    "show-artifact",
    "delete-artifact",
]


@pytest.mark.parametrize("case", TOKEN_CASES)
@pytest.mark.parametrize("visibility", sorted(VISIBILITIES))
@pytest.mark.parametrize("caller_name", list(CALLERS))
def test_api_route_answers_a_bearer_token_as_the_credentials_it_was_got_with(
    world: World, table: list[Route], caller_name: str, visibility: str, case: str
) -> None:
    check(world, table, case, CALLERS[caller_name], visibility, with_token=True)


def test_the_expectations_tell_the_callers_apart(world: World, table: list[Route]) -> None:
    # A matrix whose expectations came out the same for everyone would check little: each
    # caller is let through somewhere, and everyone but the administrator refused somewhere.
    for caller in CALLERS.values():
        outcomes = set()
        for case in CASES.values():
            route = next(r for r in table if (r.method, r.path) == case.route)
            assert route.need is not None
            principal = caller.principal(caller.name, PRIVATE)
            params = {"project": PRIVATE, "name": caller.name}
            outcomes.add(expected_status(route.need, caller, principal, world, params, 200))
        assert 200 in outcomes, f"{caller.name} is refused everything"
        if not caller.admin:
            assert outcomes - {200}, f"{caller.name} is allowed everything"


PROJECT_CASES = [
    name
    for name, case in CASES.items()
    if case.route[1].startswith("/projects/{project}") and not case.system
]


@pytest.mark.parametrize("case_name", PROJECT_CASES)
@pytest.mark.parametrize("caller_name", ["other-member", "other-robot"])
def test_an_invisible_private_project_answers_as_one_that_does_not_exist(
    world: World, caller_name: str, case_name: str
) -> None:
    # 404 alone is not enough: a different detail, or a different answer to a body the
    # route would refuse anyway, would still tell that the project exists.
    caller, case = CALLERS[caller_name], CASES[case_name]
    project = world.scratch_project(public=False) if case.deletes_project else PRIVATE
    identity = world.identity(caller, project)
    call = case.build(Ask(world, caller, identity, project))
    ghost = _unique("ghost")
    ghost_path = re.sub(rf"\b{re.escape(project)}\b", ghost, call.path)
    assert ghost_path != call.path
    answers = [
        world.client.request(call.method, API + path, json=call.json, auth=identity.auth)
        for path in (call.path, ghost_path)
    ]
    for response in answers:
        assert response.status_code == 404, describe(response)
        assert_problem(response, 404)
    hidden, missing = (response.json()["detail"] for response in answers)
    assert hidden.replace(project, ghost) == missing


def listed_projects(world: World, **options: Any) -> dict[str, bool]:
    """Every project GET /projects lists for these credentials, with whether it is public."""
    response = world.client.get(f"{API}/projects", params={"limit": "500"}, **options)
    assert response.status_code == 200, describe(response)
    assert response.json()["next"] is None, "the module made more projects than a page holds"
    return {project["name"]: project["public"] for project in response.json()["items"]}


@pytest.mark.parametrize("with_token", [False, True], ids=["credentials", "token"])
@pytest.mark.parametrize("visibility", sorted(VISIBILITIES))
@pytest.mark.parametrize("caller_name", [name for name in CALLERS if name != "anonymous"])
def test_the_project_list_shows_what_the_caller_may_do_something_in(
    world: World, caller_name: str, visibility: str, with_token: bool
) -> None:
    caller, project = CALLERS[caller_name], VISIBILITIES[visibility]
    identity = world.identity(caller, project)  # robots and personal tokens: this project's
    everything = listed_projects(world, auth=world.admin.basic)
    # Members by role are members of pub, priv and every scratch project alike (not of the
    # projects the administrator created in other cases: only their creator is).
    made_here = world.projects.keys() - {OTHER}
    roles = {name: caller.role for name in made_here if caller.role}
    principal = caller.principal(identity.name, project)
    principal = replace(principal, roles={**principal.roles, **roles})
    # `allowed` reads a project's name and visibility, not its id.
    expected = {n for n, public in everything.items() if principal.allowed(Project(0, n, public))}
    options: dict[str, Any] = (
        {"auth": None, "headers": bearer(world, identity)}
        if with_token
        else {"auth": identity.auth}
    )
    assert set(listed_projects(world, **options)) == expected


def test_creating_projects_with_self_service_is_for_every_person(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", self_service_projects=True)
    with running(settings) as client:
        world, table = build_world(client), route_table(api_of(client))
        cases = {
            f"{caller}-{visibility}": (CALLERS[caller], visibility)
            for caller in CALLERS
            for visibility in VISIBILITIES
        }
        check_each(cases, lambda c: check(world, table, "create-project", c[0], c[1]))


# -- the same on PostgreSQL --------------------------------------------------------------------

#: A member by role, a robot and a token: each reads its rights from the database differently.
SLICE_CALLERS = ["project-admin", "robot-pull", "token-pull"]


@pytest.mark.parametrize("database", ["postgresql"])
def test_the_api_policy_holds_on_postgresql(settings: Settings, database: str) -> None:
    with running(settings) as client:
        world, table = build_world(client), route_table(api_of(client))
        cases = {
            f"{caller}-{visibility}-{case}": (case, CALLERS[caller], visibility)
            for caller in SLICE_CALLERS
            for visibility in VISIBILITIES
            for case in CASES
        }
        check_each(cases, lambda c: check(world, table, *c))
