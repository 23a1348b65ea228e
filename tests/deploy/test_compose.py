"""deploy/compose.yaml: valid against the Compose Specification's schema (kept in the repo) and
shaped as docs/DEPLOY.md promises (one command, scalable workers, one beat, one-shot migrations)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SCHEMA = DEPLOY / "schema" / "compose-spec.json"
COMPOSE = DEPLOY / "compose.yaml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(SCHEMA), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_the_schema_is_the_vendored_official_one() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert (DEPLOY / "schema" / "LICENSE.compose-spec").is_file()
    assert SCHEMA_SHA256 in (DEPLOY / "schema" / "README.md").read_text()


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    result = check(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_the_schema_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    """The validation above means something: a typo in a condition or a key is caught."""
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        COMPOSE.read_text().replace("service_completed_successfully", "service_completed", 1)
    )
    assert check(broken).returncode != 0
    broken.write_text(COMPOSE.read_text().replace("stop_grace_period:", "stop_grace_periods:", 1))
    assert check(broken).returncode != 0


def test_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "postgres", "redis", "migrate", "web", "worker", "beat", "minio", "minio-init"
    }  # fmt: skip
    for name in ("migrate", "web", "worker", "beat"):
        svc = services[name]
        assert svc["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert (REPO / "docker" / "Dockerfile").is_file()
        assert svc["env_file"] == [{"path": ".env", "required": True}]
        assert svc["read_only"] is True
        assert svc["cap_drop"] == ["ALL"]
    assert services["web"]["command"][0] == "web"
    assert services["worker"]["command"][0] == "worker"
    assert services["beat"]["command"] == ["beat"]
    assert services["migrate"]["command"] == ["manage", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"


def test_start_order_follows_health_and_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in ("postgres", "redis", "web", "worker", "minio"):
        assert services[name]["healthcheck"]["test"], name


def test_workers_scale_and_beat_stays_single(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("worker", "beat"):
        # Fixed names or host ports would make `--scale worker=3` fail.
        assert "container_name" not in services[name]
        assert "ports" not in services[name]
    assert "scale" not in services["beat"]
    assert "deploy" not in services["beat"]
    # Only web is published, on loopback unless TBHUB_BIND says otherwise.
    assert services["web"]["ports"] == ["${TBHUB_BIND:-127.0.0.1}:${TBHUB_HTTP_PORT:-8000}:8000"]
    for name in ("postgres", "redis"):
        assert "ports" not in services[name]


def test_minio_is_an_optional_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["minio"]["profiles"] == ["minio"]
    assert services["minio-init"]["profiles"] == ["minio"]
    for name, svc in services.items():
        if not name.startswith("minio"):
            assert "profiles" not in svc, name


def test_secrets_come_from_the_env_file_only(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    env = compose["services"]["web"]["environment"]
    assert env["TBHUB_SECRET_KEY"].startswith("${TBHUB_SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]
    assert "${REDIS_PASSWORD:?" in env["REDIS_URL"]
    # Every required variable is in the example .env, and the example holds placeholders only.
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = (DEPLOY / ".env.example").read_text()
    defined = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    assert required <= set(defined), required - set(defined)
    for name in ("TBHUB_SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert defined[name] == "CHANGE-ME"
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()
