"""Secrets at rest: the master key, AES-256-GCM sealing, the secrets table, key rotation."""

from __future__ import annotations

import base64
import hashlib
import logging
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cargobay.auth.rotation import rotate_environment_key, rotate_key_file
from cargobay.auth.secrets import (
    DecryptionFailed,
    MasterKeyError,
    SecretBox,
    UnknownKeyId,
    create_key_file,
    encode_key,
    generate_key,
    get_secret,
    key_id,
    load_box,
    put_secret,
    read_key_file,
)
from cargobay.cli.main import main
from cargobay.config import Settings
from cargobay.metadata.secret_store import SecretStore

ROOT = Path(__file__).resolve().parents[2]


def box() -> SecretBox:
    return SecretBox(generate_key())


# -- SecretBox -----------------------------------------------------------------------------


def test_a_secret_round_trips() -> None:
    sealer = box()
    key, blob = sealer.encrypt("registry.token", b"s3cret")
    assert key == sealer.key_id
    assert b"s3cret" not in blob
    assert sealer.decrypt("registry.token", key, blob) == b"s3cret"


def test_each_encryption_uses_a_new_nonce() -> None:
    sealer = box()
    assert sealer.encrypt("a", b"same")[1] != sealer.encrypt("a", b"same")[1]


@pytest.mark.parametrize("position", [0, 12, -1])  # nonce, ciphertext, tag
def test_a_changed_byte_does_not_decrypt(position: int) -> None:
    sealer = box()
    key, blob = sealer.encrypt("a", b"value")
    tampered = bytearray(blob)
    tampered[position] ^= 0x01
    with pytest.raises(DecryptionFailed):
        sealer.decrypt("a", key, bytes(tampered))


@pytest.mark.parametrize("length", [0, 11, 27])
def test_a_truncated_ciphertext_does_not_decrypt(length: int) -> None:
    sealer = box()
    key, blob = sealer.encrypt("a", b"value")
    with pytest.raises(DecryptionFailed):
        sealer.decrypt("a", key, blob[:length])


def test_a_ciphertext_copied_to_another_name_does_not_decrypt() -> None:
    sealer = box()
    key, blob = sealer.encrypt("ldap", b"value")
    with pytest.raises(DecryptionFailed, match="another name"):
        sealer.decrypt("smtp", key, blob)


def test_an_unknown_key_id_is_a_clear_error() -> None:
    key, blob = box().encrypt("ldap", b"value")
    with pytest.raises(UnknownKeyId, match=f"master key {key}.*same master key"):
        box().decrypt("ldap", key, blob)


def test_the_previous_key_still_decrypts_but_never_encrypts() -> None:
    old, new = generate_key(), generate_key()
    old_id, blob = SecretBox(old).encrypt("a", b"value")
    both = SecretBox(new, [old])
    assert both.decrypt("a", old_id, blob) == b"value"
    assert both.encrypt("a", b"x")[0] == key_id(new)


def test_the_key_id_is_the_start_of_the_keys_sha256() -> None:
    key = generate_key()
    assert SecretBox(key).key_id == key_id(key) == hashlib.sha256(key).hexdigest()[:16]


def test_the_key_is_in_no_repr() -> None:
    key = generate_key()
    text = repr(SecretBox(key, [generate_key()]))
    assert key_id(key) in text
    assert encode_key(key) not in text and key.hex() not in text and repr(key) not in text


# -- master key sources --------------------------------------------------------------------


def test_the_key_file_is_created_0600_on_first_use_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = load_box(settings)
    path = tmp_path / "data" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    assert load_box(settings).key_id == first.key_id == key_id(read_key_file(path))


