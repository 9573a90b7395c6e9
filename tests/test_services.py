"""The test suite's own service checks look where the tests will connect."""

from __future__ import annotations

import pytest

from tests import services


def test_redis_address_is_parsed_from_the_url() -> None:
    assert services.redis_address("redis://10.1.2.3:6380/2") == ("10.1.2.3", 6380)
    assert services.redis_address("redis://:secret@cache.internal/0") == ("cache.internal", 6379)
    assert services.redis_address("redis://") == ("localhost", 6379)


def test_require_redis_checks_the_configured_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """SURGE_TEST_REDIS_URL (here: a port nothing listens on) is what is checked."""
    monkeypatch.setattr(services, "REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("SURGE_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"127\.0\.0\.1:1\b"):
        services.require_redis()
    monkeypatch.setenv("SURGE_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match=r"127\.0\.0\.1:1\b"):
        services.require_redis()
