"""The LDAP directory as configured now, for the login path.

The configuration lives encrypted in the secrets table (`cargobay ldap set` writes it); each
process rereads it at most every `RELOAD_SECONDS`, so a change reaches every node of a
registry within that time without a restart.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from cargobay.auth.ldap import load_ldap_config
from cargobay.auth.secrets import SecretBox, SecretsError
from cargobay.metadata.runner import Runner
from cargobay.metadata.secret_store import SecretStore

if TYPE_CHECKING:
    from cargobay.auth.ldap_directory import LdapDirectory

logger = logging.getLogger("cargobay.auth")
RELOAD_SECONDS = 30.0


class DirectorySource:
    def __init__(self, store: SecretStore, box: SecretBox, db: Runner) -> None:
        self.store = store
        self.box = box
        self.db = db
        self._directory: LdapDirectory | None = None
        self._loaded_at = float("-inf")

    async def directory(self) -> LdapDirectory | None:
        """The configured directory, or None when LDAP is not set up (or cannot be read)."""
        if time.monotonic() - self._loaded_at >= RELOAD_SECONDS:
            try:
                config = await self.db.read(load_ldap_config, self.store, self.box)
            except SecretsError as exc:
                # A node with another master key: log in local users, say why LDAP is off.
                logger.error("LDAP configuration cannot be decrypted: %s", exc)
                config = None
            self._directory = None
            if config is not None:
                # Only now: a registry without LDAP never loads ldap3 (4 MiB per worker).
                from cargobay.auth.ldap_directory import LdapDirectory

                self._directory = LdapDirectory(config)
            self._loaded_at = time.monotonic()
        return self._directory