def test_threads_creating_the_key_at_once_agree(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    start = threading.Barrier(16)
    keys: list[bytes] = []

    def create() -> None:
        start.wait()
        keys.append(create_key_file(path))

    threads = [threading.Thread(target=create) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 16 and len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temporary left


def test_processes_creating_the_key_at_once_agree(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    go = tmp_path / "go"
    # Each process waits for the same file to appear, so that they race for real.
    script = (
        "import sys, time, pathlib\n"
        "from cargobay.auth.secrets import create_key_file, key_id\n"
        "go = pathlib.Path(sys.argv[2])\n"
        "while not go.exists(): time.sleep(0.001)\n"
        "print(key_id(create_key_file(pathlib.Path(sys.argv[1]))))\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            env={"PYTHONPATH": str(ROOT / "src")},
        )
        for _ in range(6)
    ]
    go.touch()
    ids = [process.communicate(timeout=60)[0].strip() for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert len(set(ids)) == 1 and ids[0] == key_id(read_key_file(path))


def test_an_environment_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    key = generate_key()
    settings = Settings(data_dir=tmp_path / "data", master_key=encode_key(key))
    assert load_box(settings).key_id == key_id(key)
    assert not (tmp_path / "data" / "master.key").exists()
    assert encode_key(key) not in repr(settings) and encode_key(key) not in str(settings)


def test_an_environment_key_reaches_the_server_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = encode_key(generate_key())
    monkeypatch.setenv("CARGOBAY_MASTER_KEY", key)
    settings = Settings(data_dir=tmp_path)
    assert settings.to_environment()["CARGOBAY_MASTER_KEY"] == key


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_environment_key_is_a_clear_error_without_the_value(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(MasterKeyError, match="CARGOBAY_MASTER_KEY") as caught:
        load_box(Settings(data_dir=tmp_path, master_key=value))
    assert value not in str(caught.value)


def test_a_named_key_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="does not exist"):
        load_box(Settings(data_dir=tmp_path, master_key_file=tmp_path / "typo.key"))
    assert not (tmp_path / "typo.key").exists()


def test_a_key_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shared.key"
    path.write_text(encode_key(generate_key()))
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="cargobay.secrets"):
        load_box(Settings(data_dir=tmp_path, master_key_file=path))
    assert "accessible to group or others" in caplog.text


# -- the secrets table (SQLite and PostgreSQL) ---------------------------------------------


def test_the_store_puts_gets_lists_and_deletes(secret_store: SecretStore) -> None:
    sealer = box()
    put_secret(secret_store, sealer, "ldap", b"one")
    put_secret(secret_store, sealer, "smtp", b"two")
    put_secret(secret_store, sealer, "ldap", b"three")  # replaces
    assert secret_store.names() == ["ldap", "smtp"]
    assert get_secret(secret_store, sealer, "ldap") == b"three"
    sealed = secret_store.get("ldap")
    assert sealed is not None and sealed.key_id == sealer.key_id and b"three" not in sealed.blob
    assert secret_store.delete("ldap") is True
    assert secret_store.delete("ldap") is False
    assert secret_store.get("ldap") is None and get_secret(secret_store, sealer, "ldap") is None
    assert secret_store.names() == ["smtp"]


def test_reencrypt_all_is_one_transaction(secret_store: SecretStore) -> None:
    old, new = box(), box()
    for name in ("a", "b", "c"):
        put_secret(secret_store, old, name, name.encode())

    class FailsOnB:
        def encrypt(self, name: str, plaintext: bytes) -> tuple[str, bytes]:
            if name == "b":
                raise RuntimeError("disk on fire")
            return new.encrypt(name, plaintext)

    with pytest.raises(RuntimeError):
        secret_store.reencrypt_all(old, FailsOnB())  # type: ignore[arg-type]
    assert secret_store.key_ids() == {old.key_id}  # "a" was not left re-encrypted
    assert secret_store.reencrypt_all(old, new) == 3
    assert secret_store.key_ids() == {new.key_id}
    assert [get_secret(secret_store, new, n) for n in ("a", "b", "c")] == [b"a", b"b", b"c"]


# -- rotation ------------------------------------------------------------------------------


def _fill(store: SecretStore, sealer: SecretBox, count: int = 5) -> dict[str, bytes]:
    values = {f"secret-{i}": f"value {i}".encode() for i in range(count)}
    for name, value in values.items():
        put_secret(store, sealer, name, value)
    return values


def _readable(store: SecretStore, sealer: SecretBox) -> dict[str, bytes]:
    return {name: get_secret(store, sealer, name) or b"" for name in store.names()}


def test_rotation_reencrypts_everything_and_keeps_the_previous_key(
    settings: Settings, secret_store: SecretStore
) -> None:
    before = load_box(settings)
    values = _fill(secret_store, before)
    # A node still running with the old key writes after the rotation: still readable.
    rotation = rotate_key_file(settings, secret_store, None)
    assert (rotation.old_key_id, rotation.reencrypted) == (before.key_id, 5)
    put_secret(secret_store, before, "late", b"written with the old key")

    after = load_box(settings)
    assert after.key_id == rotation.new_key_id != before.key_id
    assert before.key_id in after.key_ids
    key_file = settings.data_dir / "master.key"
    for path in (key_file, settings.data_dir / "master.key.previous"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id(read_key_file(settings.data_dir / "master.key.previous")) == before.key_id
    assert _readable(secret_store, after) == {**values, "late": b"written with the old key"}
    assert secret_store.key_ids() == {after.key_id, before.key_id}

    # The next rotation first moves "late" off the key it is about to forget.
    third = rotate_key_file(settings, secret_store, None)
    assert secret_store.key_ids() == {third.new_key_id}
    assert _readable(secret_store, load_box(settings))["late"] == b"written with the old key"


def test_rotation_interrupted_before_the_database_commit_leaves_everything_readable(
    settings: Settings, secret_store: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = load_box(settings)
    values = _fill(secret_store, before)

    def crash(_store: SecretStore, _old: SecretBox, _new: SecretBox) -> int:
        raise KeyboardInterrupt  # the process dies once the key files are replaced

    monkeypatch.setattr(SecretStore, "reencrypt_all", crash)
    with pytest.raises(KeyboardInterrupt):
        rotate_key_file(settings, secret_store, None)
    monkeypatch.undo()

    interrupted = load_box(settings)
    assert interrupted.key_id != before.key_id  # the new key file is in place
    assert secret_store.key_ids() == {before.key_id}  # the database was not changed
    assert _readable(secret_store, interrupted) == values  # through the previous key

    finished = rotate_key_file(settings, secret_store, None)
    assert finished.old_key_id == interrupted.key_id
    assert secret_store.key_ids() == {finished.new_key_id}
    assert _readable(secret_store, load_box(settings)) == values


def test_rotation_to_a_given_key(
    settings: Settings, secret_store: SecretStore, tmp_path: Path
) -> None:
    values = _fill(secret_store, load_box(settings))
    new_key = generate_key()
    rotation = rotate_key_file(settings, secret_store, new_key)
    assert rotation.new_key_id == key_id(new_key)
    assert _readable(secret_store, SecretBox(new_key)) == values
    with pytest.raises(MasterKeyError, match="is the current one"):
        rotate_key_file(settings, secret_store, new_key)


def test_rotation_of_an_environment_key(settings: Settings, secret_store: SecretStore) -> None:
    current = generate_key()
    with_env = Settings(**{**settings.model_dump(), "master_key": encode_key(current)})
    values = _fill(secret_store, load_box(with_env))
    new_key = generate_key()
    rotation = rotate_environment_key(with_env, secret_store, new_key)
    assert (rotation.old_key_id, rotation.new_key_id) == (key_id(current), key_id(new_key))
    assert rotation.key_file is None and not (settings.data_dir / "master.key").exists()
    assert _readable(secret_store, SecretBox(new_key)) == values


def _cli_flags(settings: Settings) -> list[str]:
    flags = ["--data-dir", str(settings.data_dir)]
    return flags + (["--database-url", settings.database_url] if settings.database_url else [])


def test_the_rotate_command_with_a_key_file(
    settings: Settings, secret_store: SecretStore, capsys: pytest.CaptureFixture[str]
) -> None:
    before = load_box(settings)
    values = _fill(secret_store, before)
    main(["secrets", "rotate", *_cli_flags(settings)])
    output = capsys.readouterr()
    after = load_box(settings)
    assert after.key_id != before.key_id and f"-> {after.key_id}" in output.err
    assert output.out == ""  # the key stays in its file
    assert secret_store.key_ids() == {after.key_id}
    assert _readable(secret_store, after) == values


def test_the_rotate_command_prints_a_new_environment_key(
    settings: Settings,
    secret_store: SecretStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    current = generate_key()
    monkeypatch.setenv("CARGOBAY_MASTER_KEY", encode_key(current))
    values = _fill(secret_store, SecretBox(current))
    main(["secrets", "rotate", *_cli_flags(settings)])
    output = capsys.readouterr()
    new_key = base64.b64decode(output.out.strip())
    assert "set CARGOBAY_MASTER_KEY" in output.err and output.out.strip() not in output.err
    assert _readable(secret_store, SecretBox(new_key)) == values


def test_the_rotate_command_reads_a_new_key_file(
    settings: Settings, secret_store: SecretStore, tmp_path: Path
) -> None:
    values = _fill(secret_store, load_box(settings))
    new_key = generate_key()
    (tmp_path / "new.key").write_text(encode_key(new_key))
    (tmp_path / "new.key").chmod(0o600)
    main(["secrets", "rotate", *_cli_flags(settings), "--new-key-file", str(tmp_path / "new.key")])
    assert load_box(settings).key_id == key_id(new_key)
    assert _readable(secret_store, SecretBox(new_key)) == values


def test_a_failed_rotation_exits_with_a_message(
    settings: Settings, secret_store: SecretStore
) -> None:
    put_secret(secret_store, box(), "foreign", b"sealed under a key nobody has")
    load_box(settings)
    with pytest.raises(SystemExit, match=r"rotation failed: .*which this node does not have"):
        main(["secrets", "rotate", *_cli_flags(settings)])
