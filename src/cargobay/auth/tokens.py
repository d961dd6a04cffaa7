"""Docker registry tokens: short-lived ES256 JWTs, signed with keys kept in the data directory.

Keys live in `<data_dir>/token-keys/` (or `token_keys_dir`), one PEM file each. The newest
signs; every one verifies, so a key can be rotated (`cargobay keys rotate`) without
refusing the tokens already out. Each token names its key in the `kid` header: the RFC 7638
thumbprint of the public key. Nodes that serve one registry share the directory (or copies).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"


class TokenInvalid(Exception):
    """The token is malformed, forged, expired, or not meant for this registry."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint of a P-256 public key."""
    numbers = public_key.public_numbers()
    jwk = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def generate_key(directory: Path) -> Path:
    """Write a new P-256 private key (mode 0600) into `directory`; it becomes the signing key."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Named by time so the newest sorts last; written aside and renamed so that another
    # process never reads half a key.
    name = f"{time.time_ns():020d}-{key_id(private.public_key())[:12]}.pem"
    temporary = directory / f".{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    final = directory / name
    os.rename(temporary, final)
    return final


def ensure_key(directory: Path) -> None:
    """Create the first signing key unless one exists; safe when processes start at once."""
    if any(directory.glob("*.pem")):
        return
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (directory / ".create.lock").open("w") as lock:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)
        if not any(directory.glob("*.pem")):
            generate_key(directory)


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    credential: str  # how the subject authenticated: password | token:<id> | robot | anonymous
    access: tuple[dict[str, Any], ...]
    expires_at: float


class TokenKeys:
    """The signing key and every verifying key, loaded once per process."""

    def __init__(self, directory: Path) -> None:
        paths = sorted(directory.glob("*.pem"))
        if not paths:
            raise TokenInvalid(f"no token signing key in {directory}")
        self._paths: list[tuple[Path, str]] = []
        self._public: dict[str, ec.EllipticCurvePublicKey] = {}
        private: ec.EllipticCurvePrivateKey | None = None
        for path in paths:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise TokenInvalid(f"{path} is not an EC private key")
            self._public[key_id(key.public_key())] = key.public_key()
            self._paths.append((path, key_id(key.public_key())))
            private = key
        assert private is not None
        self._private = private
        self.signing_kid = key_id(private.public_key())

    def files(self) -> list[tuple[Path, str]]:
        """(file, kid) of every key, oldest first: the last one signs."""
        return list(self._paths)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._private, ALGORITHM, headers={"kid": self.signing_kid})

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey:
        try:
            return self._public[kid]
        except KeyError:
            raise TokenInvalid("token signed by an unknown key") from None


class TokenIssuer:
    """Issues and verifies this registry's access and refresh tokens."""

    def __init__(self, keys: TokenKeys, issuer: str, service: str, ttl_seconds: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.service = service
        self.ttl_seconds = ttl_seconds
        # Verifying an ES256 signature costs ~100 us; a pull sends the same token many times.
        self._verified: OrderedDict[str, Claims] = OrderedDict()

    def issue(
        self,
        subject: str,
        credential: str,
        access: list[dict[str, Any]],
        *,
        ttl_seconds: int | None = None,
        token_type: str = "access",
    ) -> tuple[str, int, int]:
        """A signed token; returns it with its issue time and lifetime in seconds."""
        now = int(time.time())
        ttl = ttl_seconds or self.ttl_seconds
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "access": access,
            "cb_cred": credential,
            "cb_typ": token_type,
        }
        return self.keys.sign(claims), now, ttl

    def verify(self, token: str, token_type: str = "access") -> Claims:
        cached = self._verified.get(token)
        if cached is not None and token_type == "access":
            if cached.expires_at <= time.time():
                raise TokenInvalid("token expired")
            return cached
        claims = self._decode(token)
        if claims.get("cb_typ") != token_type:
            raise TokenInvalid(f"not an {token_type} token")
        access = claims.get("access", [])
        if not isinstance(access, list) or not all(isinstance(a, dict) for a in access):
            raise TokenInvalid("malformed access claim")
        result = Claims(
            subject=str(claims.get("sub", "")),
            credential=str(claims.get("cb_cred", "")),
            access=tuple(access),
            expires_at=float(claims["exp"]),
        )
        if token_type == "access":
            self._verified[token] = result
            if len(self._verified) > 10_000:
                self._verified.popitem(last=False)
        return result

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"malformed token: {exc}") from None
        # Only our algorithm: this is what refuses "alg: none" and HS256-with-public-key.
        if header.get("alg") != ALGORITHM:
            raise TokenInvalid(f"token algorithm must be {ALGORITHM}")
        key = self.keys.public_key(str(header.get("kid", "")))
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.service,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenInvalid("token expired") from None
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"invalid token: {exc}") from None
