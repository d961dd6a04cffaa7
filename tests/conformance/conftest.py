"""Conformance-suite configuration.

The ``client`` fixture normally comes from ``tests/conftest.py`` (a Starlette TestClient bound
to Cargobay, once per database).  When ``CONFORMANCE_TARGET_URL`` is set, the same tests run
instead against a live registry at that URL -- used to check the tests themselves against
an independent implementation (see ``run-against-distribution.sh``).  Every test uses
repository names of its own, so a shared, non-empty live registry is fine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

TARGET_URL = os.environ.get("CONFORMANCE_TARGET_URL")

if TARGET_URL:

    @pytest.fixture
    def client() -> Iterator[httpx.Client]:
        # The spec's status codes are "those returned after any redirects have been followed".
        with httpx.Client(base_url=TARGET_URL, follow_redirects=True, timeout=60.0) as live:
            yield live
