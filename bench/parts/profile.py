"""Where a server process spends its CPU under load: py-spy samples, summarized by self time.

py-spy attaches from outside (ptrace: root, or CAP_SYS_PTRACE in a container), so the process
runs unmodified; `--native` also unwinds C frames (uvloop, httptools, the interpreter), which is
where a pure-Python profiler such as cProfile sees nothing. Samples are written as py-spy's
"raw" (collapsed stacks: `frame;frame;... count`), one line per distinct stack.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
RATE_HZ = 250  # samples/s: enough for a few thousand samples in a short run, little overhead

# Frames are matched by their file, so a stack is put in the first area it touches (leaf first).
AREAS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # The kernel's side of the socket calls (loopback TCP, waking the client): any server pays it.
    ("socket syscalls (write, read, epoll)", re.compile(r"^(write|writev|read|epoll_\w+) \(")),
    ("click buffer, events", re.compile(r"surge/redirect/clicks\.py|surge/data/events\.py")),
    ("visitor (ip, ua, bot)", re.compile(r"surge/redirect/visitor\.py")),
    ("metrics", re.compile(r"surge/platform/metrics\.py|prometheus_client")),
    ("surge redirect handler", re.compile(r"surge/redirect/|surge/platform/")),
    ("uvicorn protocol (httptools)", re.compile(r"uvicorn/protocols/|httptools")),
    ("granian", re.compile(r"granian")),
    ("event loop (uvloop, asyncio)", re.compile(r"uvloop|asyncio/")),
)


@dataclass
class Profile:
    samples: int
    areas: dict[str, float]  # share of samples whose leaf-most known frame is in that area
    top_self: list[tuple[str, float]] = field(default_factory=list)  # leaf frame, share
    raw: str = ""  # where the collapsed stacks were written
    native: bool = False


def record(pid: int, seconds: int, out: Path, native: bool = True) -> Profile | str:
    """Sample `pid` for `seconds`; a Profile, or why py-spy could not (one line)."""
    if not Path(PY_SPY).exists():
        return "py-spy is not installed (uv sync installs the dev group)"
    argv = [PY_SPY, "record", "-p", str(pid), "-d", str(seconds), "-r", str(RATE_HZ)]
    argv += ["-f", "raw", "-o", str(out), *(["--native"] if native else [])]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except subprocess.TimeoutExpired:
        return "py-spy did not finish"
    if done.returncode != 0 or not out.exists():
        if native:  # unwinding C frames needs more than plain sampling: retry without
            return record(pid, seconds, out, native=False)
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        return f"py-spy failed: {lines[-1][:200]}"
    return summarize(out.read_text(), str(out), native)


def _area(stack: list[str]) -> str:
    for frame in reversed(stack):  # leaf first: a stack counts for the code that was running
        for name, pattern in AREAS:
            if pattern.search(frame):
                return name
    return "other (interpreter, C library)"


def _frame_name(frame: str) -> str:
    """`func (path/to/file.py:12)` -> `func (file.py)`: lines vary, functions do not."""
    found = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not found:
        return frame
    return f"{found.group(1)} ({Path(found.group(2)).name})"


def summarize(raw: str, where: str = "", native: bool = False, top: int = 15) -> Profile:
    areas: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        total += count
        areas[_area(stack)] += count
        leaves[_frame_name(stack[-1])] += count
    if not total:
        return Profile(0, {}, [], where, native)
    return Profile(
        samples=total,
        areas={name: round(n / total, 3) for name, n in areas.most_common()},
        top_self=[(name, round(n / total, 3)) for name, n in leaves.most_common(top)],
        raw=where,
        native=native,
    )


def print_profile(profile: Profile) -> None:
    print(f"\nprofile: {profile.samples:,} samples{' (native frames)' if profile.native else ''}")
    for name, share in profile.areas.items():
        print(f"  {share:>6.1%}  {name}")
    print("  leaf frames (self time):")
    for name, share in profile.top_self:
        print(f"  {share:>6.1%}  {name}")
    if profile.raw:
        print(f"  collapsed stacks: {profile.raw}")
