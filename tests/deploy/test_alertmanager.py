"""deploy/alertmanager/alertmanager.yml: valid for `amtool check-config`, and every severity
Surge's alerts carry is routed to its own receiver (amtool's routing test)."""

from __future__ import annotations

import pytest

from tests.deploy.monitoring import alerts
from tests.deploy.programs import ALERTMANAGER_CONFIG, output, run


def test_config_is_valid() -> None:
    done = run("amtool", "check-config", str(ALERTMANAGER_CONFIG))
    assert done.returncode == 0, output(done)
    assert "SUCCESS" in done.stdout


def route(*labels: str) -> str:
    done = run(
        "amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels
    )
    assert done.returncode == 0, output(done)
    return done.stdout.strip()


SEVERITIES = sorted({rule["labels"]["severity"] for rule in alerts().values()})


def test_the_alerts_have_both_severities() -> None:
    assert SEVERITIES == ["page", "ticket"]


@pytest.mark.parametrize("name", sorted(alerts()))
def test_every_alert_reaches_the_receiver_of_its_severity(name: str) -> None:
    severity = alerts()[name]["labels"]["severity"]
    assert route(f"alertname={name}", f"severity={severity}", "service=redirect") == severity
