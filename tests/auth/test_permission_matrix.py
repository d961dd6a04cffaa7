"""Every route of the application answers each kind of caller as the policy says.

The routes come from the application's own route table, and what each one needs from its
`Needs`; what each caller may do comes from `Principal.allowed` (hence `policy.MATRIX`), for
a principal built here from how the caller was set up. Nothing below restates the matrix:
a change to the policy changes the expectations, a route that declares nothing fails.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount
from starlette.testclient import TestClient

from cargobay.auth.policy import Action, Role, scope_action
from cargobay.auth.principal import ANONYMOUS, Grant, Kind, Principal, Project, project_of
from cargobay.metadata.access_store import ProjectRecord
from cargobay.registry.access import Needs
from conformance.helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Manifest,
    assert_error,
    build_image,
    check_each,
    config_blob,
    describe,
    descriptor,
    digest_of,
    encode,
    make_image_manifest,
    path_and_query,
    push_blob,
    push_manifest,
    random_bytes,
    upload_location,
)
from liveserver import ADMIN

from .apps import running
from .population import Account, Credential, Population

# -- the route table ---------------------------------------------------------------------------

#: Routes that declare no `Needs`, each with why that is right. Nothing else may lack one.
EXEMPT = {
    "/healthz": "liveness probe: orchestrators call it without credentials, it reveals nothing",
    "/readyz": "readiness probe: as /healthz",
    "/auth/token": "the token endpoint is where credentials are checked and exchanged",
    # Every API route declares its rule (cargobay.api.needs); tests/api/test_route_policy.py
    # fails for one that does not, and tests/api/test_permission_matrix.py walks them.
    "/api/v1": "the management API: its routes' rules are walked by tests/api",
}


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route with its full path, descending into mounted applications."""
    for route in routes:
        path = prefix + getattr(route, "path", "")
        yield path, route
        if isinstance(route, Mount):
            yield from walk(route.routes, path)


def needs_of(route: BaseRoute) -> Needs | None:
    needs = getattr(getattr(route, "endpoint", None), "needs", None)
    return needs if needs is not None else getattr(route, "needs", None)


def is_exempt(path: str) -> bool:
    return any(path == exempt or path.startswith(exempt + "/") for exempt in EXEMPT)


def declared_routes(app: Starlette) -> set[tuple[str, str]]:
    """(method, path template) of every route that declares what it needs."""
    found = set()
    for path, route in walk(app.routes):
        if needs_of(route) is not None and not is_exempt(path):
            found |= {(method, path) for method in getattr(route, "methods", None) or ()}
    return found


def resolve(routes: list[BaseRoute], scope: dict[str, Any]) -> tuple[BaseRoute, dict[str, Any]]:
    """The route the application dispatches `scope` to, as Starlette's router picks it."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            scope = {**scope, **child}
            if isinstance(route, Mount):
                return resolve(route.routes, scope)
            return route, scope
    raise AssertionError(f"no route serves {scope['method']} {scope['path']}")


def action_of(app: Starlette, method: str, path: str) -> Action | None:
    """What the route serving this request asks the policy for (None: only credentials)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    route, scope = resolve(app.routes, scope)
    needs = needs_of(route)
    assert needs is not None, f"{method} {path} is served by a route without needs"
    return needs.action_for(Request(scope))


# -- who asks ----------------------------------------------------------------------------------

PUBLIC, PRIVATE, OTHER = "pub", "priv", "other"
VISIBILITIES = {"public": PUBLIC, "private": PRIVATE}
PULL_ONLY = frozenset({Action.PULL})
PUSHER = frozenset({Action.PULL, Action.LIST, Action.PUSH})


