"""Logging in against an LDAP directory (OpenLDAP, Active Directory...): its configuration.

A login binds as the service account, finds the user's entry (exactly one), binds as that
entry with the password given, then reads the user's groups with the service account
(`auth.ldap_directory.LdapDirectory`, with ldap3). Calls are synchronous and bounded by
`timeout_seconds`; run them off the event loop.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from cargobay.auth.secrets import SecretBox, get_secret, put_secret
from cargobay.metadata.secret_store import SecretStore

SECRET_NAME = "ldap"


@dataclass(frozen=True)
class LdapConfig:
    url: str  # ldap://host:389 or ldaps://host:636
    bind_dn: str | None  # None: search anonymously
    bind_password: str | None = field(repr=False)
    user_base_dn: str
    user_filter: str = "(uid={username})"
    group_base_dn: str | None = None  # None: do not look up groups
    group_filter: str = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
    group_name_attribute: str = "cn"
    email_attribute: str = "mail"
    start_tls: bool = False
    timeout_seconds: float = 5.0
    # The user's name as the directory spells it (uid matches case-insensitively), so that
    # "Alice" and "alice" are one account. None: the name as typed at login.
    username_attribute: str | None = "uid"
    ca_certs_file: str | None = None  # for ldaps:// and StartTLS; default the system's CAs

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LdapConfig:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        # Settings a newer version wrote are dropped rather than refused: a downgrade must
        # still be able to log users in.
        return cls(**{name: value for name, value in data.items() if name in known})


@dataclass(frozen=True)
class LdapIdentity:
    username: str
    dn: str
    email: str | None
    groups: tuple[str, ...]


class LdapUnavailable(Exception):
    """The directory cannot answer (down, TLS failure, service account refused).

    The caller falls back to local accounts. The message names the server and the cause,
    never a password.
    """


# -- the configuration, kept encrypted in the secrets table --------------------------------


def save_ldap_config(store: SecretStore, box: SecretBox, config: LdapConfig) -> None:
    """Store the whole configuration sealed, so the bind password is never in plaintext."""
    put_secret(store, box, SECRET_NAME, config.to_json().encode())


def load_ldap_config(store: SecretStore, box: SecretBox) -> LdapConfig | None:
    """The stored configuration; None when LDAP is not configured."""
    plaintext = get_secret(store, box, SECRET_NAME)
    return None if plaintext is None else LdapConfig.from_json(plaintext.decode())


def delete_ldap_config(store: SecretStore) -> bool:
    return store.delete(SECRET_NAME)
