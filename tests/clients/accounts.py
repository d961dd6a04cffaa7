"""Users, projects, members, robots and personal tokens for the login tests.

Written straight into a live registry's metadata database until the management API
(/api/v1) lands; each method is a stand-in for one API call and should become one. The rows
are what the registry itself writes (argon2 password hashes, SHA-256 of a robot's or token's
secret, permissions as JSON), so the server reads them as its own.

The server caches what it reads per process. With SQLite it learns of other writers through
the generation file beside the database, bumped here after every write; with PostgreSQL and
no Redis (the live_registry fixture) it caches nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, create_engine, insert, select, update

from cargobay.auth.passwords import (
    ROBOT_PREFIX,
    TOKEN_PREFIX,
    hash_password,
    new_secret,
    secret_hash,
)
from cargobay.metadata.models import AccessToken, Group, Project, ProjectMember, Robot, User
from cargobay.registry.cache import FileGeneration


class ServedRegistry(Protocol):
    @property
    def data_dir(self) -> Path: ...

    @property
    def database_url(self) -> str | None: ...


def grant(project: str, *actions: str) -> dict[str, object]:
    """One entry of a robot's or token's permissions ("*": every project)."""
    return {"project": project, "actions": list(actions)}


class Accounts:
    def __init__(self, registry: ServedRegistry) -> None:
        sqlite = registry.database_url is None
        url = registry.database_url or f"sqlite:///{registry.data_dir / 'metadata.db'}"
        # The server writes to the same SQLite file: wait for its lock rather than fail.
        self.engine = create_engine(url, connect_args={"timeout": 30} if sqlite else {})
        self._generation = FileGeneration(registry.data_dir / "auth.generation") if sqlite else None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection
        # After the commit: a server reading in between would cache the old rows again.
        if self._generation is not None:
            self._generation.bump()

    def user(self, name: str, password: str, *, admin: bool = False) -> int:
        values = {"name": name, "password_hash": hash_password(password), "is_admin": admin}
        with self._write() as connection:
            return connection.execute(insert(User).values(values).returning(User.id)).scalar_one()

    def project(self, name: str, *, public: bool = False) -> int:
        with self._write() as connection:
            return connection.execute(
                insert(Project).values(name=name, public=public).returning(Project.id)
            ).scalar_one()

    def member(
        self, project: str, role: str, *, user: str | None = None, group: str | None = None
    ) -> None:
        """Give a user, or a (directory) group, a role in a project."""
        assert (user is None) != (group is None), "a member is a user or a group"
        with self._write() as connection:
            values: dict[str, object] = {
                "project_id": _project_id(connection, project),
                "role": role,
            }
            if user is not None:
                values["user_id"] = _user_id(connection, user)
            else:
                group_id = connection.scalar(select(Group.id).where(Group.name == group))
                if group_id is None:  # the directory's group, before anyone in it logged in
                    group_id = connection.execute(
                        insert(Group).values(name=group, source="ldap").returning(Group.id)
                    ).scalar_one()
                values["group_id"] = group_id
            connection.execute(insert(ProjectMember).values(values))

    def robot(
        self, name: str, permissions: list[dict[str, object]], *, project: str | None = None
    ) -> str:
        """Create a robot (of `project`, else a system robot); returns its secret."""
        secret = new_secret(ROBOT_PREFIX)
        with self._write() as connection:
            project_id = _project_id(connection, project) if project else None
            connection.execute(
                insert(Robot).values(
                    name=name,
                    project_id=project_id,
                    secret_hash=secret_hash(secret),
                    permissions=json.dumps(permissions),
                )
            )
        return secret

    def projects(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.scalars(select(Project.name).order_by(Project.name)))

    def revoke_robot(self, name: str) -> None:
        with self._write() as connection:
            connection.execute(update(Robot).where(Robot.name == name).values(revoked=True))

    def token(
        self,
        user: str,
        permissions: list[dict[str, object]],
        *,
        name: str = "test token",
        expires_at: datetime | None = None,
    ) -> str:
        """Create a personal access token of `user`; returns its secret."""
        secret = new_secret(TOKEN_PREFIX)
        with self._write() as connection:
            connection.execute(
                insert(AccessToken).values(
                    user_id=_user_id(connection, user),
                    name=name,
                    secret_hash=secret_hash(secret),
                    permissions=json.dumps(permissions),
                    expires_at=expires_at,
                )
            )
        return secret


def _project_id(connection: Connection, name: str) -> int:
    found = connection.scalar(select(Project.id).where(Project.name == name))
    assert found is not None, f"no project {name!r}"
    return found


def _user_id(connection: Connection, name: str) -> int:
    found = connection.scalar(select(User.id).where(User.name == name))
    assert found is not None, f"no user {name!r}"
    return found