@dataclass(frozen=True)
class Caller:
    """How one kind of caller is set up: the same role (or robot grant) in pub and priv."""

    name: str
    role: Role | None = None
    admin: bool = False
    robot: frozenset[Action] | None = None  # a robot of the project, with these grants
    other: Role | None = None  # a role in the other project, none in pub or priv

    def principal(self, project: str) -> Principal:
        """What this caller is, for the policy, when calling into `project`."""
        if self.robot is not None:
            return Principal(Kind.ROBOT, self.name, grants=(Grant(project, self.robot),))
        if self.name == "anonymous":
            return ANONYMOUS
        roles = {PUBLIC: self.role, PRIVATE: self.role} if self.role else {}
        if self.other:
            roles[OTHER] = self.other
        return Principal(Kind.USER, self.name, is_admin=self.admin, roles=roles)


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
        Caller("robot-pull", robot=PULL_ONLY),
        Caller("robot-push", robot=PUSHER),
        Caller("other-member", other=Role.DEVELOPER),
    ]
}


@dataclass(frozen=True)
class Image:
    repository: str
    manifest: Manifest
    config: str  # digests of its blobs
    layer: str


@dataclass
class World:
    client: TestClient
    people: Population
    projects: dict[str, ProjectRecord]
    images: dict[str, Image]
    accounts: dict[str, Account] = field(default_factory=dict)
    robots: dict[tuple[str, str], Credential] = field(default_factory=dict)

    def auth(self, caller: Caller, project: str) -> tuple[str, str] | None:
        if caller.robot is not None:
            return self.robots[caller.name, project].basic
        if caller.name == "anonymous":
            return None
        if caller.admin:
            return ADMIN
        return self.accounts[caller.name].basic

    def project(self, name: str) -> Project:
        record = self.projects[name]
        return Project(record.id, record.name, record.public)


def build_world(client: TestClient) -> World:
    people = Population(client.app)  # type: ignore[arg-type]
    projects = {
        PUBLIC: people.project(PUBLIC, public=True),
        PRIVATE: people.project(PRIVATE),
        OTHER: people.project(OTHER),
    }
    images = {name: _push_image(client, f"{name}/app") for name in projects}
    world = World(client, people, projects, images)
    for caller in CALLERS.values():
        if caller.robot is not None:
            for name in (PUBLIC, PRIVATE):
                world.robots[caller.name, name] = people.robot(
                    f"{name}+{caller.name}",
                    [Grant(name, caller.robot)],
                    project=projects[name],
                )
        elif caller.role is not None or caller.other is not None:
            account = people.user(caller.name)
            world.accounts[caller.name] = account
            if caller.role is not None:
                people.member(projects[PUBLIC], caller.role, user=account)
                people.member(projects[PRIVATE], caller.role, user=account)
            if caller.other is not None:
                people.member(projects[OTHER], caller.other, user=account)
    return world


def _push_image(client: httpx.Client, repository: str) -> Image:
    manifest = build_image(client, repository)
    push_manifest(client, repository, manifest, "v1")
    document = json.loads(manifest.body)
    return Image(
        repository, manifest, document["config"]["digest"], document["layers"][0]["digest"]
    )


# -- what is asked -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A concrete request, and the status it gets when the caller is allowed."""

    method: str
    path: str
    ok: int
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _unique_tag() -> str:
    return f"t-{secrets.token_hex(4)}"


def _push_manifest(world: World, project: str) -> Call:
    image = world.images[project]
    path = f"/v2/{image.repository}/manifests/{_unique_tag()}"
    return Call("PUT", path, 201, image.manifest.body, {"Content-Type": OCI_MANIFEST})


def _delete_tag(world: World, project: str) -> Call:
    image = world.images[project]
    tag = _unique_tag()
    push_manifest(world.client, image.repository, image.manifest, tag)
    return Call("DELETE", f"/v2/{image.repository}/manifests/{tag}", 202)


def _delete_manifest(world: World, project: str) -> Call:
    # A manifest of its own (a fresh config), so that deleting it leaves v1 to the others.
    image = world.images[project]
    config = config_blob()
    push_blob(world.client, image.repository, config)
    layer = {"mediaType": OCI_LAYER, "digest": image.layer, "size": 96}
    document = make_image_manifest(descriptor(OCI_CONFIG, config), [layer])
    manifest = Manifest(encode(document), OCI_MANIFEST)
    push_manifest(world.client, image.repository, manifest)
    return Call("DELETE", f"/v2/{image.repository}/manifests/{manifest.digest}", 202)


def _upload_session(world: World, project: str) -> str:
    return path_and_query(upload_location(world.client, world.images[project].repository))


