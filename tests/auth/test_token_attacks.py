"""Docker token authentication: what the token endpoint grants, and what /v2 refuses.

Every forged, stolen, stretched or stale token is refused with 401 UNAUTHORIZED (or 403
DENIED where the caller is known but not allowed) in the OCI error format, never a 500.
Forgeries are checked against a control: the same claims, signed properly, do get in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from cargobay.auth.policy import Action, Role
from cargobay.auth.principal import Grant
from cargobay.auth.tokens import key_id
from cargobay.metadata.models import utcnow
from conformance.helpers import assert_error, check_each, describe, push_image
from liveserver import ADMIN

from .population import Account, Credential, Population

PRIVATE, PUBLIC, OTHER = "priv", "pub", "other"
REPO = f"{PRIVATE}/app"


@dataclass
class Registry:
    client: TestClient
    people: Population
    developer: Account  # developer of priv and of other
    guest: Account  # guest of priv


def populate(client: TestClient) -> Registry:
    people = Population(client.app)
    projects = {
        PRIVATE: people.project(PRIVATE),
        PUBLIC: people.project(PUBLIC, public=True),
        OTHER: people.project(OTHER),
    }
    for name in projects:
        push_image(client, f"{name}/app", "v1")
    developer = people.user(f"dev-{secrets.token_hex(3)}")
    people.member(projects[PRIVATE], Role.DEVELOPER, user=developer)
    people.member(projects[OTHER], Role.DEVELOPER, user=developer)
    guest = people.user(f"guest-{secrets.token_hex(3)}")
    people.member(projects[PRIVATE], Role.GUEST, user=guest)
    return Registry(client, people, developer, guest)


@pytest.fixture(scope="module")
def registry(module_client: TestClient) -> Registry:
    return populate(module_client)


@pytest.fixture
def fresh(client: TestClient) -> Registry:
    """A registry of its own, on each database: for tests that revoke or disable."""
    return populate(client)


# -- helpers -----------------------------------------------------------------------------------


def get_token(
    client: TestClient, auth: tuple[str, str] | None, *scopes: str, **params: str
) -> httpx.Response:
    query = [("service", "cargobay"), *(("scope", scope) for scope in scopes), *params.items()]
    return client.get("/auth/token", params=query, auth=auth)


def token_for(client: TestClient, auth: tuple[str, str] | None, *scopes: str) -> str:
    response = get_token(client, auth, *scopes)
    assert response.status_code == 200, describe(response)
    return str(response.json()["token"])


def claims_of(token: str) -> dict[str, Any]:
    """The token's claims as the client sees them (the registry checks the signature)."""
    return jwt.decode(token, options={"verify_signature": False})


def access_of(token: str) -> dict[str, list[str]]:
    return {entry["name"]: entry["actions"] for entry in claims_of(token)["access"]}


def with_bearer(
    client: TestClient, method: str, path: str, token: str, **options: Any
) -> httpx.Response:
    headers = {**options.pop("headers", {}), "Authorization": f"Bearer {token}"}
    return client.request(method, path, headers=headers, auth=None, **options)


def pull(client: TestClient, token: str, repository: str = REPO) -> httpx.Response:
    return with_bearer(client, "GET", f"/v2/{repository}/manifests/v1", token)


def start_push(client: TestClient, token: str, repository: str = REPO) -> httpx.Response:
    return with_bearer(client, "POST", f"/v2/{repository}/blobs/uploads/", token, content=b"")


