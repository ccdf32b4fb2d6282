# Only Python 3.11+, git and make are needed: uv (pinned) is bootstrapped into .tools/, then the
# environment in .venv/ is created exactly from uv.lock, its bytecode compiled once at install (a
# server that compiled its libraries at every start took 10-20 s to become ready).
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
# The project's own packages (installed editable, so uv does not compile them): compiled at
# install too, for shells where Python writes no bytecode (PYTHONDONTWRITEBYTECODE).
PACKAGES := agent api bench config evals hitl reports service slack_app store tools

.PHONY: demo test test-slow lint drills clean studio-env test-studio

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): $(UV) uv.lock pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q -j 0 $(PACKAGES)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hitl demo

# `make test` is the fast suite (in-process, frozen clock); tests marked `slow` start other
# processes or real servers: `make test-slow` runs those outside tests/drills, `make drills` the
# drills among them. CI (.ci/run) runs all three, so each test runs exactly once there.
# One worker per core (pytest-xdist). Work stealing: a worker that runs out takes tests from
# the other's queue, so the suite does not end on one core with a long file left (with one file
# per worker, 190 s against 177 s on 2 cores with the PostgreSQL tests, 2026-12-03). A file's
# tests may then run on both workers, each building its module fixtures once. Every test has its
# own SQLite file or PostgreSQL database and free ports, so workers share nothing.
# The default suite runs no schemathesis drill: its plugin and Hypothesis's are left unloaded
# (a second of start-up in each worker).
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow" -n auto --dist worksteal \
		-p no:schemathesis -p no:hypothesispytest

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "slow and not studio" --ignore=tests/drills --durations=10

# langgraph-cli[inmem] for `langgraph dev` / LangGraph Studio, installed on top of the locked
# environment (its langgraph-api and the drills' schemathesis cannot share one lock), so CI runs
# the `langgraph dev` test last, after the drills.
STUDIO := "langgraph-cli[inmem]==0.4.40"
studio-env: $(STAMP)
	$(UV) pip install --quiet --python $(VENV)/bin/python $(STUDIO)

test-studio: studio-env
	$(VENV)/bin/python -m pytest -q -m studio

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .tools var

# Slow drills (kill -9 at every stage, 1,000 replays, minutes of model failures, schemathesis,
# `hitl serve` startup); the fast drills in tests/drills run in `make test`.
drills: $(STAMP)
	$(VENV)/bin/python -m pytest -q -s --durations=0 -m slow tests/drills
