"""The parts the benches share: each entry point (bench/<name>.py) imports them as `parts.<module>`
(run as `python bench/<name>.py`, the script's directory is first on sys.path).

- budget: `BenchError`, the time `Budget`, SIGTERM as an exit.
- runner: `run_bench`, the one way every entry point runs (temp dir, errors, results).
- results: the one results writer, bench/results/<name>-<UTC time>.json.
- processes: starting, waiting for, pausing and stopping servers; CPU accounting.
- systems: the bare app and Surge's three services, set up and checked.
- load: wrk, its output parsing, and the asyncio fallback client (closed loop, saturation).
- openloop: the open-loop constant-rate generator (tail latency).
- rounds: the alternating measured rounds and the wait for clicks.
- report: bench/redirect.py's medians, ratio and table.
- profile: py-spy sampling of a server process.
- stack: a throwaway PostgreSQL database, a private Redis, `INFO commandstats`.
"""
