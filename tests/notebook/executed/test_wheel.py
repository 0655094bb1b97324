"""``python -m toolkit demo`` works from a wheel installed in a fresh venv (issue 13.10).

The job's notebook ships inside the package; nothing of the source tree is visible to the venv
(it runs in an empty directory, with the wheel's ``toolkit`` and the ``python3`` kernel of the
venv's own interpreter). uv builds the wheel and installs it with its dependencies from uv's cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

UV = Path(sys.executable).parent / "uv"


@pytest.mark.slow
@pytest.mark.skipif(not UV.exists(), reason="uv is installed in the project's venv by make")
def test_demo_runs_from_a_wheel_in_a_fresh_venv(tmp_path: Path) -> None:
    def run(
        *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=cwd,
            env=env,
        )

    dist = tmp_path / "dist"
    # sdist first, then the wheel from the unpacked sdist (as pip does from PyPI): the source
    # tree gets no build/ directory, and the sdist must carry the notebook too
    built = run(UV, "build", "-q", "-o", dist, ROOT)
    assert built.returncode == 0, built.stderr
    [wheel] = dist.glob("toolkit-*.whl")
    venv = tmp_path / "venv"
    assert run(UV, "venv", "-q", "-p", sys.executable, venv).returncode == 0
    python = venv / "bin" / "python"
    installed = run(UV, "pip", "install", "-q", "-p", python, f"{wheel}[notebook]")
    assert installed.returncode == 0, installed.stderr

    work = tmp_path / "work"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TOOLKIT_", "VIRTUAL_ENV", "PYTHON", "JUPYTER"))
    }
    env["TOOLKIT_STORE"] = str(work / "toolkit.duckdb")
    where = run(python, "-c", "import toolkit; print(toolkit.__file__)", cwd=work, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where  # the wheel, not the tree

    demo = run(python, "-m", "toolkit", "demo", "--key", "wheel", cwd=work, env=env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "key=rebalance-wheel mode=run would_place=0 placed=2 filled=2" in demo.stdout
    assert (work / "runs" / "rebalance-wheel.ipynb").exists()
    assert "without encryption" not in demo.stderr
