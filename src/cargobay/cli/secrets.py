"""`cargobay secrets rotate`: a new master key, every stored secret re-encrypted under it."""

from __future__ import annotations

import sys
from pathlib import Path

from cargobay.auth.rotation import Rotation, rotate_environment_key, rotate_key_file
from cargobay.auth.secrets import SecretsError, encode_key, generate_key, read_key_file
from cargobay.config import Settings
from cargobay.metadata.db import create_db_engine, migrate
from cargobay.metadata.secret_store import SecretStore


def rotate(settings: Settings, new_key_file: str | None) -> Rotation:
    engine = create_db_engine(settings)
    try:
        migrate(engine, settings.data_dir)
        store = SecretStore(engine)
        new_key = read_key_file(Path(new_key_file)) if new_key_file else None
        if settings.master_key is None:
            rotation = rotate_key_file(settings, store, new_key)
            print(
                f"cargobay: master key rotated ({rotation.old_key_id} -> "
                f"{rotation.new_key_id}), {rotation.reencrypted} secret(s) re-encrypted; "
                f"the key is in {rotation.key_file}, the previous one beside it. Give every "
                "node the new file and restart it.",
                file=sys.stderr,
            )
            return rotation
        if new_key is None:
            new_key = generate_key()
            # Shown before the transaction: once secrets use it, nothing else holds it.
            print(encode_key(new_key), flush=True)
            print(
                "cargobay: the new master key is above (stdout); keep it before anything else.",
                file=sys.stderr,
            )
        rotation = rotate_environment_key(settings, store, new_key)
    except SecretsError as exc:
        # Every step leaves the secrets readable with the key files or variable as they are.
        sys.exit(f"cargobay: master key rotation failed: {exc}")
    finally:
        engine.dispose()
    print(
        f"cargobay: {rotation.reencrypted} secret(s) re-encrypted under the new master key "
        f"({rotation.new_key_id}). The key comes from the environment, so Cargobay cannot "
        "store it: set CARGOBAY_MASTER_KEY to the new key on every node and restart them; "
        "until then they cannot read the secrets.",
        file=sys.stderr,
    )
    return rotation
