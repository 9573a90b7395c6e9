# Surge — the two commands are `make run` and `make test`; both bootstrap what they need.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV_STAMP := .venv/.synced

.PHONY: run test suite lint fmt types migrate bench bench-quick bench-peer deps clean

# Bytecode compiled once at install, for what serves and measures (run, migrate, the benches):
# where PYTHONDONTWRITEBYTECODE is set (this machine kind and many CI images), every Python
# process would otherwise compile each module it imports, ~2 s of CPU per `surge` command (1.0 s
# instead of 2.9 s for `surge export`). Not for `make test`: the suite writes bytecode itself
# (PYTHONDONTWRITEBYTECODE= below), for just what it imports, and compiling all of site-packages
# first was 17 s of a fresh clone's CI run.
# Not the test-only engine (chdb, with pandas and pyarrow): `make deps` on a fresh clone took 35 s
# without them, 48 s with them (a busy machine); the tests that import it compile what they use.
BYTECODE_STAMP := .venv/.compiled

$(VENV_STAMP): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

$(BYTECODE_STAMP): $(VENV_STAMP)
	$(UV) run --frozen python -m compileall -q -j 0 -x '/(chdb|chdb_core|pandas|pyarrow)/' \
		$$($(UV) run --frozen python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') >/dev/null
	@touch $@

deps: $(BYTECODE_STAMP)

run: $(BYTECODE_STAMP) ## serve api + redirect + analytics on http://127.0.0.1:8000 (SQLite)
	$(UV) run --frozen surge serve

migrate: $(BYTECODE_STAMP)
	$(UV) run --frozen surge migrate

lint: $(VENV_STAMP)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

fmt: $(VENV_STAMP)
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

types: $(VENV_STAMP)
	$(UV) run --frozen mypy

# Two workers (pytest-xdist), a test module per worker at a time so module-scoped apps are built
# once, in the order tests/conftest.py sorts them (the longest first; xdist's default reorder by
# tests per module put the two-test fuzz module last, a minute alone at the end); the slowest
# tests listed at the end, so a regression in time shows where it starts. (Three workers on 2
# cores, when the suite used 926 s of CPU: 9:49 against 10:12, and a chaos latency bound missed.
# Now 617 s of CPU: `.ci/run` on a clean clone and a fresh machine took 7:30 with two.)
TEST_WORKERS ?= 2
# Bytecode written for the suite where the environment says not to (an empty value is "unset"):
# pytest's rewritten test modules and Surge's own are then compiled once, not in every worker
# and every `surge` process the tests start.
# mypy (~10 s cold, one core) runs beside the suite, which leaves about a third of 2 cores idle
# while its tests wait on servers.
test: lint ## lint, types, the whole suite
	$(MAKE) --no-print-directory -j2 types suite

suite: $(VENV_STAMP)
	PYTHONDONTWRITEBYTECODE= $(UV) run --frozen pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=15

# Each bench may miss a target or fail (`-`: go on); the summary then says which, and exits 1 if
# a bench left no fresh results. About 17-18 minutes on 2 cores; docs/performance.md has the method.
# The first run on a machine also seeds analytics' kept 10M-click database (surge_bench_10m,
# ~5 GB): ~9-20 minutes once, reused by every later run.
bench: $(BYTECODE_STAMP) ## every benchmark, then one table of figures, targets, met (bench/results/summary.json)
	-$(UV) run --frozen python bench/redirect.py
	-$(UV) run --frozen python bench/servers.py
	-$(UV) run --frozen python bench/hot_path.py
	-$(UV) run --frozen python bench/memory.py
	-$(UV) run --frozen python bench/workers.py
	-$(UV) run --frozen python bench/all_in_one.py
	-$(UV) run --frozen python bench/all_in_one_api.py
	-$(UV) run --frozen python bench/overload.py
	-$(UV) run --frozen python bench/analytics.py --heavy
	-$(UV) run --frozen python bench/viral.py
	-$(UV) run --frozen python bench/exports.py
	$(UV) run --frozen python bench/summary.py --max-age 30

bench-quick: $(BYTECODE_STAMP) ## the redirect ratio alone (Surge, production's shape / bare ASGI 302 on uvicorn), about 3 minutes
	$(UV) run --frozen python bench/redirect.py
	$(UV) run --frozen python bench/summary.py --only redirect --max-age 5

# Not part of `make bench`: it needs Kutt's checkout outside the repository
# (bench/peers/kutt-setup.sh), and Kutt's rate follows its disk's fsync latency, not the code.
bench-peer: $(BYTECODE_STAMP) ## Surge side by side with Kutt, both on their embedded defaults, about 3 minutes
	$(UV) run --frozen python bench/peer.py
	$(UV) run --frozen python bench/summary.py --only peer --max-age 10

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
