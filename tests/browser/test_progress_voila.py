"""A real browser on a Voilà page whose kernel runs a batch of 150 orders: the progress bar
on the page advances while the batch is still running, then reaches 150/150 (issue 13).

Voilà shows a cell's output only once the cell has run -- by default, once the whole notebook
has -- so a bar the batch makes for itself would appear at 100%. The page is therefore built
like a Voilà dashboard: one cell displays a tqdm bar, the next starts the batch as a task with
``progress=bar`` (as a button's handler would) and shows its status; the page is live while
the batch runs in the kernel.

The paper exchange runs in this process, on toolkit's I/O loop. Its order gate answers 10
orders and holds every other order request until the test lets 20 more through, then releases
the rest: the batch is certainly still running while the test looks, however slow the machine
-- no timer decides anything. Needs ``/usr/bin/chromium`` (``make browser-deps``); the
screenshot is ``artifacts/progress.png``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from toolkit.paper import PaperExchange
from toolkit.runtime import _runner

from .conftest import CHROMIUM, CHROMIUM_ARGS, need_chromium, serve_voila

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
ORDERS = 150

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CONNECT = """\
import asyncio
import os

import ipywidgets as widgets
from tqdm.auto import tqdm

import toolkit as tk

session = await tk.connect(
    "paper", base_url=os.environ["TOOLKIT_PROGRESS_URL"],
    timeout=600, send_window=900,   # the test holds the orders at the exchange for a while
)"""
BAR = """\
bar = tqdm(total=0, desc="orders", unit="order")   # on the page at once; the batch moves it"""
BATCH = f"""\
rows = [{{"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": 0.001}}
        for _ in range({ORDERS})]
status = widgets.HTML("batch running")
task = asyncio.ensure_future(session.batch(rows, key="progress-in-voila", progress=bar))

def report(task):
    try:
        frame = task.result()
    except Exception as exc:
        status.value = f"batch failed: {{exc!r}}"
    else:
        filled = int((frame.status == "FILLED").sum())
        status.value = f"batch done: {{len(frame)}} orders, {{filled}} filled"

task.add_done_callback(report)
status"""


def _on_io_loop(fn: Any, *args: Any) -> Any:
    """Call ``fn`` on toolkit's I/O loop, where the paper exchange runs."""

    async def call() -> Any:
        return fn(*args)

    return _runner.run(call())


@pytest.fixture
def voila(io_paper: tuple[PaperExchange, str, str], tmp_path: Path) -> Iterator[str]:
    exchange, key, secret = io_paper
    nbf: Any = nbformat  # (nbformat has no type hints)
    notebook = nbf.v4.new_notebook(
        cells=[nbf.v4.new_code_cell(src) for src in (CONNECT, BAR, BATCH)],
        metadata={
            "kernelspec": {"name": "toolkit", "display_name": "toolkit", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    path = tmp_path / "progress.ipynb"
    nbf.write(notebook, path)
    env = {
        "TOOLKIT_PROGRESS_URL": exchange.url,
        "TOOLKIT_API_KEY": key,
        "TOOLKIT_API_SECRET": secret,
        "TOOLKIT_STORE": str(tmp_path / "progress.duckdb"),
    }
    _on_io_loop(exchange.hold_orders, 10)  # 10 answers, then every order request waits
    with serve_voila(path, env, tmp_path) as url:
        yield url


def test_the_bar_advances_in_voila_while_the_batch_runs(
    voila: str, io_paper: tuple[PaperExchange, str, str]
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    exchange, key, _ = io_paper
    ARTIFACTS.mkdir(exist_ok=True)

    def running() -> None:
        gate = _on_io_loop(lambda: exchange.counters()["gate"])
        assert gate["holding"]
        assert gate["held"] > 0  # order requests wait at the exchange: the batch runs
        expect(page.get_by_text("batch running")).to_be_visible()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(voila, timeout=60_000)
            counts = page.locator(".widget-html-content", has_text=re.compile(rf"/{ORDERS}\b"))
            # each answer moves the bar (not each group of 20 requests)
            expect(counts).to_contain_text(re.compile(rf"\b10/{ORDERS}\b"), timeout=120_000)
            expect(counts).to_contain_text(re.compile(r"\d+\.\d\s*orders/s"))
            running()
            assert len(_on_io_loop(exchange.orders, key)) == 10

            _on_io_loop(exchange.hold_orders, 20)  # 20 more: the bar moves on the live page
            expect(counts).to_contain_text(re.compile(rf"\b30/{ORDERS}\b"), timeout=120_000)
            running()
            page.screenshot(path=str(ARTIFACTS / "progress.png"), full_page=True)

            _on_io_loop(exchange.release_orders)
            expect(counts).to_contain_text(f"{ORDERS}/{ORDERS}", timeout=120_000)
            expect(page.get_by_text(f"batch done: {ORDERS} orders, {ORDERS} filled")).to_be_visible(
                timeout=120_000
            )
            assert len(_on_io_loop(exchange.orders, key)) == ORDERS
        finally:
            with contextlib.suppress(Exception):
                browser.close()
