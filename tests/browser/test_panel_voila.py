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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkit.paper import PaperExchange
from toolkit.runtime import _runner
from toolkit.store._store import Store

from .conftest import CHROMIUM, CHROMIUM_ARGS, need_chromium, serve_voila

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "panel.ipynb"
ARTIFACTS = ROOT / "artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


def exchange_orders(exchange: PaperExchange, key: str) -> dict[str, dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        return exchange.orders(key)

    return {o["clientOrderId"]: o for o in _runner.run(read())}


@pytest.fixture
def voila(io_paper: tuple[PaperExchange, str, str], tmp_path: Path) -> Iterator[str]:
    exchange, key, secret = io_paper
    env = {
        "TOOLKIT_PANEL_URL": exchange.url,
        "TOOLKIT_API_KEY": key,
        "TOOLKIT_API_SECRET": secret,
        "TOOLKIT_STORE": str(tmp_path / "panel.duckdb"),
        "TOOLKIT_PANEL_DEMO_ORDERS": "3",
        "TOOLKIT_PANEL_POLL": "1",
    }
    with serve_voila(NOTEBOOK, env, tmp_path) as url:
        yield url


def test_panel_in_voila_cancels_a_row(
    voila: str, io_paper: tuple[PaperExchange, str, str], tmp_path: Path
) -> None:
    need_chromium()
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
