"""The performance gate: Surge's cached redirect against the bare-ASGI baseline, as measured by
`bench/redirect.py` (`make bench`), may not fall more than `tolerance` (10%) below the committed
ratio in deploy/ci/perf-baseline.json.

    python deploy/ci/perf_gate.py bench/results/redirect-*.json

The ratio (Surge req/s over bare req/s, same server, same machine, alternating rounds) cancels
most of the machine's speed; what other jobs on a shared runner take is noise, and it only
ever slows a run down. So with several result files the best ratio counts: a regression shows
in every run. Exits 0 (pass) or 1 (fail, or no result), printing the numbers either way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BASELINE = Path(__file__).with_name("perf-baseline.json")
RATIO = "ratio_surge_over_bare_rps"


def ratio_of(path: Path) -> float:
    ratio = float(json.loads(path.read_text())["summary"][RATIO])
    if not ratio > 0:
        raise ValueError(f"{path}: ratio {ratio} is not a measurement")
    return ratio


def gate(results: list[Path], baseline_path: Path = BASELINE) -> tuple[bool, str]:
    baseline = json.loads(baseline_path.read_text())
    committed, tolerance = float(baseline[RATIO]), float(baseline["tolerance"])
    floor = committed * (1 - tolerance)
    ratios = {path.name: ratio_of(path) for path in results}
    best = max(ratios.values())
    runs = ", ".join(f"{name} {ratio:.3f}" for name, ratio in ratios.items())
    verdict = "pass" if best >= floor else "FAIL"
    return best >= floor, (
        f"perf gate {verdict}: best ratio {best:.3f} (runs: {runs}); committed {committed:.3f}, "
        f"floor {floor:.3f} ({tolerance:.0%} below)"
    )


def main(argv: list[str]) -> int:
    results = [Path(arg) for arg in argv[1:]]
    if not results:
        print(f"usage: {argv[0]} RESULT.json...", file=sys.stderr)
        return 2
    try:
        passed, report = gate(results)
    except (OSError, ValueError, KeyError) as exc:
        print(f"perf gate: error: {exc}", file=sys.stderr)
        return 1
    print(report)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
