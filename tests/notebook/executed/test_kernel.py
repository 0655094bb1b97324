"""Quiet runs with plain papermill (issue 13.13): the ``toolkit`` kernelspec that ``make``
installs (``python -m toolkit.notebook._kernel``) starts ipykernel on IPC sockets through our kernel
provisioner, so ``papermill ... -k toolkit`` without ``--engine toolkit`` prints no "Kernel is
running over TCP without encryption" either.

Each test installs the kernelspec into a prefix in ``tmp_path`` (found through
``JUPYTER_PATH``) and runs the papermill command line, as a scheduler would; the control is the
same kernel installed by ipykernel alone, which warns. (POSIX: Windows has no IPC sockets.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.notebook._kernel import PROVISIONER, install

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("papermill")

WARNING = "without encryption"


def _notebook(tmp_path: Path) -> Path:
    path = tmp_path / "hello.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello from', 6 * 7)")]),
        path,
    )
    return path


def _papermill(tmp_path: Path, kernel: str, prefix: Path) -> subprocess.CompletedProcess[str]:
    """Plain ``papermill in out -k kernel`` (papermill's default engine)."""
    env = {
        **os.environ,
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    out = tmp_path / f"{kernel}.out.ipynb"
    args = [sys.executable, "-m", "papermill", str(_notebook(tmp_path)), str(out), "-k", kernel]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "hello from 42" in out.read_text(encoding="utf-8")
    return proc


def test_plain_papermill_on_the_toolkit_kernel_prints_no_transport_warning(
    tmp_path: Path,
) -> None:
    prefix = tmp_path / "prefix"
    path = install("toolkit-quiet", "toolkit (test)", str(prefix))
    spec = json.loads((path / "kernel.json").read_text(encoding="utf-8"))
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == PROVISIONER
    assert spec["argv"][0] == sys.executable
    proc = _papermill(tmp_path, "toolkit-quiet", prefix)
    assert WARNING not in proc.stderr


def test_the_same_kernel_without_our_provisioner_warns(tmp_path: Path) -> None:
    """The control: what plain papermill printed before (and prints for other kernels)."""
    from ipykernel.kernelspec import install as install_ipykernel

    prefix = tmp_path / "prefix"
    install_ipykernel(kernel_name="tcp-kernel", prefix=str(prefix))
    proc = _papermill(tmp_path, "tcp-kernel", prefix)
    assert WARNING in proc.stderr
