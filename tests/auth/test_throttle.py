"""Failed logins are slowed down, then locked out, per account and per source address.

Small settings (three failures lock an account, five an address) keep the tests short; the
backoff's sleep is recorded instead of slept, so that its growth is checked exactly.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from starlette.testclient import TestClient

from cargobay.auth import throttle
from cargobay.config import Settings
from conformance.helpers import assert_error, describe

from .apps import running
from .population import Account, Population

ACCOUNT_LOCK_AFTER = 3
ADDRESS_LOCK_AFTER = 5
LOCKOUT_SECONDS = 60


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the throttle asks for, in order (none is actually slept)."""
    asked: list[float] = []

    async def sleep(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(throttle, "asyncio", SimpleNamespace(sleep=sleep))
    return asked


def throttled_settings(settings: Settings, **changes: int) -> Settings:
    return settings.model_copy(
        update={
            "login_lock_after_failures": ACCOUNT_LOCK_AFTER,
            "login_lock_after_address_failures": ADDRESS_LOCK_AFTER,
            "login_lockout_seconds": LOCKOUT_SECONDS,
            **changes,
        }
    )


@pytest.fixture
def client(settings: Settings, delays: list[float]) -> Iterator[TestClient]:
    with running(throttled_settings(settings)) as client:
        yield client


@pytest.fixture
def alice(client: TestClient) -> Account:
    return Population(client.app).user("alice")  # type: ignore[arg-type]


def login(client: TestClient, name: str, password: str) -> httpx.Response:
    return client.get("/v2/", auth=(name, password))


def fail(client: TestClient, name: str, times: int, password: str = "wrong-guess") -> None:
    for _ in range(times):
        response = login(client, name, password)
        assert_error(response, 401, "UNAUTHORIZED")


def assert_locked(response: httpx.Response) -> int:
    """429 TOOMANYREQUESTS with a Retry-After; returns the seconds it says to wait."""
    assert_error(response, 429, "TOOMANYREQUESTS")
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= LOCKOUT_SECONDS + 1, describe(response)
    return retry_after


def test_each_failed_login_waits_longer_than_the_one_before(
    client: TestClient, alice: Account, delays: list[float]
) -> None:
    fail(client, alice.name, ACCOUNT_LOCK_AFTER)
    assert len(delays) == ACCOUNT_LOCK_AFTER
    assert delays == sorted(set(delays)), delays


def test_the_wait_after_a_failure_is_capped(
    client: TestClient, alice: Account, delays: list[float]
) -> None:
    service = client.app.state.access  # type: ignore[attr-defined]
    service.throttle.settings = dataclasses.replace(
        service.throttle.settings, max_delay_seconds=0.15
    )
    fail(client, alice.name, ACCOUNT_LOCK_AFTER)
    assert max(delays) == 0.15


def test_an_account_is_locked_after_repeated_failures(client: TestClient, alice: Account) -> None:
    fail(client, alice.name, ACCOUNT_LOCK_AFTER)
    assert_locked(login(client, alice.name, "yet-another-guess"))


def test_a_locked_account_is_refused_even_with_the_right_password(
    client: TestClient, alice: Account
) -> None:
    fail(client, alice.name, ACCOUNT_LOCK_AFTER)
    assert_locked(login(client, *alice.basic))


def test_a_locked_account_is_refused_even_with_a_password_that_logged_in_before(
    client: TestClient, alice: Account
) -> None:
    # Otherwise a guesser would learn the password: every wrong guess is refused with 429,
    # but the right one, remembered from alice's own earlier login, would get a 200.
    assert login(client, *alice.basic).status_code == 200
    fail(client, alice.name, ACCOUNT_LOCK_AFTER)
    assert_locked(login(client, *alice.basic))


def test_a_locked_account_is_refused_at_the_token_endpoint(
    client: TestClient, alice: Account
) -> None:
    fail(client, alice.name, ACCOUNT_LOCK_AFTER)
    assert_locked(client.get("/auth/token", params={"service": "cargobay"}, auth=alice.basic))
    response = client.post(
        "/auth/token",
        data={"grant_type": "password", "username": alice.name, "password": alice.password},
        auth=None,
    )
    assert_locked(response)


def test_locking_one_account_leaves_the_others_alone(client: TestClient, alice: Account) -> None:
    bob = Population(client.app).user("bob")  # type: ignore[arg-type]
    fail(client, alice.name, ACCOUNT_LOCK_AFTER)
    assert login(client, *bob.basic).status_code == 200


def test_an_address_is_locked_after_failures_across_accounts(
    client: TestClient, alice: Account
) -> None:
    for number in range(ADDRESS_LOCK_AFTER):
        fail(client, f"someone-{number}", 1)
    assert_locked(login(client, *alice.basic))


def test_the_lock_ends_after_the_lockout(settings: Settings, delays: list[float]) -> None:
    with running(throttled_settings(settings, login_lockout_seconds=1)) as client:
        alice = Population(client.app).user("alice")  # type: ignore[arg-type]
        fail(client, alice.name, ACCOUNT_LOCK_AFTER)
        assert_locked(login(client, *alice.basic))
        time.sleep(1.1)
        assert login(client, *alice.basic).status_code == 200


def test_a_successful_login_clears_the_accounts_failures(
    client: TestClient, alice: Account
) -> None:
    fail(client, alice.name, ACCOUNT_LOCK_AFTER - 1)
    assert login(client, *alice.basic).status_code == 200
    fail(client, alice.name, ACCOUNT_LOCK_AFTER - 1)
    # Counted together these would have locked the account.
    assert login(client, *alice.basic).status_code == 200


def test_failures_are_logged_without_the_password(
    client: TestClient, alice: Account, caplog: pytest.LogCaptureFixture
) -> None:
    guess = "Tr0ub4dor&3-guess"
    with caplog.at_level(logging.INFO):
        fail(client, alice.name, ACCOUNT_LOCK_AFTER, password=guess)
        fail(client, "nobody-here", 1, password=guess)
    failures = [r.getMessage() for r in caplog.records if "failed login" in r.getMessage()]
    assert len(failures) == ACCOUNT_LOCK_AFTER + 1
    assert any(alice.name in message for message in failures)
    assert any("locked out" in r.getMessage() for r in caplog.records)
    assert all(guess not in r.getMessage() for r in caplog.records)
    assert guess not in caplog.text
