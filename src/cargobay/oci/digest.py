"""Digests as the OCI image spec defines them: `algorithm:encoded`."""

from __future__ import annotations

import hashlib
import re

from cargobay.oci.errors import OCIError

# Algorithms we verify; the spec registers sha256 and sha512 (and blake3 as optional).
_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def parse(digest: str) -> tuple[str, str]:
    """Split and check a digest; raise DIGEST_INVALID for bad grammar or unsupported algorithms."""
    if not _GRAMMAR.match(digest):
        raise OCIError("DIGEST_INVALID", "invalid digest", {"digest": digest})
    algorithm, encoded = digest.split(":", 1)
    length = _HEX_LENGTH.get(algorithm)
    if length is None:
        raise OCIError(
            "DIGEST_INVALID",
            f"unsupported digest algorithm {algorithm!r}",
            {"digest": digest, "supported": sorted(_HEX_LENGTH)},
        )
    if len(encoded) != length or not all(c in "0123456789abcdef" for c in encoded):
        raise OCIError("DIGEST_INVALID", "invalid digest", {"digest": digest})
    return algorithm, encoded


def is_valid(digest: str) -> bool:
    try:
        parse(digest)
    except OCIError:
        return False
    return True


def compute(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def algorithm_of(digest: str) -> str:
    return parse(digest)[0]