def _finish_upload(world: World, project: str) -> Call:
    data = random_bytes(32)
    path = f"{_upload_session(world, project)}?digest={digest_of(data)}"
    return Call("PUT", path, 201, data, {"Content-Type": "application/octet-stream"})


def _delete_blob(world: World, project: str) -> Call:
    repository = world.images[project].repository
    digest = push_blob(world.client, repository, random_bytes(32))
    return Call("DELETE", f"/v2/{repository}/blobs/{digest}", 202)


NAME = "/v2/{name:path}"
Builder = Callable[[World, str], Call]

#: One or more concrete requests for each (method, route path) of the route table.
#: HEAD requests are made from the GET ones below.
REQUESTS: dict[str, tuple[tuple[str, str], Builder]] = {
    "api-root": (("GET", "/v2/"), lambda w, p: Call("GET", "/v2/", 200)),
    "catalog": (("GET", "/v2/_catalog"), lambda w, p: Call("GET", "/v2/_catalog", 200)),
    "tags": (
        ("GET", f"{NAME}/tags/list"),
        lambda w, p: Call("GET", f"/v2/{w.images[p].repository}/tags/list", 200),
    ),
    "referrers": (
        ("GET", f"{NAME}/referrers/{{digest}}"),
        lambda w, p: Call(
            "GET", f"/v2/{w.images[p].repository}/referrers/{w.images[p].manifest.digest}", 200
        ),
    ),
    "pull-manifest": (
        ("GET", f"{NAME}/manifests/{{reference}}"),
        lambda w, p: Call("GET", f"/v2/{w.images[p].repository}/manifests/v1", 200),
    ),
    "push-manifest": (("PUT", f"{NAME}/manifests/{{reference}}"), _push_manifest),
    "delete-tag": (("DELETE", f"{NAME}/manifests/{{reference}}"), _delete_tag),
    "delete-manifest": (("DELETE", f"{NAME}/manifests/{{reference}}"), _delete_manifest),
    "start-upload": (
        ("POST", f"{NAME}/blobs/uploads/"),
        lambda w, p: Call("POST", f"/v2/{w.images[p].repository}/blobs/uploads/", 202),
    ),
    "start-upload-no-slash": (
        ("POST", f"{NAME}/blobs/uploads"),
        lambda w, p: Call("POST", f"/v2/{w.images[p].repository}/blobs/uploads", 202),
    ),
    "upload-status": (
        ("GET", f"{NAME}/blobs/uploads/{{upload_id}}"),
        lambda w, p: Call("GET", _upload_session(w, p), 204),
    ),
    "upload-chunk": (
        ("PATCH", f"{NAME}/blobs/uploads/{{upload_id}}"),
        lambda w, p: Call(
            "PATCH",
            _upload_session(w, p),
            202,
            random_bytes(16),
            {"Content-Type": "application/octet-stream"},
        ),
    ),
    "finish-upload": (("PUT", f"{NAME}/blobs/uploads/{{upload_id}}"), _finish_upload),
    "cancel-upload": (
        ("DELETE", f"{NAME}/blobs/uploads/{{upload_id}}"),
        lambda w, p: Call("DELETE", _upload_session(w, p), 204),
    ),
    "pull-blob": (
        ("GET", f"{NAME}/blobs/{{digest}}"),
        lambda w, p: Call("GET", f"/v2/{w.images[p].repository}/blobs/{w.images[p].config}", 200),
    ),
    "delete-blob": (("DELETE", f"{NAME}/blobs/{{digest}}"), _delete_blob),
}


def _head(get: Builder) -> Builder:
    def build(world: World, project: str) -> Call:
        call = get(world, project)
        return Call("HEAD", call.path, call.ok, call.content, call.headers)

    return build


for _name, ((_method, _path), _build) in list(REQUESTS.items()):
    if _method == "GET":  # Starlette serves HEAD on every GET route
        REQUESTS[f"{_name}-head"] = (("HEAD", _path), _head(_build))


