"""The `secrets` table: sealed values by name. Each public method is one transaction.

This layer stores what the box sealed and never sees a plaintext it keeps; only
`reencrypt_all` opens secrets, in memory, to seal them again under a new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cargobay.metadata.db import Writes, write_gate
from cargobay.metadata.models import Secret, utcnow


class Box(Protocol):
    """What `reencrypt_all` needs of a `cargobay.auth.secrets.SecretBox`."""

    def encrypt(self, name: str, plaintext: bytes) -> tuple[str, bytes]: ...

    def decrypt(self, name: str, key_id: str, blob: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class SealedSecret:
    key_id: str
    blob: bytes  # nonce + ciphertext + tag

    def __repr__(self) -> str:
        return f"SealedSecret(key_id={self.key_id!r}, blob=<{len(self.blob)} bytes>)"


class SecretStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._gate = write_gate(engine)
        self._write = Writes(engine, self._gate)
        self._sqlite = engine.dialect.name == "sqlite"
        upsert = (sqlite if self._sqlite else postgresql).insert(Secret)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=[Secret.name],
            set_={
                "key_id": upsert.excluded.key_id,
                "ciphertext": upsert.excluded.ciphertext,
                "updated_at": upsert.excluded.updated_at,
            },
        )

    def put(self, name: str, key_id: str, blob: bytes) -> None:
        with self._write() as connection:
            connection.execute(
                self._upsert,
                {"name": name, "key_id": key_id, "ciphertext": blob, "updated_at": utcnow()},
            )

    def get(self, name: str) -> SealedSecret | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(Secret.key_id, Secret.ciphertext).where(Secret.name == name)
            ).first()
        return None if row is None else SealedSecret(row.key_id, row.ciphertext)

    def delete(self, name: str) -> bool:
        with self._write() as connection:
            return connection.execute(delete(Secret).where(Secret.name == name)).rowcount > 0

    def names(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.scalars(select(Secret.name).order_by(Secret.name)))

    def key_ids(self) -> set[str]:
        """The keys that secrets are sealed under now (rotation checks it is only one)."""
        with self.engine.connect() as connection:
            return set(connection.scalars(select(Secret.key_id).distinct()))

    def reencrypt_all(self, old_box: Box, new_box: Box) -> int:
        """Open every secret with `old_box`, seal it with `new_box`: all or none. How many."""
        query = select(Secret.name, Secret.key_id, Secret.ciphertext).order_by(Secret.name)
        if not self._sqlite:
            # A put racing the rotation waits for it instead of being overwritten with the
            # value read here. (SQLite's writer holds the whole database already.)
            query = query.with_for_update()
        count = 0
        with self._write() as connection:
            for row in connection.execute(query).all():
                plaintext = old_box.decrypt(row.name, row.key_id, row.ciphertext)
                key_id, blob = new_box.encrypt(row.name, plaintext)
                connection.execute(
                    update(Secret)
                    .where(Secret.name == row.name)
                    .values(key_id=key_id, ciphertext=blob, updated_at=utcnow())
                )
                count += 1
        return count
