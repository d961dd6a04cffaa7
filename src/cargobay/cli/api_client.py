"""The CLI's one HTTP client for /api/v1, and where it keeps the login.

`cargobay login` stores the registry's URL and the credentials it was given (a password or a
personal access token) in ~/.config/cargobay/cli.json (or $CARGOBAY_CLI_CONFIG), readable by
its owner only, as `docker login` does in its config.json.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from getpass import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # httpx is imported when a command needs it: `serve` never does
    import httpx

CONFIG_ENV = "CARGOBAY_CLI_CONFIG"
DEFAULT_URL = "http://127.0.0.1:5000"


class CliError(Exception):
    """A failure to report in one line, without a traceback; the exit code is 1."""


def config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    return Path(override) if override else Path.home() / ".config" / "cargobay" / "cli.json"


@dataclass(frozen=True, slots=True)
class Login:
    url: str
    username: str
    password: str


def load_login() -> Login | None:
    path = config_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return Login(data["url"], data["username"], data["password"])
    except (ValueError, KeyError, TypeError):
        raise CliError(f"{path} is not a cargobay login; run cargobay login again") from None


def save_login(login: Login) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created with 0600 from the start: the credentials are never readable by others.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"url": login.url, "username": login.username, "password": login.password}, file)
    os.chmod(path, 0o600)
    return path


def forget_login() -> bool:
    path = config_path()
    if path.is_file():
        path.unlink()
        return True
    return False


def read_password(from_stdin: bool, prompt: str = "Password: ") -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass(prompt)
    else:
        raise CliError("no terminal to ask for the password: use --password-stdin")
    if not password:
        raise CliError("the password is empty")
    return password


def expiry(duration: str | None) -> str | None:
    """`30d`, `12h`, `90m` from now, as ISO 8601; None for no expiry."""
    if duration is None:
        return None
    match = re.fullmatch(r"(\d{1,6})([dhm])", duration)
    if match is None:
        raise CliError(f"--expires-in {duration}: use a number of days, hours or minutes (30d)")
    unit = {"d": "days", "h": "hours", "m": "minutes"}[match[2]]
    moment = datetime.now(UTC) + timedelta(**{unit: int(match[1])})
    return moment.isoformat()


def problem_text(response: httpx.Response) -> str:
    """The API's problem detail in one line (or what the server said, if not a problem)."""
    try:
        body = response.json()
        return f"{body['title']} ({body['status']}): {body['detail']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


class ApiClient:
    def __init__(self, login: Login, timeout: float = 30.0) -> None:
        import httpx

        self.login = login
        self._http = httpx.Client(
            base_url=login.url.rstrip("/") + "/api/v1",
            auth=(login.username, login.password),
            timeout=timeout,
        )

    @classmethod
    def from_config(cls) -> ApiClient:
        login = load_login()
        if login is None:
            raise CliError("not logged in: run cargobay login URL -u NAME")
        return cls(login)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach {self.login.url}: {exc}") from None
        if response.status_code >= 400:
            raise CliError(problem_text(response))
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v})

    def items(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list, page after page."""
        after = None
        while True:
            page = self.get(path, limit=500, after=after, **params)
            yield from page["items"]
            after = page["next"]
            if after is None:
                return
