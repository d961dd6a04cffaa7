"""Accounts for the auth tests: users, projects, members, groups, robots and personal tokens.

Written straight into the metadata database (AccessStore where it has a method, SQLAlchemy
Core inserts elsewhere) because the management API that will create them is being built
on another branch. Keep this module small and obviously correct: the tests' trust in their
own setup rests on it. It can later be replaced by the Accounts service.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import Executable, insert, update
from starlette.applications import Starlette

from cargobay.auth.passwords import (
    ROBOT_PREFIX,
    TOKEN_PREFIX,
    new_secret,
    secret_hash,
)
from cargobay.auth.policy import Role
from cargobay.auth.principal import Grant
from cargobay.metadata.access_store import AccessStore, ProjectRecord
from cargobay.metadata.models import (
    AccessToken,
    Group,
    GroupMember,
    ProjectMember,
    Robot,
    User,
    utcnow,
)

# argon2 reads its parameters from the hash it verifies, so cheap hashes exercise the very
# same login code; production's (64 MiB, t=3) costs ~0.3 s per user, for nothing here.
_cheap_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass(frozen=True)
class Account:
    """A user and the password it logs in with."""

    id: int
    name: str
    password: str

    @property
    def basic(self) -> tuple[str, str]:
        return (self.name, self.password)


@dataclass(frozen=True)
class Credential:
    """A robot or a personal token: `username` and `secret` are its Basic credentials."""

    id: int
    username: str
    secret: str

    @property
    def basic(self) -> tuple[str, str]:
        return (self.username, self.secret)


class Population:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.store: AccessStore = app.state.access.store

    def _changed(self) -> None:
        # The access service caches accounts; a write must empty it, as the API's writes do.
        self.app.state.access.cache.invalidate()

    def _execute(self, statement: Executable) -> None:
        with self.store.engine.begin() as connection:
            connection.execute(statement)

    def _insert(self, statement: Executable) -> int:
        """Run an INSERT ... RETURNING id and return the id."""
        with self.store.engine.begin() as connection:
            return int(connection.execute(statement).scalar_one())

    def user(self, name: str, *, admin: bool = False) -> Account:
        password = f"{name}-password-for-tests"
        user_id = self.store.create_user(name, _cheap_hasher.hash(password), is_admin=admin)
        self._changed()
        return Account(user_id, name, password)

    def project(self, name: str, *, public: bool = False) -> ProjectRecord:
        record = self.store.create_project(name, public=public, created_by="tests")
        self._changed()
        return record

    def member(
        self,
        project: ProjectRecord,
        role: Role,
        *,
        user: Account | None = None,
        group: int | None = None,
    ) -> None:
        assert (user is None) != (group is None), "a member is a user or a group"
        self._execute(
            insert(ProjectMember).values(
                project_id=project.id,
                user_id=user.id if user else None,
                group_id=group,
                role=role.value,
                created_at=utcnow(),
            )
        )
        self._changed()

    def group(self, name: str, members: Iterable[Account]) -> int:
        group_id = self._insert(
            insert(Group).values(name=name, source="ldap", created_at=utcnow()).returning(Group.id)
        )
        for account in members:
            self._execute(insert(GroupMember).values(group_id=group_id, user_id=account.id))
        self._changed()
        return group_id

    def robot(
        self,
        name: str,
        grants: Iterable[Grant],
        *,
        project: ProjectRecord | None = None,
        expires_at: datetime | None = None,
    ) -> Credential:
        """A robot (of `project`, or a system robot); it logs in as `robot$<name>`."""
        secret = new_secret(ROBOT_PREFIX)
        robot_id = self._insert(
            insert(Robot)
            .values(
                name=name,
                project_id=project.id if project else None,
                secret_hash=secret_hash(secret),
                permissions=json.dumps([grant.to_json() for grant in grants]),
                expires_at=expires_at,
                revoked=False,
                created_by="tests",
                created_at=utcnow(),
            )
            .returning(Robot.id)
        )
        self._changed()
        return Credential(robot_id, f"robot${name}", secret)

    def token(
        self,
        owner: Account,
        name: str,
        grants: Iterable[Grant],
        *,
        expires_at: datetime | None = None,
    ) -> Credential:
        """A personal access token of `owner`; it logs in as the owner with the secret."""
        secret = new_secret(TOKEN_PREFIX)
        token_id = self._insert(
            insert(AccessToken)
            .values(
                user_id=owner.id,
                name=name,
                secret_hash=secret_hash(secret),
                permissions=json.dumps([grant.to_json() for grant in grants]),
                expires_at=expires_at,
                revoked=False,
                created_at=utcnow(),
            )
            .returning(AccessToken.id)
        )
        self._changed()
        return Credential(token_id, owner.name, secret)

    def revoke_robot(self, robot: Credential) -> None:
        self._execute(update(Robot).where(Robot.id == robot.id).values(revoked=True))
        self._changed()

    def expire_robot(self, robot: Credential) -> None:
        past = utcnow() - timedelta(seconds=1)
        self._execute(update(Robot).where(Robot.id == robot.id).values(expires_at=past))
        self._changed()

    def revoke_token(self, token: Credential) -> None:
        self._execute(update(AccessToken).where(AccessToken.id == token.id).values(revoked=True))
        self._changed()

    def disable_user(self, account: Account) -> None:
        self._execute(update(User).where(User.id == account.id).values(disabled=True))
        self._changed()