# -- what is expected --------------------------------------------------------------------------

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def assert_answer(
    world: World,
    caller: Caller,
    project: str,
    call: Call,
    response: httpx.Response,
    *,
    sent_credentials: bool,
) -> None:
    """The response is what the policy says: the route's success, 401 or 403."""
    app = world.client.app
    action = action_of(app, call.method, call.path.partition("?")[0])  # type: ignore[arg-type]
    principal = caller.principal(project)
    if action is None:
        allowed = sent_credentials
    else:
        allowed = action in principal.allowed(world.project(project))
    context = f"{caller.name} {action} in {project}: allowed={allowed}\n{describe(response)}"
    if allowed:
        assert response.status_code == call.ok, context
        return
    if not principal.authenticated:
        assert response.status_code == 401, context
        assert_challenge(world, response, call, action)
        if call.method != "HEAD":
            assert_error(response, 401, "UNAUTHORIZED")
    else:
        assert response.status_code == 403, context
        if call.method != "HEAD":
            assert_error(response, 403, "DENIED")


def assert_challenge(
    world: World, response: httpx.Response, call: Call, action: Action | None
) -> None:
    """A Bearer challenge naming where to get a token, and for which scope."""
    header = response.headers.get("www-authenticate", "")
    assert header.startswith("Bearer "), describe(response)
    params = dict(_CHALLENGE_PARAM.findall(header))
    settings = world.client.app.state.settings  # type: ignore[attr-defined]
    assert params.get("realm") == "http://testserver/auth/token", header
    assert params.get("service") == settings.token_service, header
    if action is not None:
        repository = call.path.removeprefix("/v2/").split("/blobs/")[0].split("/manifests/")[0]
        repository = repository.split("/tags/")[0].split("/referrers/")[0]
        kind, name, actions = params.get("scope", "::").rsplit(":", 2)
        assert (kind, name) == ("repository", repository), header
        assert scope_action(action) in actions.split(","), header


def send(world: World, call: Call, **options: Any) -> httpx.Response:
    return world.client.request(
        call.method, call.path, content=call.content, headers=call.headers, **options
    )


def bearer_token(world: World, caller: Caller, project: str) -> str:
    """A token from the token endpoint for every access to the project's repository."""
    repository = world.images[project].repository
    response = world.client.get(
        "/auth/token",
        params=[
            ("service", "cargobay"),
            ("scope", f"repository:{repository}:pull,push,delete"),
            ("scope", "registry:catalog:*"),
        ],
        auth=world.auth(caller, project),
    )
    assert response.status_code == 200, describe(response)
    return str(response.json()["token"])


# -- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(module_client: TestClient) -> World:
    return build_world(module_client)


def test_every_route_declares_who_may_call_it(world: World) -> None:
    undeclared = [
        f"{path} ({type(route).__name__})"
        for path, route in walk(world.client.app.routes)  # type: ignore[attr-defined]
        if needs_of(route) is None and not is_exempt(path)
    ]
    assert not undeclared, f"routes with no declared policy: {undeclared}"


def test_every_declared_route_is_exercised_by_this_matrix(world: World) -> None:
    declared = declared_routes(world.client.app)  # type: ignore[arg-type]
    exercised = {route for route, _ in REQUESTS.values()}
    assert declared - exercised == set(), "write a request for these routes in REQUESTS"
    assert exercised - declared == set(), "REQUESTS names routes the application lacks"


def test_the_exemptions_name_routes_that_exist(world: World) -> None:
    paths = {path for path, _ in walk(world.client.app.routes)}  # type: ignore[attr-defined]
    assert set(EXEMPT) <= paths


@pytest.mark.parametrize("case", sorted(REQUESTS))
@pytest.mark.parametrize("visibility", sorted(VISIBILITIES))
@pytest.mark.parametrize("caller_name", list(CALLERS))
def test_route_answers_basic_auth_callers_as_the_policy_says(
    world: World, caller_name: str, visibility: str, case: str
) -> None:
    caller, project = CALLERS[caller_name], VISIBILITIES[visibility]
    call = REQUESTS[case][1](world, project)
    response = send(world, call, auth=world.auth(caller, project))
    sent = caller.name != "anonymous"
    assert_answer(world, caller, project, call, response, sent_credentials=sent)


