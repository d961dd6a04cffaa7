"""A real OpenLDAP server (Debian's `slapd`) for the LDAP tests, on a free loopback port.

It has its own slapd.conf, mdb database and pid file in a temporary directory, seeded
offline with `slapadd` before it starts, so it never touches a system slapd or /etc/ldap.
Here rather than in tests/auth so that the client tests (tests/clients) can log in as its
users too; the `slapd` fixture is in tests/conftest.py.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from liveserver import free_port

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
SERVICE_DN = f"cn=reader,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "reader-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
SCHEMAS = ["core", "cosine", "inetorgperson", "nis"]
# Debian puts the daemons in /usr/sbin, which a non-root PATH often lacks.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def ssha(password: str) -> str:
    """The {SSHA} userPassword value slappasswd would make: SHA-1 over password + salt."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _find(program: str) -> str:
    path = shutil.which(program, path=SEARCH_PATH)
    if path is None:
        # Not a skip: CI must not go green without the LDAP tests.
        raise RuntimeError(
            f"{program} not found: install Debian's slapd (scripts/test does: "
            "apt-get install slapd ldap-utils)"
        )
    return path


def _config(directory: Path) -> str:
    includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
    return f"""{includes}
# Like servers that accept a DN with an empty password as an anonymous bind, so that the
# tests show Cargobay never sends one.
allow bind_anon_dn
pidfile {directory}/slapd.pid
argsfile {directory}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ssha(ROOT_PASSWORD)}
directory {directory}/db
# Anonymous may only bind; reading the directory takes an account (the service account).
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"""


def _seed() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example",
        f"dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: reader\nuserPassword: {ssha(SERVICE_PASSWORD)}",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
    ]
    mails = {"alice": "alice@example.org"}
    for uid, password in PASSWORDS.items():
        entry = (
            f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: {uid.title()}\nsn: {uid.title()}\nuserPassword: {ssha(password)}"
        )
        if uid in mails:
            entry += f"\nmail: {mails[uid]}"
        entries.append(entry)
    groups = {"team-a-devs": ["alice"], "admins": ["carol"]}
    for name, members in groups.items():
        lines = [f"dn: cn={name},{GROUPS}", "objectClass: groupOfNames", f"cn: {name}"]
        lines += [f"member: uid={uid},{PEOPLE}" for uid in members]
        entries.append("\n".join(lines))
    # A posixGroup, matched through memberUid rather than a DN.
    entries.append(
        f"dn: cn=builders,{GROUPS}\nobjectClass: posixGroup\ncn: builders\ngidNumber: 5000\n"
        "memberUid: alice"
    )
    return "\n\n".join(entries) + "\n"


@dataclass
class Slapd:
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="slapd-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> None:
        slapd, slapadd = _find("slapd"), _find("slapadd")
        (self.directory / "db").mkdir()
        config = self.directory / "slapd.conf"
        config.write_text(_config(self.directory))
        (self.directory / "seed.ldif").write_text(_seed())
        subprocess.run(
            [slapadd, "-q", "-f", str(config), "-l", str(self.directory / "seed.ldif")],
            check=True,
            capture_output=True,
        )
        log = (self.directory / "slapd.log").open("wb")
        # -d keeps it in the foreground, so it is our child and dies with the Popen.
        self.process = subprocess.Popen(
            [slapd, "-d", "0", "-f", str(config), "-h", f"{self.url}/"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "slapd.log").read_text(errors="replace")
                raise RuntimeError(f"slapd exited with {self.process.returncode}:\n{log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"slapd did not listen on {self.url} within 30s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def ldap_set(data_dir: Path, database_url: str | None, url: str) -> None:
    """Point a registry at the directory with the CLI, as an operator would."""
    command = [sys.executable, "-m", "cargobay", "ldap", "set", "--data-dir", str(data_dir)]
    command += ["--url", url, "--bind-dn", SERVICE_DN, "--bind-password-stdin"]
    command += ["--user-base-dn", PEOPLE, "--group-base-dn", GROUPS]
    if database_url:
        command += ["--database-url", database_url]
    subprocess.run(command, input=f"{SERVICE_PASSWORD}\n".encode(), check=True)
