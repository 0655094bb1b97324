"""The panel's widget logic against a small fake session (no exchange, no I/O thread).

Time is a :class:`~tests.notebook.clock.FakeClock`: renders, ticks, lingering rows and polls happen
when a test advances it, never because the machine was fast or slow.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from toolkit.core._exceptions import SessionClosedError
from toolkit.core._frame import orders_to_frame
from toolkit.core._models import Market, Order, OrderStatus, OrderType, Side
from toolkit.notebook._panel import Panel, panel
from toolkit.runtime._events import Publisher

from .clock import WALL_START, FakeClock, drain


def order(
    cid: str, symbol: str = "BTCUSDT", status: OrderStatus = OrderStatus.NEW, **kw: Any
) -> Order:
    return Order(
        client_order_id=cid,
        exchange="paper",
        market=Market.SPOT,
        symbol=symbol,
        side=Side.BUY,
        type=OrderType.LIMIT,
        status=status,
        price=100.0,
        qty=1.0,
        filled_qty=0.0,
        order_id=cid.upper(),
        created_at=pd.Timestamp(WALL_START, unit="s", tz="UTC"),
        **kw,
    )


class FakeSession:
    """What the panel uses of a Session: config, state, updates, refresh, cancels."""

    def __init__(self, orders: Sequence[Order] = ()) -> None:
        self.config = SimpleNamespace(exchange="paper", market=Market.SPOT, live=False)
        self.halt_reason: str | None = None
        self.exchange_orders = {o.client_order_id: o for o in orders}
        self.publisher = Publisher()
        self.closed = False
        self.cancel_calls: list[list[str]] = []
        self.cancel_all_calls: list[str | None] = []
        self.gate: asyncio.Event | None = None
        self.feed = None  # no order feed: the board polls

    def open_order_state(self) -> list[Order]:
        return []

    def halted(self) -> SimpleNamespace | None:
        return None if self.halt_reason is None else SimpleNamespace(reason=self.halt_reason)

    def halt(self, reason: str) -> None:
        self.halt_reason = reason

    def resume(self) -> None:
        self.halt_reason = None

    def updates(self) -> AsyncIterator[list[Order]]:
        return self.publisher.updates()

    def publish(self, orders: Sequence[Order]) -> None:
        for o in orders:
            self.exchange_orders[o.client_order_id] = o
        self.publisher.publish(orders, asyncio.get_running_loop())

    async def open_orders(self, symbol: str | None = None) -> pd.DataFrame:
        if self.closed:
            raise SessionClosedError("closed")
        return orders_to_frame([o for o in self.exchange_orders.values() if o.is_open])

    async def cancel(self, ids: Sequence[str]) -> pd.DataFrame:
        self.cancel_calls.append(list(ids))
        if self.gate is not None:
            await self.gate.wait()
        done = [
            dataclasses.replace(self.exchange_orders[i], status=OrderStatus.CANCELED) for i in ids
        ]
        self.publish(done)
        return orders_to_frame(done)

    async def cancel_all(self, symbol: str | None = None) -> pd.DataFrame:
        self.cancel_all_calls.append(symbol)
        done = [
            dataclasses.replace(o, status=OrderStatus.CANCELED)
            for o in self.exchange_orders.values()
            if o.is_open and o.symbol == symbol
        ]
        self.publish(done)
        return orders_to_frame(done)

    def close(self) -> None:
        self.closed = True
        self.publisher.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def settle(p: Panel, seconds: float = 0.5) -> None:
    """Let queued deliveries run, then ``seconds`` of panel time pass (a coalesced render is
    at most ``1 / max_rate`` = 0.25 s away)."""
    clock = p._board.clock
    assert isinstance(clock, FakeClock)
    await clock.advance(seconds)


@pytest.fixture
def fake() -> FakeSession:
    return FakeSession([order("a1"), order("a2", "ETHUSDT")])


async def test_rows_from_the_initial_refresh_and_updates(
    fake: FakeSession, clock: FakeClock
) -> None:
    p = panel(fake, linger=0.0, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p)
        assert sorted(r["client_order_id"] for r in p.rows()) == ["a1", "a2"]
        assert p.counts() == {"NEW": 2}
        fake.publish(
            [
                dataclasses.replace(
                    fake.exchange_orders["a1"], status=OrderStatus.PARTIALLY_FILLED, filled_qty=0.4
                )
            ]
        )
        await settle(p)
        row = next(r for r in p.rows() if r["client_order_id"] == "a1")
        assert (row["status"], row["filled"]) == ("PARTIALLY_FILLED", "0.4")
        fake.publish(
            [
                dataclasses.replace(
                    fake.exchange_orders["a1"], status=OrderStatus.FILLED, filled_qty=1.0
                )
            ]
        )
        await settle(p, 1.0)  # the done row leaves after `linger` (at the next tick, 1 s)
        assert [r["client_order_id"] for r in p.rows()] == ["a2"]
        assert p.counts() == {"NEW": 1, "FILLED": 1}
        assert "FILLED <b>1</b>" in p.header.value
        assert len(p.rows_box.children) == 1
    finally:
        p.close()


async def test_updates_are_coalesced(fake: FakeSession, clock: FakeClock) -> None:
    p = panel(fake, max_rate=4.0, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p)
        before = p.renders
        for i in range(50):  # 50 updates while no time passes: no render yet, one scheduled
            fake.publish([order(f"x{i}")])
            await drain()
        assert len(p.rows()) == 52
        assert p.renders == before
        await clock.advance(0.25)
        assert p.renders == before + 1  # all 50 in one render
        assert len(p.rows_box.children) == 52
        before = p.renders
        for i in range(50):  # 50 updates over 0.25 s: a render at most every 0.25 s
            fake.publish([order(f"y{i}")])
            await clock.advance(0.005)
        await settle(p, 0.25)
        assert len(p.rows_box.children) == 102
        assert 1 <= p.renders - before <= 2
    finally:
        p.close()


async def test_cancel_button_schedules_without_blocking(
    fake: FakeSession, clock: FakeClock
) -> None:
    fake.gate = asyncio.Event()
    p = panel(fake, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p)
        button = p.cancel_button("a1")
        assert button.description == "Cancel"
        assert button.tooltip == "Cancel a1"
        assert "tk-cancel" in button._dom_classes
        assert "tk-cid-a1" in button._dom_classes
        button.click()  # returns at once; the cancel waits on the gate
        await settle(p)
        assert fake.cancel_calls == [["a1"]]
        row = next(r for r in p.rows() if r["client_order_id"] == "a1")
        assert row["status"] == "CANCELING"
        assert p.cancel_button("a1").disabled
        button.click()  # a second click while in flight does nothing
        fake.gate.set()
        await settle(p)
        assert fake.cancel_calls == [["a1"]]
        row = next(r for r in p.rows() if r["client_order_id"] == "a1")
        assert row["status"] == "CANCELED"
        assert p.cancel_button("a1").disabled
    finally:
        p.close()


async def test_cancel_all_needs_confirmation_and_respects_the_filter(
    fake: FakeSession, clock: FakeClock
) -> None:
    p = panel(fake, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p)
        p.filter.value = "ETHUSDT"
        await settle(p)
        assert [r["client_order_id"] for r in p.rows()] == ["a2"]
        p.cancel_all_button.click()
        assert p.confirm_box.layout.display == "flex"
        assert "Cancel 1 open order" in (p.confirm_text.value)
        await settle(p)
        assert fake.cancel_all_calls == []  # nothing without confirmation
        p.back_button.click()
        assert p.confirm_box.layout.display == "none"
        p.cancel_all_button.click()
        p.confirm_button.click()
        await settle(p)
        assert fake.cancel_all_calls == ["ETHUSDT"]
        assert fake.exchange_orders["a1"].status is OrderStatus.NEW
    finally:
        p.close()


async def test_two_panels_agree_and_close_independently(
    fake: FakeSession, clock: FakeClock
) -> None:
    p1 = panel(fake, clock=clock)  # type: ignore[arg-type]
    p2 = panel(fake, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p1)
        assert p1._board is p2._board
        fake.publish([order("z9", "BNBUSDT")])
        await settle(p1)
        ids1 = [r["client_order_id"] for r in p1.rows()]
        assert ids1 == [r["client_order_id"] for r in p2.rows()]
        assert "z9" in ids1
        p1.close()
        renders = p1.renders
        fake.publish([order("z10")])
        await settle(p2)
        assert p1.renders == renders  # a closed panel is not updated any more
        assert "z10" in [r["client_order_id"] for r in p2.rows()]
    finally:
        p1.close()
        p2.close()
    assert not p2._board.views


async def test_closed_session_shows_a_clear_state(fake: FakeSession, clock: FakeClock) -> None:
    p = panel(fake, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p)
        fake.close()
        await settle(p)
        assert "Session closed" in p.error_line.value
        assert "session closed" in p.header.value
        assert p.cancel_all_button.disabled
        assert p.cancel_button("a1").disabled
        snap = p.snapshot()
        assert "session closed" in snap
        assert snap._repr_html_() == str(snap)
    finally:
        p.close()


async def test_snapshot_is_static_html(fake: FakeSession, clock: FakeClock) -> None:
    p = panel(fake, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p)
        snap = p.snapshot()
        assert snap.count("<tr>") == 3
        assert "a1" in snap
        assert "ETHUSDT" in snap
        assert "<button" not in snap
    finally:
        p.close()


def test_panel_needs_a_running_loop(fake: FakeSession) -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        panel(fake)  # type: ignore[arg-type]


def test_import_toolkit_does_not_import_ipywidgets() -> None:
    import subprocess
    import sys

    code = (
        "import sys, toolkit, toolkit.notebook._panel, toolkit.binance._stream;"
        " print('ipywidgets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_without_a_feed_the_board_polls(fake: FakeSession, clock: FakeClock) -> None:
    p = panel(fake, poll_interval=0.1, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p)
        # changes the session never published (no stream): only a refresh can see them
        fake.exchange_orders["q1"] = order("q1")
        fake.exchange_orders["a1"] = dataclasses.replace(
            fake.exchange_orders["a1"], status=OrderStatus.FILLED
        )
        await settle(p, 0.1)  # one poll
        ids = sorted(r["client_order_id"] for r in p.rows())
        assert ids == ["a2", "q1"]
        assert "polling" in p.header.value
    finally:
        p.close()


def test_missing_ipywidgets_is_reported_as_a_core_dependency(
    monkeypatch: pytest.MonkeyPatch, fake: FakeSession
) -> None:
    import sys

    import toolkit as tk
    from toolkit.core._exceptions import ToolkitError
    from toolkit.notebook import _panel

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets -> ImportError
    with pytest.raises(ToolkitError) as info:
        _panel._widgets()
    message = str(info.value)
    assert "ipywidgets" in message
    assert "toolkit[notebook]" not in message  # ipywidgets is a core dependency, not an extra
    with pytest.raises(ToolkitError, match="dependency of toolkit"):
        tk.panel(fake)  # type: ignore[arg-type]  # (not the default session: none is made)


async def test_static_copy_beside_the_widget(fake: FakeSession, clock: FakeClock) -> None:
    p = panel(fake, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p)
        static = p.static_html()
        assert static.count("<tr><td>") == 2
        assert "tk-static" in static
        assert ":has(.tk-panel)" in static  # hidden where the live widget rendered
    finally:
        p.close()


async def test_the_halt_button_halts_and_resumes(fake: FakeSession, clock: FakeClock) -> None:
    p = panel(fake, clock=clock)  # type: ignore[arg-type]
    try:
        await settle(p)
        assert p.halt_button.description == "Halt"
        p.halt_button.click()
        assert fake.halt_reason == "halted from the panel"
        await settle(p)
        assert "HALTED" in p.header.value
        assert p.halt_button.description == "Resume"
        p.halt_button.click()
        assert fake.halted() is None
        await settle(p)
        assert "HALTED" not in p.header.value
        assert p.halt_button.description == "Halt"
    finally:
        p.close()