@pytest.mark.parametrize("case", sorted(REQUESTS))
@pytest.mark.parametrize("visibility", sorted(VISIBILITIES))
@pytest.mark.parametrize("caller_name", list(CALLERS))
def test_route_answers_bearer_token_callers_as_the_policy_says(
    world: World, caller_name: str, visibility: str, case: str
) -> None:
    caller, project = CALLERS[caller_name], VISIBILITIES[visibility]
    token = bearer_token(world, caller, project)
    call = REQUESTS[case][1](world, project)
    headers = {**call.headers, "Authorization": f"Bearer {token}"}
    response = send(world, Call(call.method, call.path, call.ok, call.content, headers), auth=None)
    # A token, even an anonymous one, is credentials: the API root and catalog let it in.
    assert_answer(world, caller, project, call, response, sent_credentials=True)


def test_routes_that_change_content_need_push_or_delete(world: World) -> None:
    app = world.client.app
    changing = {"PUT", "POST", "PATCH", "DELETE"}
    writes = {Action.PUSH, Action.DELETE_TAG, Action.DELETE_ARTIFACT}
    for name, ((method, _), build) in REQUESTS.items():
        call = build(world, PUBLIC)
        action = action_of(app, call.method, call.path.partition("?")[0])  # type: ignore[arg-type]
        if method in changing:
            assert action in writes, f"{name} changes the registry but needs only {action}"
        elif "/blobs/uploads/" in call.path:
            assert action is Action.PUSH, f"{name} looks into a push but needs {action}"
        else:
            assert action not in writes, f"{name} only reads but needs {action}"


def test_deleting_by_tag_needs_delete_tag_and_by_digest_delete_artifact(world: World) -> None:
    app = world.client.app
    by_tag = _delete_tag(world, PUBLIC)
    by_digest = _delete_manifest(world, PUBLIC)
    assert action_of(app, "DELETE", by_tag.path) is Action.DELETE_TAG  # type: ignore[arg-type]
    assert action_of(app, "DELETE", by_digest.path) is Action.DELETE_ARTIFACT  # type: ignore[arg-type]


# -- the catalog -------------------------------------------------------------------------------


def catalog(world: World, **options: Any) -> set[str]:
    response = world.client.get("/v2/_catalog", params={"n": "10000"}, **options)
    assert response.status_code == 200, describe(response)
    return set(response.json()["repositories"])


def test_admin_catalog_lists_every_project(world: World) -> None:
    listed = catalog(world)
    assert {image.repository for image in world.images.values()} <= listed


def test_guest_catalog_lists_its_projects_and_public_ones_only(world: World) -> None:
    listed = catalog(world, auth=world.accounts["guest"].basic)
    assert {f"{PUBLIC}/app", f"{PRIVATE}/app"} <= listed
    assert {project_of(name) for name in listed} == {PUBLIC, PRIVATE}


def test_anonymous_token_catalog_lists_public_projects_only(world: World) -> None:
    token = bearer_token(world, CALLERS["anonymous"], PUBLIC)
    listed = catalog(world, auth=None, headers={"Authorization": f"Bearer {token}"})
    assert f"{PUBLIC}/app" in listed
    assert {project_of(name) for name in listed} == {PUBLIC}


@pytest.mark.parametrize("caller_name", [name for name in CALLERS if name != "anonymous"])
def test_catalog_lists_what_the_policy_lets_the_caller_list(world: World, caller_name: str) -> None:
    caller = CALLERS[caller_name]
    everything = catalog(world)
    principal = caller.principal(PRIVATE)  # robots: the private project's robot
    expected = {
        name for name in everything if principal.can(world.project(project_of(name)), Action.LIST)
    }
    assert catalog(world, auth=world.auth(caller, PRIVATE)) == expected


# -- cross-repository mounts -------------------------------------------------------------------


def mount(
    world: World, target: str, digest: str, source: str | None, **options: Any
) -> httpx.Response:
    params = {"mount": digest} | ({"from": source} if source else {})
    return world.client.post(f"/v2/{target}/blobs/uploads/", params=params, content=b"", **options)


