"""Master key rotation: a new key, and every secret re-encrypted under it in one transaction.

With a key file the order is chosen so that a crash at any point leaves every secret
readable by `load_box`:

1. Secrets still sealed under the previous key (an earlier rotation that was interrupted)
   are re-encrypted under the current one, so forgetting the previous key loses nothing.
2. The current key becomes `master.key.previous`, then the new key becomes `master.key`,
   each file replaced atomically (temporary file 0600, fsync, rename).
3. Every secret is re-encrypted under the new key in one transaction.

A crash between 2 and 3 leaves the secrets under what is now the previous key, which
`load_box` still loads; running the rotation again finishes the job. (Re-encrypting first
and renaming after would leave the database under a key found in no key file.)

With the key in CARGOBAY_MASTER_KEY there is no file to replace: the caller shows the new
key to the operator before the transaction, so it cannot be lost once secrets use it.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cargobay.auth.secrets import (
    MasterKeyError,
    SecretBox,
    decode_key,
    generate_key,
    key_file_path,
    key_id,
    previous_key_path,
    read_key_file,
    replace_key_file,
)
from cargobay.config import Settings
from cargobay.metadata.secret_store import SecretStore

LOCK_FILE = ".master-key-rotation.lock"


@dataclass(frozen=True, slots=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    reencrypted: int
    key_file: Path | None  # None when the key is in the environment


def _check_new_key(current: bytes, new_key: bytes) -> None:
    if key_id(new_key) == key_id(current):
        raise MasterKeyError("the new master key is the current one")


def rotate_key_file(settings: Settings, store: SecretStore, new_key: bytes | None) -> Rotation:
    """Rotate the key kept in `master_key_file` (or `<data_dir>/master.key`)."""
    path = key_file_path(settings)
    with _rotation_lock(settings):
        current = read_key_file(path)
        previous_path = previous_key_path(path)
        previous = [read_key_file(previous_path)] if previous_path.exists() else []
        new_key = new_key or generate_key()
        _check_new_key(current, new_key)
        if store.key_ids() - {key_id(current)}:
            store.reencrypt_all(SecretBox(current, previous), SecretBox(current))
        replace_key_file(previous_path, current)
        replace_key_file(path, new_key)
        count = store.reencrypt_all(SecretBox(new_key, [current]), SecretBox(new_key))
    return Rotation(key_id(current), key_id(new_key), count, path)


def rotate_environment_key(settings: Settings, store: SecretStore, new_key: bytes) -> Rotation:
    """Re-encrypt under `new_key` the secrets sealed under CARGOBAY_MASTER_KEY.

    The caller must have shown `new_key` to the operator already: after this commits,
    nothing else holds it.
    """
    if settings.master_key is None:
        raise MasterKeyError("no master key in the environment (CARGOBAY_MASTER_KEY)")
    current = decode_key(settings.master_key.get_secret_value(), "CARGOBAY_MASTER_KEY")
    _check_new_key(current, new_key)
    with _rotation_lock(settings):
        count = store.reencrypt_all(SecretBox(current), SecretBox(new_key))
    return Rotation(key_id(current), key_id(new_key), count, None)


@contextlib.contextmanager
def _rotation_lock(settings: Settings) -> Iterator[None]:
    """Two rotations on one host at once would each demote the other's key."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
