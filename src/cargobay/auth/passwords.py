"""Password hashing (argon2id) and the random secrets of robots and personal tokens."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with OWASP's first recommended parameters (19 MiB, 2 passes, 1 lane) rather than
# argon2-cffi's default 64 MiB: a registry checks passwords for bursts of CI logins, and each
# check holds its memory for its duration. Hashes made with other parameters still verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

ROBOT_PREFIX = "cbr_"
TOKEN_PREFIX = "cbt_"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str) -> str:
    """A credential shown once: a recognisable prefix, then 256 random bits."""
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """What is stored of a robot's or token's secret (random, so no slow hash is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()
