"""Every environment variable the code reads is documented in README.md#configuration, and team
mode fails fast on a missing required value."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PATTERN = re.compile(
    r"""(?:env\.(?:get_str|get_bool|get_int|get_float|get_list|require)\(|os\.environ\.get\(|"""
    r"""os\.environ\[|os\.getenv\(|_ENV\s*=\s*)\s*["']([A-Z][A-Z0-9_]+)["']"""
)
# Not tbhub settings: standard variables of Python/Django/the OS, documented where they belong.
NOT_OURS = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "HOME", "PATH", "TMPDIR"}


def variables_read() -> set[str]:
    found: set[str] = set()
    for pkg in ("tbhub", "hub", "ingest", "panels"):
        for path in (REPO / pkg).rglob("*.py"):
            found.update(PATTERN.findall(path.read_text(encoding="utf-8")))
    return found - NOT_OURS


def test_every_variable_is_documented() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    names = variables_read()
    assert "DATABASE_URL" in names and "TBHUB_SECRET_KEY" in names  # the scan works
    missing = sorted(
        n
        for n in names
        if f"`{n}`" not in readme and not (n.startswith("AWS_") and "`AWS_*`" in readme)
    )
    assert missing == []


def test_team_mode_fails_fast_without_secret_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TBHUB_")}
    env.update(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/tbhub",
        REDIS_URL="redis://127.0.0.1:6379/9",
        DJANGO_SETTINGS_MODULE="tbhub.settings",
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode != 0
    assert "TBHUB_SECRET_KEY must be set" in proc.stderr


def test_team_mode_refuses_a_non_postgres_database() -> None:
    env = dict(os.environ)
    env.update(DATABASE_URL="sqlite:////tmp/x.db", DJANGO_SETTINGS_MODULE="tbhub.settings")
    proc = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in proc.stderr
