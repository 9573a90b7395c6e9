"""Fixtures of the dashboard's page tests: a Surge with an admin signed in on its client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Surge, running_surge
from tests.helpers import DASHBOARD_PASSWORD, dashboard_sign_in, make_settings


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[tuple[Surge, str]]:
    """A Surge with root@example.com (an admin) signed in on its client; the CSRF token."""
    async with running_surge(make_settings(tmp_path)) as surge:
        assert surge.api.users is not None
        await surge.api.users.create("root@example.com", password=DASHBOARD_PASSWORD, is_admin=True)
        yield surge, await dashboard_sign_in(surge.client, "root@example.com")
