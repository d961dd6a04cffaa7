"""Failed logins are slowed down, then locked out, per account and per source address.

Counts live in the metadata database, so every node of a registry sees the same ones.
Each failure answers after a delay that doubles with the failures so far (capped); after
`lock_after` failures within the window the account (or address) is refused outright until
the lockout ends, even with the right password.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cargobay.auth.errors import AuthError
from cargobay.metadata.access_store import AccessStore
from cargobay.metadata.runner import Runner
from cargobay.registry.cache import GenerationCache

logger = logging.getLogger("cargobay.auth")


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    account_lock_after: int = 5
    address_lock_after: int = 20
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=5)
    max_delay_seconds: float = 2.0


class LoginThrottle:
    def __init__(
        self,
        store: AccessStore,
        db: Runner,
        cache: GenerationCache[tuple[str, str, str], Any],
        settings: ThrottleSettings,
    ) -> None:
        self.store = store
        self.db = db
        self.cache = cache
        self.settings = settings

    async def check(self, username: str, address: str | None) -> None:
        """Refuse an attempt while its account or address is locked out.

        Asked before every password login, remembered passwords included, so it is answered
        from the access cache; setting a lock empties that cache on every node.
        """
        now = time.time()
        for key in _keys(username, address):
            locked_until = self.cache.get(("lock", key, ""))
            if locked_until is None:
                snapshot = self.cache.snapshot()
                _, until = await self.db.read(self.store.login_failure, key)
                locked_until = until.timestamp() if until is not None else 0.0
                self.cache.put(("lock", key, ""), locked_until, snapshot)
            if locked_until > now:
                retry = int(locked_until - now) + 1
                raise AuthError(
                    "TOOMANYREQUESTS",
                    f"too many failed logins; try again in {retry} seconds",
                    retry_after=retry,
                )

    async def failed(self, username: str, address: str | None, reason: str) -> None:
        failures = 0
        for key, lock_after in zip(
            _keys(username, address),
            (self.settings.account_lock_after, self.settings.address_lock_after),
            strict=False,
        ):
            count = await self.db.write(
                self.store.record_login_failure,
                key,
                window=self.settings.window,
                lock_after=lock_after,
                lockout=self.settings.lockout,
            )
            failures = max(failures, count)
            if count >= lock_after:
                self.cache.invalidate()  # every node must see the lock at once
            if count == lock_after:
                logger.warning("login locked out for %s after %d failures", key, count)
        logger.warning(
            "failed login for %r from %s: %s (%d recent failures)",
            username,
            address or "unknown address",
            reason,
            failures,
        )
        await asyncio.sleep(min(0.1 * 2 ** (failures - 1), self.settings.max_delay_seconds))

    async def succeeded(self, username: str) -> None:
        key = f"user:{username}"
        failures, _ = await self.db.read(self.store.login_failure, key)
        if failures:  # a write only after failures: a good login costs one indexed read
            await self.db.write(self.store.clear_login_failures, key)


def _keys(username: str, address: str | None) -> list[str]:
    return [f"user:{username}"] + ([f"ip:{address}"] if address else [])
