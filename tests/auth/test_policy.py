"""The policy as data (roles, actions, Docker scopes) and Principal.allowed for each kind."""

from __future__ import annotations

import itertools

import pytest

from cargobay.auth.policy import (
    MATRIX,
    PUBLIC,
    SCOPE_ACTIONS,
    Action,
    Role,
    scope_action,
    scope_actions_allowed,
    stronger,
)
from cargobay.auth.principal import (
    ANONYMOUS,
    Grant,
    Kind,
    Principal,
    Project,
    grants_for,
    project_of,
)

OPEN = Project(1, "open", public=True)
CLOSED = Project(2, "closed", public=False)
ELSEWHERE = Project(3, "elsewhere", public=False)
EVERYTHING = frozenset(Action)
ROLES = list(Role)  # strongest first
MANAGE = {
    Action.MANAGE_MEMBERS,
    Action.MANAGE_ROBOTS,
    Action.MANAGE_SETTINGS,
    Action.MANAGE_IMMUTABILITY,
}


def member(role: Role, project: Project = CLOSED, **options: object) -> Principal:
    return Principal(Kind.USER, "someone", 7, roles={project.name: role}, **options)  # type: ignore[arg-type]


def robot(*grants: Grant) -> Principal:
    return Principal(Kind.ROBOT, "closed+ci", 9, grants=grants)


# -- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), list(itertools.product(ROLES, ROLES)))
def test_stronger_picks_the_role_listed_first(a: Role, b: Role) -> None:
    expected = a if ROLES.index(a) <= ROLES.index(b) else b
    assert stronger(a, b) is expected
    assert stronger(b, a) is expected


@pytest.mark.parametrize("role", ROLES)
def test_stronger_than_no_role_is_the_role(role: Role) -> None:
    assert stronger(role, None) is role
    assert stronger(None, role) is role


def test_stronger_of_no_roles_is_none() -> None:
    assert stronger(None, None) is None


@pytest.mark.parametrize(("weaker", "strong"), [(ROLES[i + 1], ROLES[i]) for i in range(4)])
def test_a_stronger_role_may_do_everything_a_weaker_one_may(weaker: Role, strong: Role) -> None:
    assert MATRIX[weaker] < MATRIX[strong]


def test_only_project_admins_manage_the_project() -> None:
    assert {role for role in Role if MATRIX[role] & MANAGE} == {Role.ADMIN}
    assert MATRIX[Role.ADMIN] == EVERYTHING


def test_anyone_may_pull_and_list_a_public_project() -> None:
    assert {Action.PULL, Action.LIST} == PUBLIC


# -- Docker scopes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "scope"),
    [
        (Action.PULL, "pull"),
        (Action.LIST, "pull"),
        (Action.PUSH, "push"),
        (Action.DELETE_TAG, "delete"),
        (Action.DELETE_ARTIFACT, "delete"),
        (Action.MANAGE_MEMBERS, None),
        (Action.MANAGE_ROBOTS, None),
        (Action.MANAGE_SETTINGS, None),
        (Action.LABEL, None),
        (Action.ROLLBACK, None),
        (Action.PROMOTE, None),
        (Action.MANAGE_RETENTION, None),
        (Action.MANAGE_IMMUTABILITY, None),
    ],
)
def test_each_action_needs_one_docker_scope_action(action: Action, scope: str | None) -> None:
    assert scope_action(action) == scope


def test_scope_actions_never_overlap() -> None:
    for (a, first), (b, second) in itertools.combinations(SCOPE_ACTIONS.items(), 2):
        assert not first & second, (a, b)


@pytest.mark.parametrize(
    ("role", "scopes"),
    [
        (Role.LIMITED_GUEST, {"pull"}),
        (Role.GUEST, {"pull"}),
        (Role.DEVELOPER, {"pull", "push"}),
        (Role.MAINTAINER, {"pull", "push", "delete"}),
        (Role.ADMIN, {"pull", "push", "delete"}),
    ],
)
def test_a_role_is_granted_these_scope_actions(role: Role, scopes: set[str]) -> None:
    assert scope_actions_allowed(MATRIX[role]) == scopes


def test_nothing_allowed_grants_no_scope_action() -> None:
    assert scope_actions_allowed(frozenset()) == set()
    assert scope_actions_allowed(frozenset(MANAGE)) == set()


# -- projects and grants -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repository", "project"),
    [("team/app", "team"), ("team/sub/app", "team"), ("busybox", "library")],
)
def test_a_repository_belongs_to_the_project_named_by_its_first_component(
    repository: str, project: str
) -> None:
    assert project_of(repository) == project


def test_grants_for_a_project_join_its_own_and_the_wildcard_ones() -> None:
    grants = [
        Grant("closed", frozenset({Action.PULL})),
        Grant("*", frozenset({Action.LIST})),
        Grant("elsewhere", frozenset({Action.PUSH})),
    ]
    assert grants_for(grants, "closed") == {Action.PULL, Action.LIST}


def test_a_grant_survives_its_json_form() -> None:
    grant = Grant("closed", frozenset({Action.PULL, Action.PUSH}))
    assert Grant.from_json(grant.to_json()) == grant


