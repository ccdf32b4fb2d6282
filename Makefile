# Only Python 3.11+, git and make are needed: uv (pinned) is bootstrapped into .tools/, then the
# environment in .venv/ is created exactly from uv.lock, its bytecode compiled once at install (a
# server that compiled its libraries at every start took 10-20 s to become ready).
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: demo test lint drills clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): $(UV) uv.lock pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hitl demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .tools var

# Slow drills (kill -9 at every stage, 1,000 replays, minutes of model failures, schemathesis)
# plus the fast ones; `make test` skips tests/drills/ unless HITL_DRILLS=1.
drills: $(STAMP)
	HITL_DRILLS=1 $(VENV)/bin/python -m pytest -q -s --durations=0 tests/drills tests/test_drills_*.py
