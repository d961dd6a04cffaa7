"""LDAP logins against a real OpenLDAP (tests/ldapserver.py), and the stored configuration."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess

import pytest

from cargobay.auth.ldap import (
    SECRET_NAME,
    LdapConfig,
    LdapIdentity,
    LdapUnavailable,
    load_ldap_config,
    save_ldap_config,
)
from cargobay.auth.ldap_directory import LdapDirectory
from cargobay.auth.secrets import SecretBox, generate_key
from cargobay.metadata.secret_store import SecretStore
from ldapserver import (
    GROUPS,
    PASSWORDS,
    PEOPLE,
    SEARCH_PATH,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
)
from liveserver import free_port


def config_for(slapd: Slapd, **changes: object) -> LdapConfig:
    config = LdapConfig(
        url=slapd.url,
        bind_dn=SERVICE_DN,
        bind_password=SERVICE_PASSWORD,
        user_base_dn=PEOPLE,
        group_base_dn=GROUPS,
        timeout_seconds=3.0,
    )
    return dataclasses.replace(config, **changes)


def _ldap_tool(name: str) -> str:
    path = shutil.which(name, path=SEARCH_PATH)
    assert path, f"{name} not found: install Debian's ldap-utils"
    return path


@pytest.fixture
def directory(slapd: Slapd) -> LdapDirectory:
    return LdapDirectory(config_for(slapd))


def test_alice_logs_in_with_her_email_and_groups(directory: LdapDirectory) -> None:
    identity = directory.authenticate("alice", PASSWORDS["alice"])
    assert identity == LdapIdentity(
        username="alice",
        dn=f"uid=alice,{PEOPLE}",
        email="alice@example.org",
        groups=("builders", "team-a-devs"),  # groupOfNames member, and posixGroup memberUid
    )


def test_a_user_without_mail_or_groups(directory: LdapDirectory) -> None:
    identity = directory.authenticate("bob", PASSWORDS["bob"])
    assert identity is not None and (identity.email, identity.groups) == (None, ())
    carol = directory.authenticate("carol", PASSWORDS["carol"])
    assert carol is not None and carol.groups == ("admins",)


def test_the_name_is_the_directorys_spelling(directory: LdapDirectory) -> None:
    identity = directory.authenticate("ALICE", PASSWORDS["alice"])
    assert identity is not None and identity.username == "alice"


def test_groups_are_not_looked_up_without_a_group_base(slapd: Slapd) -> None:
    identity = LdapDirectory(config_for(slapd, group_base_dn=None)).authenticate(
        "alice", PASSWORDS["alice"]
    )
    assert identity is not None and identity.groups == ()


def test_a_wrong_password_is_refused(directory: LdapDirectory) -> None:
    assert directory.authenticate("alice", "wrong") is None
    assert directory.authenticate("alice", PASSWORDS["bob"]) is None


def test_an_unknown_user_is_refused(directory: LdapDirectory) -> None:
    assert directory.authenticate("mallory", "anything") is None


def test_an_empty_password_never_binds(slapd: Slapd, directory: LdapDirectory) -> None:
    # This slapd accepts a DN with an empty password as an anonymous bind ("allow
    # bind_anon_dn", as many servers do by default): were it sent, the login would succeed.
    # ldap3 refuses to send one, so ask with OpenLDAP's own client.
    probe = subprocess.run(
        [_ldap_tool("ldapwhoami"), "-x", "-H", slapd.url, "-D", f"uid=alice,{PEOPLE}", "-w", ""],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (probe.returncode, probe.stdout.strip()) == (0, "anonymous")
    assert directory.authenticate("alice", "") is None
    assert directory.authenticate("", "") is None


@pytest.mark.parametrize(
    "username",
    ["*", "*)(uid=*", "alice)(uid=*", "*)(|(uid=*", "al*", "alice\\", "alice\x00", "(uid=*)"],
)
def test_filter_metacharacters_in_the_name_match_nothing(
    directory: LdapDirectory, username: str
) -> None:
    # Unescaped, "*)(uid=*" would make (uid=*)(uid=*) and match every user.
    for password in PASSWORDS.values():
        assert directory.authenticate(username, password) is None


def test_a_filter_cannot_be_escaped_through_format_fields(slapd: Slapd) -> None:
    directory = LdapDirectory(config_for(slapd, user_filter="(&(objectClass=*)(uid={username}))"))
    assert directory.authenticate("alice", PASSWORDS["alice"]) is not None
    assert directory.authenticate("{username}", PASSWORDS["alice"]) is None


def test_an_ambiguous_filter_logs_nobody_in(slapd: Slapd) -> None:
    # A filter matching several entries must not pick one of them.
    directory = LdapDirectory(config_for(slapd, user_filter="(|(uid={username})(uid=bob))"))
    assert directory.authenticate("alice", PASSWORDS["alice"]) is None


def test_check_binds_the_service_account(directory: LdapDirectory) -> None:
    directory.check()


def test_a_server_that_is_down_is_unavailable() -> None:
    config = LdapConfig(
        url=f"ldap://127.0.0.1:{free_port()}",
        bind_dn=SERVICE_DN,
        bind_password=SERVICE_PASSWORD,
        user_base_dn=PEOPLE,
        timeout_seconds=2.0,
    )
    directory = LdapDirectory(config)
    with pytest.raises(LdapUnavailable, match=r"127\.0\.0\.1"):
        directory.check()
    with pytest.raises(LdapUnavailable):
        directory.authenticate("alice", PASSWORDS["alice"])


def test_a_wrong_service_password_is_unavailable_and_not_repeated(slapd: Slapd) -> None:
    directory = LdapDirectory(config_for(slapd, bind_password="not-the-password"))
    with pytest.raises(LdapUnavailable, match=r"service account .* cannot bind") as caught:
        directory.check()
    assert "not-the-password" not in str(caught.value)
    with pytest.raises(LdapUnavailable):
        directory.authenticate("alice", PASSWORDS["alice"])


def test_an_anonymous_service_account_without_read_access_is_unavailable(slapd: Slapd) -> None:
    # This slapd lets anonymous bind but not read: the failed search must not read as
    # "no such user", or every LDAP user would quietly fall back to local passwords.
    directory = LdapDirectory(config_for(slapd, bind_dn=None, bind_password=None))
    with pytest.raises(LdapUnavailable, match="noSuchObject"):
        directory.authenticate("alice", PASSWORDS["alice"])
    with pytest.raises(LdapUnavailable, match="noSuchObject"):
        directory.check()


def test_a_wrong_base_dn_is_unavailable(slapd: Slapd) -> None:
    directory = LdapDirectory(config_for(slapd, user_base_dn="ou=typo,dc=example,dc=org"))
    with pytest.raises(LdapUnavailable, match="ou=typo"):
        directory.check()
    with pytest.raises(LdapUnavailable, match="ou=typo"):
        directory.authenticate("alice", PASSWORDS["alice"])


def test_the_bind_password_is_in_no_repr(slapd: Slapd) -> None:
    config = config_for(slapd)
    assert SERVICE_PASSWORD not in repr(config)
    assert SERVICE_PASSWORD not in repr(LdapDirectory(config))


def test_the_config_round_trips_encrypted(slapd: Slapd, secret_store: SecretStore) -> None:
    box = SecretBox(generate_key())
    assert load_ldap_config(secret_store, box) is None
    config = config_for(slapd, start_tls=False, email_attribute="mail")
    save_ldap_config(secret_store, box, config)
    assert load_ldap_config(secret_store, box) == config
    sealed = secret_store.get(SECRET_NAME)
    assert sealed is not None
    assert SERVICE_PASSWORD.encode() not in sealed.blob
    assert SERVICE_DN.encode() not in sealed.blob  # the whole configuration is sealed
    assert secret_store.names() == [SECRET_NAME]
    # And what comes back works.
    loaded = load_ldap_config(secret_store, box)
    assert loaded is not None
    assert LdapDirectory(loaded).authenticate("alice", PASSWORDS["alice"]) is not None


def test_unknown_stored_settings_are_ignored() -> None:
    data = json.loads(
        LdapConfig(url="ldap://x", bind_dn=None, bind_password=None, user_base_dn="o=x").to_json()
    )
    data["from_a_newer_version"] = True
    assert LdapConfig.from_json(json.dumps(data)).url == "ldap://x"