def holds_blob(world: World, repository: str, digest: str) -> bool:
    response = world.client.head(f"/v2/{repository}/blobs/{digest}")
    assert response.status_code in (200, 404), describe(response)
    return response.status_code == 200


def test_mount_from_a_repository_the_caller_cannot_read_starts_an_upload(world: World) -> None:
    target = f"{OTHER}/mount-{secrets.token_hex(4)}"
    layer = world.images[PRIVATE].layer
    response = mount(
        world, target, layer, f"{PRIVATE}/app", auth=world.accounts["other-member"].basic
    )
    assert response.status_code == 202, describe(response)
    assert "/blobs/uploads/" in response.headers["location"]
    assert not holds_blob(world, target, layer)


def test_mount_without_from_takes_no_blob_from_a_project_the_caller_cannot_read(
    world: World,
) -> None:
    target = f"{OTHER}/mount-{secrets.token_hex(4)}"
    layer = world.images[PRIVATE].layer
    response = mount(world, target, layer, None, auth=world.accounts["other-member"].basic)
    assert response.status_code == 202, describe(response)
    assert not holds_blob(world, target, layer)


def test_mount_from_a_repository_the_caller_can_read_links_the_blob(world: World) -> None:
    target = f"{PUBLIC}/mount-{secrets.token_hex(4)}"
    layer = world.images[PRIVATE].layer
    response = mount(world, target, layer, f"{PRIVATE}/app", auth=world.accounts["developer"].basic)
    assert response.status_code == 201, describe(response)
    assert holds_blob(world, target, layer)


def test_mount_from_a_public_repository_links_the_blob(world: World) -> None:
    target = f"{OTHER}/mount-{secrets.token_hex(4)}"
    layer = world.images[PUBLIC].layer
    response = mount(
        world, target, layer, f"{PUBLIC}/app", auth=world.accounts["other-member"].basic
    )
    assert response.status_code == 201, describe(response)
    assert holds_blob(world, target, layer)


def test_mount_with_a_token_not_scoped_to_the_source_starts_an_upload(world: World) -> None:
    # The developer may read priv/app, but the token it holds does not say so.
    target = f"{PUBLIC}/mount-{secrets.token_hex(4)}"
    response = world.client.get(
        "/auth/token",
        params={"service": "cargobay", "scope": f"repository:{target}:pull,push"},
        auth=world.accounts["developer"].basic,
    )
    token = response.json()["token"]
    layer = world.images[PRIVATE].layer
    response = mount(
        world,
        target,
        layer,
        f"{PRIVATE}/app",
        auth=None,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, describe(response)
    assert not holds_blob(world, target, layer)


def test_an_upload_cannot_be_continued_through_another_repository(world: World) -> None:
    # other-member may push to other/app, not to priv/app where the upload was started.
    session = _upload_session(world, PRIVATE)
    upload_id = session.rsplit("/", 1)[1].partition("?")[0]
    response = world.client.patch(
        f"/v2/{OTHER}/app/blobs/uploads/{upload_id}",
        content=b"smuggled",
        headers={"Content-Type": "application/octet-stream"},
        auth=world.accounts["other-member"].basic,
    )
    assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")


# -- the same on PostgreSQL --------------------------------------------------------------------

SLICE_CALLERS = ["anonymous", "limited-guest", "maintainer", "robot-push", "other-member"]


@pytest.mark.parametrize("database", ["postgresql"])
def test_the_policy_holds_on_postgresql(settings: Any, database: str) -> None:
    with running(settings) as client:
        world = build_world(client)
        cases = {
            f"{caller}-{visibility}-{case}": (CALLERS[caller], VISIBILITIES[visibility], case)
            for caller in SLICE_CALLERS
            for visibility in VISIBILITIES
            for case in REQUESTS
            if not case.endswith("-head")
        }

        def check(case: tuple[Caller, str, str]) -> None:
            caller, project, name = case
            call = REQUESTS[name][1](world, project)
            response = send(world, call, auth=world.auth(caller, project))
            sent = caller.name != "anonymous"
            assert_answer(world, caller, project, call, response, sent_credentials=sent)

        check_each(cases, check)