def assert_refused_token(response: httpx.Response) -> None:
    """401 UNAUTHORIZED, the OCI error body, and a challenge saying the token was refused."""
    assert_error(response, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in response.headers.get("www-authenticate", ""), describe(
        response
    )


# -- forged tokens -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_key(client: TestClient) -> ec.EllipticCurvePrivateKey:
    directory = client.app.state.settings.effective_token_keys_dir  # type: ignore[attr-defined]
    key = serialization.load_pem_private_key(sorted(directory.glob("*.pem"))[-1].read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def good_claims(subject: str, **changes: Any) -> dict[str, Any]:
    """The claims the registry itself would issue to `subject` for pulling priv/app."""
    now = int(time.time())
    claims = {
        "iss": "cargobay",
        "sub": subject,
        "aud": "cargobay",
        "exp": now + 300,
        "nbf": now - 1,
        "iat": now,
        "jti": secrets.token_urlsafe(8),
        "access": [{"type": "repository", "name": REPO, "actions": ["pull"]}],
        "cb_cred": "password",
        "cb_typ": "access",
    }
    claims.update(changes)
    return claims


def sign(
    client: TestClient, claims: dict[str, Any], key: ec.EllipticCurvePrivateKey | None = None
) -> str:
    key = key or signing_key(client)
    return jwt.encode(claims, key, "ES256", headers={"kid": key_id(key.public_key())})


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    return head + "." + _b64(signature)


def forge(kind: str, client: TestClient, subject: str) -> str:
    key = signing_key(client)
    kid = key_id(key.public_key())
    if kind == "tampered-signature":
        token = sign(client, good_claims(subject))
        head, _, signature = token.rpartition(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
        raw[-1] ^= 1
        return f"{head}.{_b64(bytes(raw))}"
    if kind == "tampered-claims":
        # A pull token whose access claim was widened to push after signing.
        token = sign(client, good_claims(subject))
        _, _, signature = token.split(".")
        wider = good_claims(
            subject, access=[{"type": "repository", "name": REPO, "actions": ["pull", "push"]}]
        )
        return (
            unsigned({"alg": "ES256", "typ": "JWT", "kid": kid}, wider).rpartition(".")[0]
            + "."
            + signature
        )
    if kind == "alg-none":
        return unsigned({"alg": "none", "typ": "JWT", "kid": kid}, good_claims(subject))
    if kind == "hs256-with-public-key":
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        body = unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, good_claims(subject))
        head = body.rpartition(".")[0]
        return head + "." + _b64(hmac.new(public_pem, head.encode(), hashlib.sha256).digest())
    if kind == "expired":
        now = int(time.time())
        return sign(client, good_claims(subject, iat=now - 600, nbf=now - 600, exp=now - 300))
    if kind == "wrong-audience":
        return sign(client, good_claims(subject, aud="another-registry"))
    if kind == "wrong-issuer":
        return sign(client, good_claims(subject, iss="someone-else"))
    if kind == "unknown-kid":
        return sign(client, good_claims(subject), ec.generate_private_key(ec.SECP256R1()))
    if kind == "our-kid-another-key":
        stranger = ec.generate_private_key(ec.SECP256R1())
        return jwt.encode(good_claims(subject), stranger, "ES256", headers={"kid": kid})
    if kind == "refresh-token-type":
        return sign(client, good_claims(subject, cb_typ="refresh"))
    if kind == "no-expiry":
        claims = good_claims(subject)
        del claims["exp"]
        return sign(client, claims)
    raise AssertionError(kind)


FORGERIES = [
    "tampered-signature",
    "tampered-claims",
    "alg-none",
    "hs256-with-public-key",
    "expired",
    "wrong-audience",
    "wrong-issuer",
    "unknown-kid",
    "our-kid-another-key",
    "refresh-token-type",
    "no-expiry",
]


def test_a_properly_signed_token_with_these_claims_pulls(registry: Registry) -> None:
    # The control for every forgery below: only what was forged makes them fail.
    token = sign(registry.client, good_claims(registry.developer.name))
    assert pull(registry.client, token).status_code == 200


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_token_is_refused(registry: Registry, forgery: str) -> None:
    token = forge(forgery, registry.client, registry.developer.name)
    assert_refused_token(pull(registry.client, token))


def test_tampered_claims_do_not_push(registry: Registry) -> None:
    token = forge("tampered-claims", registry.client, registry.developer.name)
    assert_refused_token(start_push(registry.client, token))


# -- tokens used where they do not belong ------------------------------------------------------


def test_token_for_one_repository_is_refused_on_another(registry: Registry) -> None:
    # The developer may pull other/app too, but this token was asked for priv/app only.
    token = token_for(registry.client, registry.developer.basic, f"repository:{REPO}:pull")
    assert pull(registry.client, token).status_code == 200
    response = pull(registry.client, token, f"{OTHER}/app")
    assert_error(response, 401, "UNAUTHORIZED")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert f'scope="repository:{OTHER}/app:pull"' in response.headers["www-authenticate"]


def test_token_for_a_repository_is_refused_on_its_sibling(registry: Registry) -> None:
    token = token_for(registry.client, registry.developer.basic, f"repository:{REPO}:pull")
    assert_error(pull(registry.client, token, f"{PRIVATE}/sibling"), 401, "UNAUTHORIZED")


def test_asking_for_push_where_only_pull_is_allowed_grants_pull_only(registry: Registry) -> None:
    token = token_for(registry.client, registry.guest.basic, f"repository:{REPO}:pull,push")
    assert access_of(token) == {REPO: ["pull"]}
    assert pull(registry.client, token).status_code == 200
    assert_error(start_push(registry.client, token), 403, "DENIED")


def test_asking_for_every_action_grants_only_the_allowed_ones(registry: Registry) -> None:
    token = token_for(registry.client, registry.guest.basic, f"repository:{REPO}:*")
    assert access_of(token) == {REPO: ["pull"]}
    assert_error(start_push(registry.client, token), 403, "DENIED")


def test_asking_for_everything_anonymously_grants_nothing_in_a_private_project(
    registry: Registry,
) -> None:
    token = token_for(registry.client, None, f"repository:{REPO}:*")
    assert access_of(token) == {}
    assert_error(pull(registry.client, token), 401, "UNAUTHORIZED")


def test_a_pull_token_does_not_delete(registry: Registry) -> None:
    token = token_for(registry.client, registry.developer.basic, f"repository:{REPO}:pull")
    response = with_bearer(registry.client, "DELETE", f"/v2/{REPO}/manifests/v1", token)
    assert_error(response, 403, "DENIED")


def test_a_refresh_token_is_not_an_access_token(registry: Registry) -> None:
    response = get_token(
        registry.client, registry.developer.basic, f"repository:{REPO}:pull", offline_token="true"
    )
    assert_refused_token(pull(registry.client, response.json()["refresh_token"]))


def test_an_access_token_is_not_a_refresh_token(registry: Registry) -> None:
    token = token_for(registry.client, registry.developer.basic, f"repository:{REPO}:pull")
    response = registry.client.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "service": "cargobay"},
        auth=None,
    )
    # The OAuth2 grant answers in OAuth2's error format, as docker and containerd expect.
    assert response.status_code == 401, describe(response)
    assert response.json()["error"] == "invalid_grant"


