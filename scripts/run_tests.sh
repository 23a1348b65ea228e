#!/usr/bin/env bash
# The whole suite, as CI runs it: unit + integration tests against real PostgreSQL, Redis, moto and
# the GCS emulator; then the browser tests in their own pytest session (Playwright's sync API and
# pytest-asyncio cannot share one); then lint and types.
set -euo pipefail
cd "$(dirname "$0")/.."
export GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false
export DATABASE_URL="${TBHUB_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tbhub}"
export REDIS_URL="${TBHUB_TEST_REDIS_URL:-redis://127.0.0.1:6379/9}"
export TBHUB_SECRET_KEY="${TBHUB_SECRET_KEY:-test-secret-key-not-for-production}"
export TBHUB_REDIS_PREFIX="${TBHUB_REDIS_PREFIX:-tbhub-test-$$}"
export DJANGO_SETTINGS_MODULE=tbhub.settings.test
PYTEST=.venv/bin/pytest
start=$(date +%s)
$PYTEST -m "not browser" tests "$@"
if ls tests/browser/test_*.py >/dev/null 2>&1; then
  DJANGO_ALLOW_ASYNC_UNSAFE=true $PYTEST -m browser tests/browser -p no:asyncio "$@"
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
echo "[tests] all green in $(( $(date +%s) - start )) s" >&2
