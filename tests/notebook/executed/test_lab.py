"""``make lab`` serves the project's notebooks in JupyterLab with the ``toolkit`` kernel."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .conftest import ROOT


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_make_lab_serves_the_notebooks_with_the_toolkit_kernel() -> None:
    import jupyterlab  # noqa: F401 - make test's environment has it (the lab extra, in dev)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(8)
    args = f"--no-browser --ServerApp.port={port} --IdentityProvider.token={token}"
    venv = Path(sys.executable).parent.parent  # this test's venv; -o: used as it is (a test
    # never reinstalls it, even where pyproject.toml is newer than its stamp)
    command = ["make", "-s", f"VENV={venv}", "-o", f"{venv}/.installed", "lab", f"LAB_ARGS={args}"]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 120  # a bound for a hung server, not a timing assumption
        while True:
            try:
                contents = _get(f"{base}/contents?token={token}")
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, "make lab exited"
                assert time.monotonic() < deadline, "JupyterLab did not come up"
                time.sleep(0.2)
        names = {item["name"] for item in contents["content"]}
        assert {"rebalance.ipynb", "quickstart.ipynb", "panel.ipynb"} <= names
        kernels = _get(f"{base}/kernelspecs?token={token}")["kernelspecs"]
        assert "toolkit" in kernels
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