# -- accounts that changed after the token was issued ------------------------------------------


def test_a_revoked_robots_token_is_refused(fresh: Registry) -> None:
    people, client = fresh.people, fresh.client
    project = people.store.project(PRIVATE)
    assert project is not None
    robot = people.robot(
        "priv+ci", [Grant(PRIVATE, frozenset({Action.PULL, Action.PUSH}))], project=project
    )
    token = token_for(client, robot.basic, f"repository:{REPO}:pull")
    assert pull(client, token).status_code == 200
    people.revoke_robot(robot)
    assert_refused_token(pull(client, token))
    assert_error(get_token(client, robot.basic, f"repository:{REPO}:pull"), 401, "UNAUTHORIZED")


def test_an_expired_robots_token_is_refused(fresh: Registry) -> None:
    people, client = fresh.people, fresh.client
    project = people.store.project(PRIVATE)
    assert project is not None
    robot = people.robot("priv+ci", [Grant(PRIVATE, frozenset({Action.PULL}))], project=project)
    token = token_for(client, robot.basic, f"repository:{REPO}:pull")
    people.expire_robot(robot)
    assert_refused_token(pull(client, token))
    assert_error(client.get(f"/v2/{REPO}/manifests/v1", auth=robot.basic), 401, "UNAUTHORIZED")


