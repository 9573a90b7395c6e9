"""`surge capacity` and `surge loadtest` on the command line: bad input is one clear line on
stderr and exit code 2, never a traceback; `--from-db` plans from Surge's own rollups; and
`surge serve` never loads the heavy libraries these commands use."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from surge.cli import main
from tests.e2e.processes import free_port, run_python, surge_cli, surge_env

# `surge` commands run in processes of their own, on the real clock.
pytestmark = pytest.mark.real_clock

HEAVY = ("locust", "gevent", "scipy", "statsmodels", "matplotlib", "pandas", "numpy")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("SURGE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SURGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'surge.db'}")


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `surge argv` in this process; it must exit 2 with one line on stderr."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert err.startswith("surge: error: "), err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def csv_file(tmp_path: Path, content: str, name: str = "traffic.csv") -> str:
    path = tmp_path / name
    path.write_text(content)
    return str(path)


def sweep_file(tmp_path: Path, throughputs: list[float]) -> str:
    steps = [{"users": 2**i, "throughput": x} for i, x in enumerate(throughputs)]
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"sweep_variable": "users", "steps": steps}))
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --sweep, a traffic history"),
        (["--traffic", "{tmp}/missing.csv"], "--traffic: no such file"),
        (["--traffic", "{empty}"], "is empty"),
        (["--traffic", "{one}"], "has 1 point"),
        (["--traffic", "{negative}"], "'-40' is not a count"),
        (["--traffic", "{badtime}"], "cannot read the timestamp 'noon'"),
        (["--sweep", "{nothroughput}"], "measured no throughput"),
        (["--sweep", "{traffic_as_sweep}"], "is not a JSON result"),
        (["--sweep", "{nothroughput}", "--headroom", "1.5"], "--headroom must be 0 to 0.95"),
        (["--sweep", "{nothroughput}", "--horizon", "soon"], "--horizon must be a duration"),
    ],
)
def test_capacity_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    files = {
        "tmp": str(tmp_path),
        "empty": csv_file(tmp_path, "", "empty.csv"),
        "one": csv_file(tmp_path, "timestamp,rps\n2026-01-01T00:00:00Z,5\n", "one.csv"),
        "negative": csv_file(tmp_path, "timestamp,rps\n2026-01-01T00:00:00Z,-40\n", "neg.csv"),
        "badtime": csv_file(tmp_path, "timestamp,rps\nnoon,5\n", "badtime.csv"),
        "nothroughput": sweep_file(tmp_path, [0, 0, 0, 0]),
        "traffic_as_sweep": csv_file(tmp_path, "timestamp,rps\n", "sweep.csv"),
    }
    argv = [arg.format(**files) for arg in args]

    err = fails(capsys, "capacity", *argv, "--out", str(tmp_path / "out"))

    assert message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "http://127.0.0.1:1"], "no API key: set SURGE_KEY or pass --key"),
        (["--host", "ftp://example", "--key", "k"], "--host must be a base URL"),
        (["--host", "http://127.0.0.1:1", "--key", "k", "--duration", "2x"], "--duration"),
        (
            [
                "--host",
                "http://127.0.0.1:1",
                "--key",
                "k",
                "--scenario",
                "sweep",
                "--duration",
                "5",
            ],
            "too short for 7 sweep steps",
        ),
        (
            ["--host", "http://127.0.0.1:1", "--key", "k", "--replicas-urls", "http://127.0.0.1:2"],
            "--replicas-urls goes with --scenario sweep",
        ),
        (["--host", "http://127.0.0.1:1", "--key", "k", "--slo-errors", "150%"], "between 0"),
    ],
)
def test_loadtest_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    scenario = [] if "--scenario" in args else ["--scenario", "steady"]

    err = fails(capsys, "loadtest", *scenario, *args)

    assert message in err


def test_loadtest_against_nothing_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = f"http://127.0.0.1:{free_port()}"

    err = fails(
        capsys,
        "loadtest",
        "--scenario",
        "steady",
        "--host",
        host,
        "--key",
        "k",
        "--out",
        str(tmp_path / "run"),
    )

    assert f"cannot reach the API at {host}" in err


def test_capacity_from_db_plans_from_the_rollups(tmp_path: Path) -> None:
    env = surge_env(tmp_path)
    seeded = surge_cli(env, "seed", "--links", "3", "--clicks", "2000", "--days", "2")
    assert seeded.returncode == 0, seeded.stderr
    sweep = sweep_file(tmp_path, [100, 190, 350, 560, 700])
    out = tmp_path / "plan"

    done = surge_cli(
        env,
        "capacity",
        "--from-db",
        "--sweep",
        sweep,
        "--history",
        "7d",
        "--horizon",
        "14d",
        "--out",
        str(out),
    )

    assert done.returncode == 0, done.stderr
    assert "history: the click rollups" in done.stdout
    figures = json.loads((out / "capacity.json").read_text())
    assert figures["forecast"]["source"] == "the click rollups"
    # 2,000 clicks over two days: well under a request per second; one replica is plenty.
    assert figures["plan"]["recent_peak"] < 1
    assert figures["plan"]["replicas_needed"] == 1
    assert figures["plan"]["hpa_min"] == 2
    for name in ("report.md", "usl.png", "forecast.png"):
        assert (out / name).stat().st_size > 1000, name


def test_real_command_line_refuses_a_one_point_history(tmp_path: Path) -> None:
    traffic = csv_file(tmp_path, "timestamp,rps\n2026-01-01T00:00:00Z,5\n")

    done = surge_cli(surge_env(tmp_path), "capacity", "--traffic", traffic, "--out", str(tmp_path))

    assert done.returncode == 2
    assert done.stderr.startswith("surge: error: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_serving_never_loads_the_capacity_libraries(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from surge.cli import _parser\n"
        "from surge.apps import build_app\n"
        "from surge.platform.config import Settings\n"
        "_parser().parse_args(['serve'])\n"
        "build_app('all', Settings())\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    done = run_python(surge_env(tmp_path), "-c", script)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
