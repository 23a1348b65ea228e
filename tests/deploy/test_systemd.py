"""deploy/systemd/: units that systemd itself accepts (`systemd-analyze verify`) and that run the
right processes: one beat, templated workers with distinct Celery node names, migrations first."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def test_units_run_the_tbhub_processes() -> None:
    exec_start = {
        name: unit(name)["Service"]["ExecStart"]
        for name in ("tbhub-web.service", "tbhub-worker@.service", "tbhub-beat.service",
                     "tbhub-migrate.service")
    }  # fmt: skip
    assert exec_start["tbhub-web.service"].split()[1:3] == ["web", "--host"]
    assert "127.0.0.1" in exec_start["tbhub-web.service"]  # behind a proxy
    assert exec_start["tbhub-worker@.service"].split()[1] == "worker"
    assert "-n worker%i@%H" in exec_start["tbhub-worker@.service"]  # distinct node names
    assert exec_start["tbhub-beat.service"].split()[1:] == ["beat"]
    assert exec_start["tbhub-migrate.service"].split()[1:] == ["manage", "migrate", "--noinput"]
    assert unit("tbhub-migrate.service")["Service"]["Type"] == "oneshot"
    for name in ("tbhub-web.service", "tbhub-worker@.service", "tbhub-beat.service"):
        u = unit(name)
        assert "tbhub-migrate.service" in u["Unit"]["After"], name
        assert u["Service"]["User"] == "tbhub", name
        assert u["Service"]["EnvironmentFile"] == "/etc/tbhub/tbhub.env", name
        assert u["Service"]["NoNewPrivileges"] == "yes", name
        assert u["Service"]["ProtectSystem"] == "strict", name
    assert not (UNITS / "tbhub-beat@.service").exists()  # exactly one beat
    example = (UNITS / "tbhub.env.example").read_text()
    assert "TBHUB_SECRET_KEY=CHANGE-ME" in example


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # The units point at /opt/tbhub/venv; verify checks that the binary exists, so point the
    # copies at this checkout's tbhub.
    tbhub = Path(sys.executable).parent / "tbhub"
    for path in UNITS.iterdir():
        if path.suffix in (".service", ".target"):
            text = path.read_text().replace("/opt/tbhub/venv/bin/tbhub", str(tbhub))
            (tmp_path / path.name).write_text(text)
    shutil.copy(tmp_path / "tbhub-worker@.service", tmp_path / "tbhub-worker@1.service")
    names = ["tbhub-web.service", "tbhub-beat.service", "tbhub-migrate.service",
             "tbhub-worker@1.service", "tbhub.target"]  # fmt: skip
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *[str(tmp_path / n) for n in names]],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tbhub" not in result.stderr, result.stderr