def test_a_robot_created_expired_cannot_log_in(registry: Registry) -> None:
    project = registry.people.store.project(PRIVATE)
    robot = registry.people.robot(
        f"priv+old-{secrets.token_hex(3)}",
        [Grant(PRIVATE, frozenset({Action.PULL}))],
        project=project,
        expires_at=utcnow() - timedelta(days=1),
    )
    response = get_token(registry.client, robot.basic, f"repository:{REPO}:pull")
    assert_error(response, 401, "UNAUTHORIZED")


def test_a_revoked_personal_tokens_bearer_token_is_refused(fresh: Registry) -> None:
    people, client = fresh.people, fresh.client
    personal = people.token(
        fresh.developer, "laptop", [Grant("*", frozenset({Action.PULL, Action.PUSH}))]
    )
    token = token_for(client, personal.basic, f"repository:{REPO}:pull")
    assert pull(client, token).status_code == 200
    people.revoke_token(personal)
    assert_refused_token(pull(client, token))
    assert_error(client.get(f"/v2/{REPO}/manifests/v1", auth=personal.basic), 401, "UNAUTHORIZED")


def test_a_disabled_users_token_is_refused(fresh: Registry) -> None:
    people, client = fresh.people, fresh.client
    token = token_for(client, fresh.developer.basic, f"repository:{REPO}:pull")
    assert pull(client, token).status_code == 200
    people.disable_user(fresh.developer)
    assert_refused_token(pull(client, token))
    response = client.get(f"/v2/{REPO}/manifests/v1", auth=fresh.developer.basic)
    assert_error(response, 401, "UNAUTHORIZED")


def test_a_disabled_users_refresh_token_is_refused(fresh: Registry) -> None:
    people, client = fresh.people, fresh.client
    response = get_token(
        client, fresh.developer.basic, f"repository:{REPO}:pull", offline_token="true"
    )
    people.disable_user(fresh.developer)
    response = client.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": response.json()["refresh_token"]},
        auth=None,
    )
    assert response.status_code == 401, describe(response)


# -- malformed credentials ---------------------------------------------------------------------

MALFORMED = {
    "garbage base64": b"Basic !!!not-base64!!!",
    "no colon": b"Basic " + base64.b64encode(b"just-a-user"),
    "empty user": b"Basic " + base64.b64encode(b":password"),
    "not UTF-8": b"Basic " + base64.b64encode(b"\xff\xfe:\xff"),
    "non-ASCII header": b"Basic \xe9\xe9\xe9",
    "empty basic": b"Basic",
    "unknown scheme": b"Digest username=admin",
    "empty bearer": b"Bearer ",
    "bearer garbage": b"Bearer not.a.jwt",
    "bearer non-ASCII": b"Bearer \xe9.\xe9.\xe9",
}


@pytest.mark.parametrize(
    "path", ["/v2/", f"/v2/{REPO}/manifests/v1", f"/v2/{PUBLIC}/app/tags/list"]
)
def test_malformed_authorization_is_401_not_500(registry: Registry, path: str) -> None:
    def check(header: bytes) -> None:
        response = registry.client.get(path, headers={"Authorization": header}, auth=None)  # type: ignore[dict-item]
        assert_error(response, 401, "UNAUTHORIZED")

    check_each(MALFORMED, check)


def test_malformed_authorization_at_the_token_endpoint_is_401_not_500(registry: Registry) -> None:
    def check(header: bytes) -> None:
        response = registry.client.get(
            "/auth/token",
            params={"service": "cargobay", "scope": f"repository:{REPO}:pull"},
            headers={"Authorization": header},  # type: ignore[dict-item]
            auth=None,
        )
        assert_error(response, 401, "UNAUTHORIZED")

    check_each(MALFORMED, check)


