"""The one runner: every entry point's `main` parses its options, then returns
`run_bench(name, work)`.

`work` runs in a temp dir that is always removed, under SIGTERM-as-exit (so a CI job's SIGTERM
still runs the bench's cleanup); the payload it returns, with `elapsed_s`, is written by
parts.results as bench/results/<name>-<UTC time>.json. Any failure is one line on stderr, never
a traceback, and the exit code says which: 1 error, 130 interrupted, 143 terminated. An
asynchronous bench passes `lambda tmp: asyncio.run(bench(tmp))`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .budget import BenchError, Terminated, sigterm_as_exit
from .results import display, save

Payload = dict[str, Any]


def run_bench(name: str, work: Callable[[Path], Payload]) -> int:
    """A bench's run from start to cleanup; the process's exit code."""
    start = time.monotonic()
    failure, code = "", 0
    with tempfile.TemporaryDirectory(prefix=f"surge-{name}-", ignore_cleanup_errors=True) as tmp:
        try:
            with sigterm_as_exit():
                payload = work(Path(tmp))
            payload["elapsed_s"] = round(time.monotonic() - start, 1)
            print(f"results: {display(save(name, payload))}")
        except BenchError as exc:
            failure, code = f"error: {exc}", 1
        except KeyboardInterrupt:
            failure, code = "interrupted", 130
        except Terminated:
            failure, code = "error: terminated", 143
        except Exception as exc:  # one clear line, never a traceback; cleanup already done
            failure, code = f"error: {type(exc).__name__}: {exc}", 1
    if failure:
        print(f"bench: {failure}".splitlines()[0], file=sys.stderr)
    print(f"elapsed: {time.monotonic() - start:.1f}s")
    return code
