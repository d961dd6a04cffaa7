"""Who is asking, and what that lets them do in a given project."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cargobay.auth.policy import ALL_ACTIONS, MATRIX, PUBLIC, Action, Role

# Their home is oci.names (metadata needs them too); re-exported for the callers here.
from cargobay.oci.names import DEFAULT_PROJECT as DEFAULT_PROJECT
from cargobay.oci.names import project_of as project_of

ANY_PROJECT = "*"


class Kind(StrEnum):
    ANONYMOUS = "anonymous"
    USER = "user"
    ROBOT = "robot"


@dataclass(frozen=True, slots=True)
class Grant:
    """Actions a robot or a personal token is given in one project ("*": every project)."""

    project: str
    actions: frozenset[Action]

    def to_json(self) -> dict[str, object]:
        return {"project": self.project, "actions": sorted(self.actions)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Grant:
        actions = data.get("actions")
        if not isinstance(actions, list):
            raise ValueError("a permission needs a list of actions")
        return cls(str(data["project"]), frozenset(Action(a) for a in actions))


def grants_for(grants: Iterable[Grant], project: str) -> frozenset[Action]:
    found: frozenset[Action] = frozenset()
    for grant in grants:
        if grant.project in (project, ANY_PROJECT):
            found |= grant.actions
    return found


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    public: bool


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller (or the anonymous one) with everything needed to authorize.

    `grants` narrows what the account may do: a robot has only its grants; a user who
    authenticated with a personal access token has the intersection of its role and the
    token's grants. None means not narrowed (a password login).
    """

    kind: Kind
    name: str = ""
    id: int | None = None
    is_admin: bool = False
    roles: Mapping[str, Role] = field(default_factory=dict)
    grants: tuple[Grant, ...] | None = None
    token_id: int | None = None  # the personal access token used, if any

    @property
    def authenticated(self) -> bool:
        return self.kind is not Kind.ANONYMOUS

    @property
    def subject(self) -> str:
        """How tokens and logs name this caller: `alice`, `robot:team-a+ci`, or ``""``."""
        return f"robot:{self.name}" if self.kind is Kind.ROBOT else self.name

    def allowed(self, project: Project | None) -> frozenset[Action]:
        """Every action this caller may take in `project` (None: a project that does not exist)."""
        if project is None:
            # Only an administrator may act in a project that does not exist (auto-creation).
            base = ALL_ACTIONS if self.is_admin else frozenset()
            return base & grants_for(self.grants, "") if self.grants is not None else base
        public = PUBLIC if project.public else frozenset()
        if self.kind is Kind.ROBOT:
            return public | grants_for(self.grants or (), project.name)
        if self.is_admin:
            own = ALL_ACTIONS
        else:
            role = self.roles.get(project.name)
            own = MATRIX[role] if role else frozenset()
        if self.grants is not None:
            own &= grants_for(self.grants, project.name)
        return public | own

    def can(self, project: Project | None, action: Action) -> bool:
        return action in self.allowed(project)


ANONYMOUS = Principal(Kind.ANONYMOUS)
