"""The permission matrix: which role may do what in a project. Every route asks here.

The matrix is data, written once; docs/access-control.md shows the same table and
tests/auth/test_policy.py checks that the two agree.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A member's role in one project, strongest first."""

    ADMIN = "admin"
    MAINTAINER = "maintainer"
    DEVELOPER = "developer"
    GUEST = "guest"
    LIMITED_GUEST = "limited_guest"


class Action(StrEnum):
    """What a request does to a project; robots and tokens are granted these by name."""

    PULL = "pull"  # read manifests, blobs and referrers
    LIST = "list"  # list tags, see the repositories in the catalog and the API
    PUSH = "push"  # upload blobs, push manifests and tags
    DELETE_TAG = "delete_tag"
    DELETE_ARTIFACT = "delete_artifact"  # delete a manifest (with its tags) or a blob link
    MANAGE_MEMBERS = "manage_members"
    MANAGE_ROBOTS = "manage_robots"
    MANAGE_SETTINGS = "manage_settings"  # visibility, description, stages, floating tags
    LABEL = "label"  # add and remove labels on artifacts
    ROLLBACK = "rollback"  # restore tags from their history
    PROMOTE = "promote"  # promote an artifact into this project (reading the source too)
    MANAGE_RETENTION = "manage_retention"  # retention policies and their runs
    MANAGE_IMMUTABILITY = "manage_immutability"  # the rules that protect tags


ALL_ACTIONS = frozenset(Action)
_READ = frozenset({Action.PULL, Action.LIST})
_WRITE = _READ | {Action.PUSH, Action.LABEL}

MATRIX: dict[Role, frozenset[Action]] = {
    Role.ADMIN: ALL_ACTIONS,
    Role.MAINTAINER: _WRITE
    | {
        Action.DELETE_TAG,
        Action.DELETE_ARTIFACT,
        Action.ROLLBACK,
        Action.PROMOTE,
        Action.MANAGE_RETENTION,
    },
    Role.DEVELOPER: _WRITE,
    Role.GUEST: _READ,
    Role.LIMITED_GUEST: frozenset({Action.PULL}),
}

#: What everyone, anonymous included, may do in a public project.
PUBLIC = _READ

_STRENGTH = {role: rank for rank, role in enumerate(Role)}


def stronger(a: Role | None, b: Role | None) -> Role | None:
    """The stronger of two roles (a user's own and one through a group)."""
    if a is None or b is None:
        return a or b
    return a if _STRENGTH[a] <= _STRENGTH[b] else b


# -- Docker token scopes ---------------------------------------------------------------------
# A token's `access` claim speaks Docker's three actions; the policy is finer. A scope action
# is granted when the account may do its first action here (pull covers listing, delete both
# kinds of delete); the route then asks the policy for the exact action.

SCOPE_ACTIONS: dict[str, frozenset[Action]] = {
    "pull": _READ,
    "push": frozenset({Action.PUSH}),
    "delete": frozenset({Action.DELETE_TAG, Action.DELETE_ARTIFACT}),
}


def scope_action(action: Action) -> str | None:
    """The Docker scope action a token needs for `action` (None: not a registry action)."""
    for name, actions in SCOPE_ACTIONS.items():
        if action in actions:
            return name
    return None


def scope_actions_allowed(allowed: frozenset[Action]) -> set[str]:
    """The Docker scope actions that `allowed` grants ("pull", "push", "delete")."""
    return {name for name, actions in SCOPE_ACTIONS.items() if allowed & actions}
