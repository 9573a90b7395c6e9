"""What the deploy/ tests share: the monitoring files, the programs that check them, the
queries they hold.

`promtool` and `prometheus` come with Debian's `prometheus` package. Without them the tests skip,
saying so; with SURGE_REQUIRE_SERVICES=1 (as `.ci/run` sets, after installing the package) they
fail instead, as the PostgreSQL and Redis tests do (tests/services.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RECORDING_RULES = PROMETHEUS_DIR / "rules" / "recording.yml"
ALERTING_RULES = PROMETHEUS_DIR / "rules" / "alerts.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "surge.json"
OPERATIONS = ROOT / "docs" / "operations.md"

HOW = (
    "install Debian's prometheus package (`apt-get install prometheus`: promtool and "
    "prometheus) or put both on PATH to run the Prometheus rule and scrape tests"
)

# What Grafana puts in place of its variables, for evaluating a dashboard's queries directly.
GRAFANA_VARIABLES = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "5m",
    "service": ".+",
    "instance": ".+",
}


def require_program(name: str) -> str:
    """The path of program `name`, or skip (or fail, with SURGE_REQUIRE_SERVICES=1)."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed: {HOW}"
    if os.environ.get("SURGE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (SURGE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_program("promtool"), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rule_groups(path: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = load_yaml(path)["groups"]
    return groups


def rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in rule_groups(path) for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    """Every alerting rule by its name."""
    return {rule["alert"]: rule for rule in rules(ALERTING_RULES)}


def grafana_expr(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced as Grafana would."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in GRAFANA_VARIABLES, f"unknown Grafana variable ${name} in {expr!r}"
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def dashboard() -> dict[str, Any]:
    board: dict[str, Any] = yaml.safe_load(DASHBOARD.read_text())  # JSON is YAML
    return board


def panel_queries() -> dict[str, str]:
    """Every PromQL query of the dashboard (panels' targets and annotations), by an id:
    "panel title/refId", or "annotation name"."""
    board = dashboard()
    queries = {
        f"{panel['title']}/{target['refId']}": target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    }
    for annotation in board["annotations"]["list"]:
        if "expr" in annotation:
            queries[f"annotation {annotation['name']}"] = annotation["expr"]
    return queries


def variable_queries() -> dict[str, tuple[str, str]]:
    """The dashboard's query variables: name -> (series selector, label), from Grafana's
    `label_values(selector, label)`."""
    found = {}
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["definition"])
            assert match, f"not label_values(selector, label): {variable['definition']}"
            found[variable["name"]] = (match.group(1), match.group(2))
    return found


def rule_queries() -> dict[str, str]:
    """Every expression of the recording and alerting rules, by the rule's name."""
    return {
        rule.get("record") or rule["alert"]: rule["expr"]
        for path in (RECORDING_RULES, ALERTING_RULES)
        for rule in rules(path)
    }


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def alert_section_anchors() -> set[str]:
    """Anchors of the headings under "## Alerts" in docs/operations.md."""
    anchors: set[str] = set()
    inside = False
    for line in OPERATIONS.read_text().splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Alerts"
            if inside:
                anchors.add(github_anchor(line[3:]))
        elif inside and line.startswith("### "):
            anchors.add(github_anchor(line[4:]))
    return anchors
