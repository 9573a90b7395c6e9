"""Write a stated, reproducible traffic history as CSV (`timestamp,rps`, hourly) for trying
`surge capacity --traffic` and for docs/capacity.md's worked example.

    python loadtests/example_history.py --weeks 8 --rps 2000 --growth 100 > history.csv

`--rps` redirects/s on average at the start, `--growth` more each week; a daily cycle (busiest at
15:00 UTC, quietest at 03:00, 40% of `--rps` either way), weekends 25% of `--rps` quieter, and
noise of 5% of the level, drawn from `--seed`. It ends at the last full hour before now.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from datetime import UTC, datetime, timedelta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--rps", type=float, default=2000.0)
    parser.add_argument("--growth", type=float, default=100.0, help="req/s more each week")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = args.weeks * 7 * 24
    out = sys.stdout
    out.write("timestamp,rps\n")
    for i in range(hours):
        at = end - timedelta(hours=hours - i)
        level = args.rps + args.growth * i / 168
        daily = 0.4 * args.rps * math.sin(2 * math.pi * (at.hour - 9) / 24)
        weekend = -0.25 * args.rps if at.weekday() >= 5 else 0.0
        value = (level + daily + weekend) * (1 + rng.gauss(0, 0.05))
        out.write(f"{at.isoformat()},{max(0.0, value):.1f}\n")


if __name__ == "__main__":
    main()