# -- what the token endpoint gives -------------------------------------------------------------


def test_token_endpoint_answers_with_docker_token_fields(registry: Registry) -> None:
    response = get_token(registry.client, registry.developer.basic, f"repository:{REPO}:pull")
    assert response.status_code == 200, describe(response)
    document = response.json()
    assert document["token"] == document["access_token"]
    assert document["expires_in"] == 300
    issued = document["issued_at"]
    assert issued.endswith("Z") and abs(claims_of(document["token"])["iat"] - time.time()) < 60
    assert response.headers["cache-control"] == "no-store"
    assert "refresh_token" not in document


def test_token_endpoint_grants_several_scope_parameters(registry: Registry) -> None:
    token = token_for(
        registry.client,
        registry.developer.basic,
        f"repository:{REPO}:pull",
        f"repository:{OTHER}/app:pull,push",
    )
    assert access_of(token) == {REPO: ["pull"], f"{OTHER}/app": ["pull", "push"]}
    assert pull(registry.client, token).status_code == 200
    assert pull(registry.client, token, f"{OTHER}/app").status_code == 200


def test_one_scope_parameter_may_hold_several_scopes(registry: Registry) -> None:
    token = token_for(
        registry.client,
        registry.developer.basic,
        f"repository:{REPO}:pull repository:{OTHER}/app:pull",
    )
    assert access_of(token) == {REPO: ["pull"], f"{OTHER}/app": ["pull"]}


def test_access_claim_is_what_was_asked_and_is_allowed(registry: Registry) -> None:
    token = token_for(
        registry.client,
        registry.developer.basic,
        f"repository:{REPO}:pull,push,delete",  # developers may not delete
        f"repository:{PUBLIC}/app:pull,push",  # a public project: read only
        "repository:nowhere/app:pull",  # no such project
    )
    assert access_of(token) == {REPO: ["pull", "push"], f"{PUBLIC}/app": ["pull"]}


def test_offline_token_gives_a_refresh_token_that_gets_access_tokens(registry: Registry) -> None:
    response = get_token(
        registry.client, registry.developer.basic, f"repository:{REPO}:pull", offline_token="true"
    )
    refresh = response.json()["refresh_token"]
    response = registry.client.post(
        "/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "cargobay",
            "scope": f"repository:{REPO}:pull,push",
        },
        auth=None,
    )
    assert response.status_code == 200, describe(response)
    assert access_of(response.json()["access_token"]) == {REPO: ["pull", "push"]}
    assert pull(registry.client, response.json()["access_token"]).status_code == 200


def test_anonymous_callers_get_no_refresh_token(registry: Registry) -> None:
    response = get_token(
        registry.client, None, f"repository:{PUBLIC}/app:pull", offline_token="true"
    )
    assert response.status_code == 200
    assert "refresh_token" not in response.json()


def test_password_grant_gives_an_access_token(registry: Registry) -> None:
    response = registry.client.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": registry.developer.name,
            "password": registry.developer.password,
            "service": "cargobay",
            "scope": f"repository:{REPO}:pull",
        },
        auth=None,
    )
    assert response.status_code == 200, describe(response)
    assert pull(registry.client, response.json()["access_token"]).status_code == 200


def test_password_grant_with_a_wrong_password_is_refused(registry: Registry) -> None:
    response = registry.client.post(
        "/auth/token",
        data={"grant_type": "password", "username": registry.guest.name, "password": "wrong"},
        auth=None,
    )
    assert response.status_code == 401, describe(response)
    assert response.json()["error"] == "invalid_grant"


def test_anonymous_token_pulls_from_a_public_project(registry: Registry) -> None:
    token = token_for(registry.client, None, f"repository:{PUBLIC}/app:pull")
    assert access_of(token) == {f"{PUBLIC}/app": ["pull"]}
    assert pull(registry.client, token, f"{PUBLIC}/app").status_code == 200


