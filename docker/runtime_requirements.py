"""Print the runtime requirements of tbhub: `[project].dependencies` of pyproject.toml, one a line.

The lock file (requirements/lock.txt) also pins the dev and proto extras; the image installs
only these, with the lock as constraints file, so every runtime package has the locked version:

    python docker/runtime_requirements.py pyproject.toml > runtime.in
    pip install -r runtime.in -c requirements/lock.txt

Standard library only (tomllib, Python 3.11+): it runs in the image's build stage before anything
is installed.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def runtime_requirements(pyproject: Path) -> list[str]:
    with pyproject.open("rb") as f:
        data = tomllib.load(f)
    return [str(req) for req in data["project"]["dependencies"]]


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "pyproject.toml")
    sys.stdout.write("".join(f"{req}\n" for req in runtime_requirements(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