@pytest.mark.parametrize(
    "data",
    [
        {"project": "closed", "actions": "pull"},
        {"project": "closed"},
        {"project": "closed", "actions": ["pull", "fly"]},
    ],
)
def test_a_malformed_grant_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Grant.from_json(data)


# -- Principal.allowed -------------------------------------------------------------------------


def test_anonymous_may_read_a_public_project() -> None:
    assert ANONYMOUS.allowed(OPEN) == PUBLIC


def test_anonymous_may_do_nothing_in_a_private_project() -> None:
    assert ANONYMOUS.allowed(CLOSED) == frozenset()


def test_no_one_but_an_administrator_acts_in_a_missing_project() -> None:
    assert ANONYMOUS.allowed(None) == frozenset()
    assert member(Role.ADMIN).allowed(None) == frozenset()
    assert robot(Grant("*", EVERYTHING)).allowed(None) == frozenset()
    assert Principal(Kind.USER, "root", 1, is_admin=True).allowed(None) == EVERYTHING


@pytest.mark.parametrize("role", ROLES)
def test_a_member_may_do_what_its_role_allows_in_its_project(role: Role) -> None:
    assert member(role).allowed(CLOSED) == MATRIX[role]


@pytest.mark.parametrize("role", ROLES)
def test_a_member_may_also_read_a_public_project(role: Role) -> None:
    assert member(role, OPEN).allowed(OPEN) == MATRIX[role] | PUBLIC


@pytest.mark.parametrize("role", ROLES)
def test_a_member_may_do_nothing_in_another_private_project(role: Role) -> None:
    assert member(role).allowed(ELSEWHERE) == frozenset()


def test_a_system_administrator_may_do_everything_everywhere() -> None:
    admin = Principal(Kind.USER, "root", 1, is_admin=True)
    assert admin.allowed(CLOSED) == EVERYTHING
    assert admin.allowed(OPEN) == EVERYTHING


def test_a_robot_may_do_only_what_it_was_granted() -> None:
    ci = robot(Grant("closed", frozenset({Action.PULL, Action.PUSH})))
    assert ci.allowed(CLOSED) == {Action.PULL, Action.PUSH}
    assert ci.allowed(ELSEWHERE) == frozenset()


def test_a_robots_wildcard_grant_applies_to_every_project() -> None:
    ci = robot(Grant("*", frozenset({Action.PULL})))
    assert ci.allowed(CLOSED) == {Action.PULL}
    assert ci.allowed(ELSEWHERE) == {Action.PULL}


def test_a_robot_may_read_a_public_project_without_a_grant() -> None:
    assert robot().allowed(OPEN) == PUBLIC


def test_a_robot_on_a_public_project_adds_its_grants_to_reading() -> None:
    ci = robot(Grant("open", frozenset({Action.PUSH})))
    assert ci.allowed(OPEN) == PUBLIC | {Action.PUSH}


def test_a_robot_is_never_an_administrator_by_role() -> None:
    # Robots have no memberships: a role under their name must not count.
    ci = Principal(Kind.ROBOT, "closed+ci", 9, roles={"closed": Role.ADMIN}, grants=())
    assert ci.allowed(CLOSED) == frozenset()


def test_a_personal_token_narrows_its_owners_role() -> None:
    token = member(Role.DEVELOPER, grants=(Grant("closed", frozenset({Action.PULL})),))
    assert token.allowed(CLOSED) == {Action.PULL}


def test_a_personal_token_cannot_widen_its_owners_role() -> None:
    token = member(
        Role.GUEST, grants=(Grant("closed", frozenset({Action.PUSH, Action.DELETE_TAG})),)
    )
    assert token.allowed(CLOSED) == frozenset()


def test_a_personal_token_without_a_grant_for_the_project_allows_nothing_there() -> None:
    token = member(Role.MAINTAINER, grants=(Grant("elsewhere", EVERYTHING),))
    assert token.allowed(CLOSED) == frozenset()


def test_a_personal_token_with_no_grants_allows_only_public_reads() -> None:
    token = member(Role.MAINTAINER, OPEN, grants=())
    assert token.allowed(OPEN) == PUBLIC


def test_a_wildcard_personal_token_keeps_its_owners_role() -> None:
    token = member(Role.MAINTAINER, grants=(Grant("*", EVERYTHING),))
    assert token.allowed(CLOSED) == MATRIX[Role.MAINTAINER]


def test_an_administrators_personal_token_is_narrowed_too() -> None:
    token = Principal(
        Kind.USER, "root", 1, is_admin=True, grants=(Grant("closed", frozenset({Action.PULL})),)
    )
    assert token.allowed(CLOSED) == {Action.PULL}
    assert token.allowed(ELSEWHERE) == frozenset()
    assert token.allowed(None) == frozenset()


def test_an_administrators_wildcard_token_may_act_in_a_missing_project() -> None:
    token = Principal(
        Kind.USER, "root", 1, is_admin=True, grants=(Grant("*", frozenset({Action.PUSH})),)
    )
    assert token.allowed(None) == {Action.PUSH}


def test_how_tokens_and_logs_name_each_kind_of_caller() -> None:
    assert ANONYMOUS.subject == ""
    assert member(Role.GUEST).subject == "someone"
    assert robot().subject == "robot:closed+ci"
    assert not ANONYMOUS.authenticated and robot().authenticated
