"""Token signing keys rotate: the newest key signs, every key in the directory verifies."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from cargobay.auth.tokens import TokenInvalid, TokenIssuer, TokenKeys, ensure_key, generate_key


def issuer(directory: Path) -> TokenIssuer:
    return TokenIssuer(TokenKeys(directory), "cargobay", "cargobay", 300)


def test_the_first_key_is_created_private_to_the_owner(tmp_path: Path) -> None:
    ensure_key(tmp_path / "keys")
    [key] = (tmp_path / "keys").glob("*.pem")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_token_signed_before_a_rotation_still_verifies_after_it(tmp_path: Path) -> None:
    ensure_key(tmp_path)
    token, _, _ = issuer(tmp_path).issue("alice", "password", [])
    generate_key(tmp_path)
    assert issuer(tmp_path).verify(token).subject == "alice"


def test_after_a_rotation_the_new_key_signs(tmp_path: Path) -> None:
    ensure_key(tmp_path)
    old_kid = TokenKeys(tmp_path).signing_kid
    generate_key(tmp_path)
    token, _, _ = issuer(tmp_path).issue("alice", "password", [])
    assert jwt.get_unverified_header(token)["kid"] != old_kid


def test_a_token_of_a_removed_key_is_refused(tmp_path: Path) -> None:
    ensure_key(tmp_path)
    token, _, _ = issuer(tmp_path).issue("alice", "password", [])
    old = sorted(tmp_path.glob("*.pem"))
    generate_key(tmp_path)
    for path in old:
        path.unlink()
    with pytest.raises(TokenInvalid, match="unknown key"):
        issuer(tmp_path).verify(token)


def test_cargobay_keys_rotate_adds_a_signing_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ensure_key(data / "token-keys")
    done = subprocess.run(
        [sys.executable, "-m", "cargobay", "keys", "rotate", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(list((data / "token-keys").glob("*.pem"))) == 2
    [signing] = [line for line in done.stdout.splitlines() if " signs " in line]
    assert signing.split()[0] == TokenKeys(data / "token-keys").signing_kid
