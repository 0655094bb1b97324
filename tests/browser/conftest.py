"""Helpers of the browser tests: the paper exchange in this process, a free port, Voilà
serving a notebook in a process group of its own (stopped, and its kernel with it, afterwards),
and Debian's Chromium for Playwright."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from toolkit.paper import PaperExchange
from toolkit.runtime import _runner

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def io_paper() -> Iterator[tuple[PaperExchange, str, str]]:
    """A paper exchange (fixed prices, no rate limits) on toolkit's I/O loop in this process,
    so the test can look at it and steer it; its URL, key and secret go to the kernel."""
    exchange = PaperExchange(price_mode="fixed", rate_limits=False)
    _runner.run(exchange.start())
    key, secret = exchange.create_key()
    try:
        yield exchange, key, secret
    finally:
        _runner.run(exchange.stop())


def need_chromium() -> None:
    """Fail (never skip) without Debian's Chromium: the browser tests need it."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            "the browser test needs Debian's chromium at /usr/bin/chromium (make browser-deps)"
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Return once ``url`` answers (any HTTP answer); raise if ``proc`` exits or it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "static/", timeout=1):
                return
        except urllib.error.HTTPError:  # any HTTP answer: the server is up
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"voila did not answer at {url} within {timeout} s")


@contextlib.contextmanager
def serve_voila(
    notebook: Path,
    env: Mapping[str, str],
    tmp_path: Path,
    args: Sequence[str] = (),
) -> Iterator[str]:
    """Voilà serving ``notebook`` on a free port with ``env``; yields its URL. Its log is
    ``tmp_path/voila.log`` (shown on stderr with ``TOOLKIT_SHOW_VOILA_LOG=1``)."""
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        **env,
    }
    voila_bin = Path(sys.executable).with_name("voila")
    log = open(tmp_path / "voila.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [str(voila_bin), str(notebook), "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--show_tracebacks=True", *args],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, proc, 30)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # voila shuts its kernel down
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group of the process we started
                proc.wait(5)
        log.close()
        if os.environ.get("TOOLKIT_SHOW_VOILA_LOG"):
            sys.stderr.write((tmp_path / "voila.log").read_text(errors="replace"))
