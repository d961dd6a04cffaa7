"""The LDAP client: binds and searches with ldap3 (see cargobay.auth.ldap for the flow).

Kept apart from the configuration so that a registry without LDAP never imports ldap3:
`auth.directory` imports this module once a configuration exists.
"""

from __future__ import annotations

import math
import ssl
from typing import Any

from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from cargobay.auth.ldap import LdapConfig, LdapIdentity, LdapUnavailable

SUCCESS = 0
SIZE_LIMIT_EXCEEDED = 4


def _fill(template: str, **values: str) -> str:
    """The filter with each `{name}` replaced by its value escaped for a filter (RFC 4515).

    Plain replacement rather than str.format: a filter may contain other braces, and
    format would also expand `{username.__class__}` and the like.
    """
    for name, value in values.items():
        template = template.replace("{" + name + "}", escape_filter_chars(value))
    return template


class LdapDirectory:
    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_certs_file)
        self._server = Server(
            config.url,
            connect_timeout=config.timeout_seconds,
            get_info=NONE,
            tls=tls,
        )

    def __repr__(self) -> str:
        return f"LdapDirectory({self.config.url!r})"

    def check(self) -> None:
        """Bind as the service account and read the base DNs; LdapUnavailable says why not."""
        connection = self._service_connection()
        try:
            for base in filter(None, (self.config.user_base_dn, self.config.group_base_dn)):
                if not connection.search(base, "(objectClass=*)", search_scope=BASE):
                    self._raise_search_failure(connection, base)
        except LDAPException as exc:
            raise self._unavailable(exc) from None
        finally:
            connection.unbind()

    def authenticate(self, username: str, password: str) -> LdapIdentity | None:
        """The user's identity if the password is right; None if it is not, or no such user.

        Raises LdapUnavailable when the directory itself cannot be asked.
        """
        # An empty password would make the bind "unauthenticated", which many servers
        # accept as anonymous success: it must never reach the server.
        if not username or not password:
            return None
        service = self._service_connection()
        try:
            entry = self._find_user(service, username)
            if entry is None:
                return None
            dn, attributes = entry
            if not self._password_is_right(dn, password):
                return None
            name = self._first(attributes, self.config.username_attribute) or username
            groups = self._groups(service, dn, name)
        except LDAPException as exc:
            raise self._unavailable(exc) from None
        finally:
            service.unbind()
        return LdapIdentity(
            username=name,
            dn=dn,
            email=self._first(attributes, self.config.email_attribute),
            groups=groups,
        )

    # -- steps -----------------------------------------------------------------------------

    def _connection(self, user: str | None, password: str | None) -> Connection:
        """An open, bound connection; raises LDAPException on network or TLS trouble."""
        connection = Connection(
            self._server,
            user=user,
            password=password,
            # ldap3 packs this into SO_RCVTIMEO as whole seconds.
            receive_timeout=max(1, math.ceil(self.config.timeout_seconds)),
            read_only=True,
            raise_exceptions=False,
            # A referral could send the credentials on to a server nobody configured.
            auto_referrals=False,
        )
        connection.open()
        if self.config.start_tls and not connection.start_tls():
            connection.unbind()
            raise LdapUnavailable(f"{self.config.url}: StartTLS failed: {connection.result}")
        connection.bind()
        return connection

    def _service_connection(self) -> Connection:
        try:
            connection = self._connection(self.config.bind_dn, self.config.bind_password)
        except LDAPException as exc:
            raise self._unavailable(exc) from None
        if not connection.bound:
            result = connection.result
            connection.unbind()
            who = self.config.bind_dn or "anonymous"
            raise LdapUnavailable(
                f"{self.config.url}: the service account ({who}) cannot bind: "
                f"{result.get('description')} {result.get('message') or ''}".rstrip()
            )
        return connection

    def _find_user(
        self, connection: Connection, username: str
    ) -> tuple[str, dict[str, list[Any]]] | None:
        wanted = [self.config.email_attribute]
        if self.config.username_attribute:
            wanted.append(self.config.username_attribute)
        found = connection.search(
            self.config.user_base_dn,
            _fill(self.config.user_filter, username=username),
            search_scope=SUBTREE,
            attributes=wanted,
            size_limit=2,  # one is enough to know, two to know it is ambiguous
            time_limit=max(1, math.ceil(self.config.timeout_seconds)),
        )
        if not found:
            self._raise_search_failure(connection, self.config.user_base_dn)
        entries = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
        if len(entries) != 1:
            return None  # unknown, or ambiguous: never guess which person logs in
        return entries[0]["dn"], dict(entries[0].get("attributes") or {})

    def _password_is_right(self, dn: str, password: str) -> bool:
        connection = self._connection(dn, password)
        try:
            # Not only invalidCredentials: locked, expired, must-change are refusals too.
            return bool(connection.bound)
        finally:
            connection.unbind()

    def _groups(self, connection: Connection, dn: str, username: str) -> tuple[str, ...]:
        if not self.config.group_base_dn:
            return ()
        name_attribute = self.config.group_name_attribute
        found = connection.search(
            self.config.group_base_dn,
            _fill(self.config.group_filter, dn=dn, username=username),
            search_scope=SUBTREE,
            attributes=[name_attribute],
            time_limit=max(1, math.ceil(self.config.timeout_seconds)),
        )
        if not found:
            self._raise_search_failure(connection, self.config.group_base_dn)
        names = set()
        for entry in connection.response or []:
            if entry.get("type") == "searchResEntry":
                name = self._first(entry.get("attributes") or {}, name_attribute)
                if name:
                    names.add(name)
        return tuple(sorted(names))

    # -- helpers ---------------------------------------------------------------------------

    def _raise_search_failure(self, connection: Connection, base: str) -> None:
        """A search that found nothing is fine; one the server refused is not.

        Among refusals is noSuchObject: a base DN that does not exist, or that the service
        account may not see. Reporting it as "no such user" would quietly send every LDAP
        user to the local accounts.
        """
        result = connection.result or {}
        if result.get("result") in (SUCCESS, SIZE_LIMIT_EXCEEDED):  # the entries came back
            return
        raise LdapUnavailable(
            f"{self.config.url}: search under {base!r} failed: {result.get('description')} "
            f"{result.get('message') or ''}".rstrip()
        )

    def _unavailable(self, exc: LDAPException) -> LdapUnavailable:
        return LdapUnavailable(f"{self.config.url}: {type(exc).__name__}: {exc}")

    @staticmethod
    def _first(attributes: dict[str, Any], name: str | None) -> str | None:
        if not name:
            return None
        value = attributes.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        return str(value) if value not in (None, "") else None
