"""A real browser on the panel notebook: Voilà serves ``notebooks/panel.ipynb``, Debian's Chromium
(headless, driven by Playwright's Python package) shows the open orders, and clicking one row's
Cancel button cancels that order at the paper exchange.

The paper exchange runs in this process (on toolkit's I/O loop) so the test can check its state;
the notebook's kernel reaches it through ``TOOLKIT_PANEL_URL`` and the key in the environment and
places three resting orders (``TOOLKIT_PANEL_DEMO_ORDERS=3``). The screenshot is saved to
``artifacts/panel.png``. Needs ``/usr/bin/chromium`` (``make browser-deps`` installs it).
"""

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkit import _runner
from toolkit._store import Store
from toolkit.paper import PaperExchange

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "panel.ipynb"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
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


def exchange_orders(exchange: PaperExchange, key: str) -> dict[str, dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        return exchange.orders(key)

    return {o["clientOrderId"]: o for o in _runner.run(read())}


@pytest.fixture
def io_paper() -> Iterator[tuple[PaperExchange, str, str]]:
    exchange = PaperExchange(price_mode="fixed", rate_limits=False)
    _runner.run(exchange.start())
    key, secret = exchange.create_key()
    try:
        yield exchange, key, secret
    finally:
        _runner.run(exchange.stop())


@pytest.fixture
def voila(io_paper: tuple[PaperExchange, str, str], tmp_path: Path) -> Iterator[str]:
    exchange, key, secret = io_paper
    port = free_port()
    env = {
        **os.environ,
        "TOOLKIT_PANEL_URL": exchange.url,
        "TOOLKIT_API_KEY": key,
        "TOOLKIT_API_SECRET": secret,
        "TOOLKIT_STORE": str(tmp_path / "panel.duckdb"),
        "TOOLKIT_PANEL_DEMO_ORDERS": "3",
        "TOOLKIT_PANEL_POLL": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    voila_bin = Path(sys.executable).with_name("voila")
    log = open(tmp_path / "voila.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            str(voila_bin),
            str(NOTEBOOK),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            "--show_tracebacks=True",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
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


def test_panel_in_voila_cancels_a_row(
    voila: str, io_paper: tuple[PaperExchange, str, str], tmp_path: Path
) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            "the browser test needs Debian's chromium at /usr/bin/chromium (make browser-deps)"
        )
    from playwright.sync_api import expect, sync_playwright

    exchange, key, _ = io_paper
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(voila, timeout=45_000)
            rows = page.locator(".tk-order")
            expect(rows).to_have_count(3, timeout=45_000)
            # the static copy beside the widget (for exported notebooks) is hidden where the
            # live widget renders
            expect(page.locator(".tk-static")).to_have_count(1)
            expect(page.locator(".tk-static")).to_be_hidden()
            # the kernel's session follows the exchange's user-data stream
            expect(page.locator(".tk-state")).to_have_text("live", timeout=10_000)

            placed = exchange_orders(exchange, key)
            assert len(placed) == 3
            assert {o["status"] for o in placed.values()} == {"NEW"}
            for cid in placed:  # every order at the exchange is a row with its own button
                expect(page.locator(f'[data-cid="{cid}"]')).to_be_visible()
            target = sorted(placed)[0]
            button = page.locator(f'button.tk-cancel[title="Cancel {target}"]')
            expect(button).to_be_enabled()
            button.click()

            deadline = time.monotonic() + 15
            while exchange_orders(exchange, key)[target]["status"] != "CANCELED":
                assert time.monotonic() < deadline, "the order was not cancelled at the exchange"
                time.sleep(0.1)
            after = exchange_orders(exchange, key)
            assert sorted(c for c, o in after.items() if o["status"] == "NEW") == sorted(placed)[1:]
            expect(page.locator(f'[data-cid="{target}"]')).to_contain_text(
                "CANCELED", timeout=10_000
            )
            expect(page.locator(".tk-header")).to_contain_text("CANCELED")
            page.screenshot(path=str(ARTIFACTS / "panel.png"), full_page=True)

            # the Halt button halts trading for every process using the store (issue 14)
            halt = page.locator("button.tk-halt")
            expect(halt).to_have_text("Halt")
            halt.click()
            expect(page.locator(".tk-halted")).to_contain_text("HALTED", timeout=10_000)
            with Store(tmp_path / "panel.duckdb") as store:  # another process sees it
                found = store.halted()
                assert found is not None
                assert found.reason == "halted from the panel"
            expect(halt).to_have_text("Resume")
            halt.click()
            expect(page.locator(".tk-halted")).to_have_count(0, timeout=10_000)
            with Store(tmp_path / "panel.duckdb") as store:
                assert store.halted() is None
        finally:
            with contextlib.suppress(Exception):
                browser.close()
