# tbhub — the two set-up commands are `make serve` and `make test`; everything else is a helper.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.setup-stamp
HOST ?= 127.0.0.1
PORT ?= 6006
LOGDIR ?=
export GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT := false

.PHONY: setup serve test test-fast test-browser lint fmt bench proto demo clean services frontend docker-smoke

# Idempotent: rebuilds the venv only when the lock file or pyproject changes.
setup: $(STAMP) frontend

$(STAMP): requirements/lock.txt pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) on PATH" >&2; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/pip install -q --disable-pip-version-check uv==0.13.9
	$(UV) pip install -q -p $(BIN)/python -r requirements/lock.txt
	$(UV) pip install -q -p $(BIN)/python --no-deps -e .
	@touch $(STAMP)

frontend:
	@bash scripts/build_frontend.sh

serve: setup
	@if [ -n "$(LOGDIR)" ]; then \
	  exec $(BIN)/tbhub serve --logdir "$(LOGDIR)" --host $(HOST) --port $(PORT); \
	else \
	  $(BIN)/python scripts/make_demo_logdir.py .demo-logs && \
	  exec $(BIN)/tbhub serve --logdir .demo-logs --host $(HOST) --port $(PORT); \
	fi

services:
	@bash scripts/ensure_services.sh

# The whole suite against real PostgreSQL, Redis, moto, the GCS emulator and Chromium.
test: setup services
	@bash scripts/run_tests.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Build docker/Dockerfile with podman (base images made locally) and run web, worker and beat
# against the local PostgreSQL and Redis (docs/DEPLOY.md). Minutes; never part of `make test`.
docker-smoke: setup services
	@bash scripts/docker_smoke.sh

bench: setup services
	$(BIN)/python benchmarks/ingest.py --scale small

proto: setup
	$(BIN)/python scripts/gen_proto.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo-logs