def test_token_for_another_service_is_not_issued(registry: Registry) -> None:
    response = registry.client.get(
        "/auth/token", params={"service": "elsewhere"}, auth=registry.developer.basic
    )
    assert_error(response, 403, "DENIED")


def test_a_client_following_the_challenge_gets_in(registry: Registry) -> None:
    # What docker does: try, read the challenge, ask its realm for its scope, retry.
    client = registry.client
    first = client.get(f"/v2/{REPO}/manifests/v1", auth=None)
    assert first.status_code == 401
    params = dict(
        part.split("=", 1)
        for part in first.headers["www-authenticate"][len("Bearer ") :].split(",")
    )
    realm, service, scope = (params[k].strip('"') for k in ("realm", "service", "scope"))
    response = client.get(
        realm, params={"service": service, "scope": scope}, auth=registry.developer.basic
    )
    assert pull(client, response.json()["token"]).status_code == 200


def test_a_personal_tokens_grants_narrow_the_token(registry: Registry) -> None:
    # The developer may push to priv; this personal token lets it pull only.
    personal = registry.people.token(
        registry.developer,
        f"read-only-{secrets.token_hex(3)}",
        [Grant(PRIVATE, frozenset({Action.PULL, Action.LIST}))],
    )
    token = token_for(registry.client, personal.basic, f"repository:{REPO}:pull,push")
    assert access_of(token) == {REPO: ["pull"]}
    response = registry.client.post(f"/v2/{REPO}/blobs/uploads/", content=b"", auth=personal.basic)
    assert_error(response, 403, "DENIED")


# -- personal tokens and projects created on push ----------------------------------------------


def admin_token(registry: Registry, grants: list[Grant]) -> Credential:
    admin = registry.people.store.user(ADMIN[0])
    assert admin is not None
    owner = Account(admin.id, admin.name, ADMIN[1])
    return registry.people.token(owner, f"token-{secrets.token_hex(3)}", grants)


def test_an_administrators_pull_only_token_does_not_create_a_project_on_push(
    registry: Registry,
) -> None:
    personal = admin_token(registry, [Grant(PRIVATE, frozenset({Action.PULL}))])
    name = f"new-{secrets.token_hex(3)}"
    response = registry.client.post(
        f"/v2/{name}/app/blobs/uploads/", content=b"", auth=personal.basic
    )
    assert_error(response, 403, "DENIED")
    assert registry.people.store.project(name) is None


def test_an_administrators_pull_only_token_is_not_granted_push_on_a_missing_project(
    registry: Registry,
) -> None:
    personal = admin_token(registry, [Grant(PRIVATE, frozenset({Action.PULL}))])
    token = token_for(registry.client, personal.basic, "repository:brand-new/app:pull,push")
    assert access_of(token) == {}


def test_an_administrators_token_that_grants_push_everywhere_creates_a_project_on_push(
    registry: Registry,
) -> None:
    personal = admin_token(registry, [Grant("*", frozenset({Action.PULL, Action.PUSH}))])
    name = f"new-{secrets.token_hex(3)}"
    response = registry.client.post(
        f"/v2/{name}/app/blobs/uploads/", content=b"", auth=personal.basic
    )
    assert response.status_code == 202, describe(response)
    assert registry.people.store.project(name) is not None


# -- project robots ----------------------------------------------------------------------------


def test_a_project_robot_acts_only_in_its_own_project(registry: Registry) -> None:
    # Defence in depth: a project robot whose stored grants name every project (written
    # by a buggy or older API) must still be confined to the project that owns it.
    project = registry.people.store.project(PUBLIC)
    robot = registry.people.robot(
        f"pub+wide-{secrets.token_hex(3)}", [Grant("*", frozenset(Action))], project=project
    )
    response = registry.client.get(f"/v2/{REPO}/manifests/v1", auth=robot.basic)
    assert_error(response, 403, "DENIED")
