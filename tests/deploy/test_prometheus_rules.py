"""The Prometheus config, recording and alerting rules in deploy/prometheus: valid for promtool,
their unit tests pass, and every alert is tested both ways, labelled, annotated and has its
runbook section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy import monitoring
from tests.deploy.monitoring import (
    ALERTING_RULES,
    PROMETHEUS_CONFIG,
    RECORDING_RULES,
    RULE_TESTS,
    alert_section_anchors,
    alerts,
    load_yaml,
    promtool,
    rule_groups,
)


def test_config_is_valid() -> None:
    """`promtool check config` also checks the rule files the config loads."""
    done = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 rule files found" in done.stdout


@pytest.mark.parametrize("path", [RECORDING_RULES, ALERTING_RULES], ids=lambda p: p.name)
def test_rule_file_is_valid(path: Path) -> None:
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_there_are_rule_unit_tests() -> None:
    assert len(RULE_TESTS) >= 5


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests_pass(path: Path) -> None:
    done = promtool("test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def alert_cases() -> dict[str, list[dict[str, Any]]]:
    """Every `alert_rule_test` case of the unit tests, by alert name."""
    cases: dict[str, list[dict[str, Any]]] = {}
    for path in RULE_TESTS:
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], []).append(case)
    return cases


@pytest.mark.parametrize("name", sorted(alerts()))
def test_every_alert_has_a_firing_and_a_quiet_case(name: str) -> None:
    cases = alert_cases().get(name, [])
    firing = [case for case in cases if case.get("exp_alerts")]
    quiet = [case for case in cases if not case.get("exp_alerts")]
    assert firing, f"no unit test where {name} fires"
    assert quiet, f"no unit test where {name} must not fire"
    severity = alerts()[name]["labels"]["severity"]
    for case in firing:
        for expected in case["exp_alerts"]:
            assert expected["exp_labels"]["severity"] == severity
            assert set(expected["exp_annotations"]) == {"summary", "description", "runbook"}


def test_no_case_tests_an_alert_that_does_not_exist() -> None:
    assert set(alert_cases()) <= set(alerts())


@pytest.mark.parametrize("name", sorted(alerts()))
def test_every_alert_is_labelled_and_has_its_runbook(name: str) -> None:
    rule = alerts()[name]
    assert rule["labels"]["severity"] in {"page", "ticket"}
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    page, _, anchor = annotations["runbook"].partition("#")
    assert page == "docs/operations.md"
    assert anchor == name.lower(), "the runbook anchor is the alert's own section"
    assert anchor in alert_section_anchors(), f"no '### {name}' under '## Alerts'"


def test_every_unit_test_file_evaluates_recording_rules_first() -> None:
    """promtool evaluates groups in a random order at each step unless told; alerts reading a
    recorded series then see last round's value, or none (with a coarse evaluation step)."""
    recording = [group["name"] for group in rule_groups(RECORDING_RULES)]
    alerting = [group["name"] for group in rule_groups(ALERTING_RULES)]
    for path in RULE_TESTS:
        assert load_yaml(path).get("group_eval_order") == recording + alerting, path.name


def test_a_missing_program_skips_or_fails_as_ci_wants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SURGE_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-program is not installed"):
        monitoring.require_program("no-such-program")
    monkeypatch.setenv("SURGE_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        monitoring.require_program("no-such-program")
