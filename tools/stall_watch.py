"""`surge serve` with a stall detector: what held the event loop that answers requests.

A task on the serving loop ticks every 5 ms; a watchdog thread samples the loop thread's stack
whenever the last tick is over 30 ms old, and every 2 s rewrites REPORT with the stalls (count,
longest) and the sampled stacks, most frequent first (each sample ~5 ms of stall). Diagnosis
only: the sampling costs little, but do not benchmark with it. Made for docs/adr/0010:

    uv run --frozen python tools/stall_watch.py /tmp/stalls.txt --port 8000
    uv run --frozen surge loadtest --scenario steady --users 20 --duration 20s \\
        --host http://127.0.0.1:8000    # with SURGE_KEY set; then read /tmp/stalls.txt
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import surge.platform.service as service
from surge.cli import main

TICK_S, LATE_S, REPORT_EVERY_S = 0.005, 0.03, 2.0
state: dict[str, float | int | None] = {"tick": time.monotonic(), "thread": None}
samples: Counter[str] = Counter()
stalls: list[float] = []
# (s since the watch began, generation, ms, objects tracked then) of each collection over 5 ms
collections: list[tuple[float, int, float, int]] = []
BEGAN = time.perf_counter()
_collecting: dict[str, float] = {}


def timed_collection(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _collecting["at"] = time.perf_counter()
    elif "at" in _collecting:
        spent = (time.perf_counter() - _collecting.pop("at")) * 1000
        if spent > 5:
            moment = round(time.perf_counter() - BEGAN, 1)
            tracked = len(gc.get_objects()) if info["generation"] == 2 else 0
            collections.append((moment, info["generation"], round(spent, 1), tracked))


async def tick() -> None:
    state["thread"] = threading.get_ident()
    while True:
        state["tick"] = time.monotonic()
        await asyncio.sleep(TICK_S)


def where(frame: object) -> str:
    stack = traceback.extract_stack(frame)  # type: ignore[arg-type]
    return " < ".join(
        f"{f.name}({f.filename.split('site-packages/')[-1].split('/src/')[-1]}:{f.lineno})"
        for f in reversed(stack[-14:])
    )


def watch(report: Path) -> None:
    began: float | None = None
    written = time.monotonic()
    while True:
        time.sleep(TICK_S)
        now, thread = time.monotonic(), state["thread"]
        if thread is not None and now - float(state["tick"] or now) > LATE_S:
            frame = sys._current_frames().get(int(thread))
            if frame is not None:
                samples[where(frame)] += 1
            began = began or now
        elif began is not None:
            stalls.append(now - began)
            began = None
        if now - written > REPORT_EVERY_S:
            longest = sorted(round(s * 1000) for s in stalls)[-10:]
            lines = [f"stalls over {LATE_S * 1000:.0f} ms: {len(stalls)}; longest ms {longest}"]
            recent = collections[-20:]
            lines += [f"garbage collections over 5 ms (s, generation, ms, objects): {recent}"]
            common = samples.most_common(25)
            lines += [f"{n * TICK_S * 1000:.0f} ms  {stack}" for stack, n in common]
            report.write_text("\n".join(lines) + "\n")
            written = now


def run() -> None:
    report, args = Path(sys.argv[1]), sys.argv[2:]
    started = service.Lifespan.startup

    async def startup(self: service.Lifespan) -> None:
        await started(self)
        asyncio.get_running_loop().create_task(tick(), name="stall-watch")

    service.Lifespan.startup = startup  # type: ignore[method-assign]
    gc.callbacks.append(timed_collection)
    threading.Thread(target=watch, args=(report,), daemon=True).start()
    main(["serve", *args])


if __name__ == "__main__":
    run()
