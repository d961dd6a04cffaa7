"""The master key and the box that encrypts secrets under it (AES-256-GCM).

A secret is sealed as nonce (12 random bytes) + ciphertext + tag, with its name as
associated data: a ciphertext copied onto another name does not decrypt. Each ciphertext is
stored with the id of the key that sealed it, so that after a rotation the previous key is
still found for anything not yet re-encrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cargobay.config import Settings
from cargobay.metadata.secret_store import SecretStore

logger = logging.getLogger("cargobay.secrets")

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_FILE = "master.key"
PREVIOUS_SUFFIX = ".previous"


class SecretsError(Exception):
    """Base of the errors about the master key and encrypted secrets; never holds key bytes."""


class MasterKeyError(SecretsError):
    """The master key is missing, malformed or cannot be read."""


class UnknownKeyId(SecretsError):
    """A secret was sealed under a key this process does not have."""


class DecryptionFailed(SecretsError):
    """The ciphertext was altered, or belongs to another secret name."""


def key_id(key: bytes) -> str:
    """A public name for a key: it tells which key sealed a secret without revealing it."""
    return hashlib.sha256(key).hexdigest()[:16]


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, source: str) -> bytes:
    """The key from its base64 form; `source` names where it came from, for the error."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"master key from {source} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(
            f"master key from {source} is {len(key)} bytes; it must be {KEY_BYTES} (base64)"
        )
    return key


class SecretBox:
    """Encrypts under the current key; decrypts under any key it holds, chosen by key id."""

    def __init__(self, key: bytes, previous: Iterable[bytes] = ()) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"a master key is {KEY_BYTES} bytes")
        self._key_id = key_id(key)
        self._ciphers: dict[str, AESGCM] = {}
        for older in previous:
            self._ciphers[key_id(older)] = AESGCM(older)
        self._ciphers[self._key_id] = AESGCM(key)

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def encrypt(self, name: str, plaintext: bytes) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[self._key_id].encrypt(nonce, plaintext, name.encode())
        return self._key_id, nonce + sealed

    def decrypt(self, name: str, key_id: str, blob: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyId(
                f"secret {name!r} is encrypted under master key {key_id}, which this node does "
                f"not have (it has {', '.join(sorted(self._ciphers))}); every node must use "
                "the same master key"
            )
        try:
            if len(blob) < NONCE_BYTES + TAG_BYTES:
                raise InvalidTag  # truncated: AESGCM would complain about the nonce instead
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], name.encode())
        except InvalidTag:
            raise DecryptionFailed(
                f"secret {name!r} does not decrypt: altered, or copied from another name"
            ) from None

    def __repr__(self) -> str:
        return f"SecretBox(key_id={self._key_id!r}, key_ids={sorted(self._ciphers)!r})"


# -- key files -----------------------------------------------------------------------------


def key_file_path(settings: Settings) -> Path:
    return settings.master_key_file or settings.data_dir / KEY_FILE


def previous_key_path(path: Path) -> Path:
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise MasterKeyError(f"master key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterKeyError(f"cannot read master key file {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # A warning, not a refusal: mounted secrets (Kubernetes, Docker) are often 0644 in
        # a directory only the service can enter.
        logger.warning("master key file %s is accessible to group or others; chmod 600 it", path)
    return decode_key(text, str(path))


def _write_new_file(path: Path, key: bytes) -> None:
    """Write the key to a file that must not exist yet, 0600 from the start, and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (encode_key(key) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def create_key_file(path: Path) -> bytes:
    """The key at `path`, generated first if there is none; safe when processes race.

    The key is written whole to a temporary file, then linked into place: `link` fails if
    the name exists (like O_EXCL), so exactly one process's key wins, every other process
    reads that one, and nobody ever reads a half-written file.
    """
    if path.exists():
        return read_key_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    temporary = _temporary_name(path)
    _write_new_file(temporary, key)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process won the race: use its key
    else:
        _fsync_directory(path.parent)
        logger.info("generated a new master key in %s (key id %s)", path, key_id(key))
    finally:
        temporary.unlink()
    return read_key_file(path)


def replace_key_file(path: Path, key: bytes) -> None:
    """Atomically make `path` hold `key`: a reader sees the old file or the new, whole."""
    temporary = _temporary_name(path)
    _write_new_file(temporary, key)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def load_box(settings: Settings) -> SecretBox:
    """The box for this node: from `master_key`, else the key file, generated if need be.

    The previous key (kept beside the key file by `cargobay secrets rotate`) is loaded too,
    so secrets that a rotation had not yet re-encrypted still decrypt.
    """
    if settings.master_key is not None:
        return SecretBox(decode_key(settings.master_key.get_secret_value(), "CARGOBAY_MASTER_KEY"))
    path = key_file_path(settings)
    # An operator-named file is never generated: a typo would split the nodes' keys.
    named = settings.master_key_file is not None
    key = read_key_file(path) if named else create_key_file(path)
    previous_path = previous_key_path(path)
    previous = [read_key_file(previous_path)] if previous_path.exists() else []
    return SecretBox(key, previous)


# -- sealed values in the metadata database ------------------------------------------------


def put_secret(store: SecretStore, box: SecretBox, name: str, plaintext: bytes) -> None:
    key_id, blob = box.encrypt(name, plaintext)
    store.put(name, key_id, blob)


def get_secret(store: SecretStore, box: SecretBox, name: str) -> bytes | None:
    sealed = store.get(name)
    return None if sealed is None else box.decrypt(name, sealed.key_id, sealed.blob)
