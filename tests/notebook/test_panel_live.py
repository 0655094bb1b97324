"""The panel's widget state against the real session and a real io_paper exchange.

Everything the panel shows comes through the session: batch results and cancels from the
finalize step, fills from the exchange's user-data stream (``set_price`` on the io_paper exchange),
and REST refreshes after every (re)connect.
"""

from __future__ import annotations

import threading
from typing import Any

import toolkit as tk
from toolkit.binance._stream import FeedState
from toolkit.notebook._panel import Panel

from .conftest import Paper, on_io, until, until_async

BTC = "BTCUSDT"
ETH = "ETHUSDT"


async def resting(session: tk.Session, io_paper: Paper, n: int = 3, symbol: str = BTC) -> list[str]:
    """Place ``n`` buy limits 10-15 % below the market; returns their client order ids."""
    price = await io_paper.price(symbol)
    rows = [
        {
            "symbol": symbol,
            "side": "buy",
            "type": "limit",
            "price": round(price * (0.9 - 0.01 * i), 2),
            "qty": 0.01 if symbol == BTC else 0.1,
        }
        for i in range(n)
    ]
    frame = await session.batch(rows)
    assert list(frame.status) == ["NEW"] * n, frame[["status", "error_msg"]]
    return list(frame.client_order_id)


def row(p: Panel, cid: str) -> dict[str, Any] | None:
    return next((r for r in p.rows() if r["client_order_id"] == cid), None)


def status(p: Panel, cid: str) -> str | None:
    r = row(p, cid)
    return None if r is None else r["status"]


async def live(session: tk.Session) -> None:
    await until(lambda: session.feed is not None and session.feed.state is FeedState.LIVE)


async def test_rows_appear_after_a_batch_and_fills_move_them(
    session: tk.Session, io_paper: Paper
) -> None:
    p = make_panel(session, linger=1.0)
    threads: set[int] = set()
    render, apply = p._render, p._board._apply

    def spy_render() -> None:
        threads.add(threading.get_ident())
        render()

    applied: list[tuple[str, str, float]] = []  # every update the board applied, in order

    def spy_apply(orders: Any) -> None:
        threads.add(threading.get_ident())
        orders = list(orders)
        applied.extend((o.client_order_id, o.status.value, o.filled_qty) for o in orders)
        apply(orders)

    p._render = spy_render  # type: ignore[method-assign]
    p._board._apply = spy_apply  # type: ignore[method-assign]
    try:
        await live(session)
        # spot follows the account over the WebSocket API subscription, not a listen key
        assert io_paper.exchange.ws_api.subscriptions() == 1
        assert io_paper.exchange.user_streams.listen_keys() == []
        ids = await resting(session, io_paper, 3)
        await until(lambda: {r["client_order_id"] for r in p.rows()} == set(ids))
        assert p.counts() == {"NEW": 3}
        await until(lambda: len(p.rows_box.children) == 3)  # rendered (coalesced, <= 4/s)
        first = row(p, ids[0])
        assert first is not None
        assert (first["symbol"], first["side"], first["type"], first["qty"]) == (
            BTC,
            "buy",
            "limit",
            "0.01",
        )

        # partial fill, then full fill, pushed by the user-data stream
        await tk_liquidity(io_paper, BTC, 0.004)
        limit = float(first["order"].price)
        await io_paper.set_price(BTC, limit * 0.999)

        # the board applies the partial fill (the exchange's own ticks fill the rest 0.004 at a
        # time, so the row may be FILLED already when a busy machine looks at it)
        def partial() -> list[float]:
            return [f for c, st, f in applied if c == ids[0] and st == "PARTIALLY_FILLED"]

        await until(lambda: bool(partial()))
        assert partial()[0] in (0.004, 0.008)  # 0.004 per price tick
        await tk_liquidity(io_paper, BTC, None)
        await io_paper.set_price(BTC, limit * 0.998)
        await until(lambda: status(p, ids[0]) == "FILLED")
        assert p.counts() == {"NEW": 2, "FILLED": 1}
        await until(lambda: row(p, ids[0]) is None)  # leaves after `linger` (unit test: when)
        assert "FILLED <b>1</b>" in p.header.value
        assert "live" in p.header.value

        # the store's event log saw the same events, from the stream
        events = session.sql(
            f"select source, status from order_events where client_order_id = '{ids[0]}'"
        )
        assert "stream" in set(events.source)
        assert set(events.status) >= {"NEW", "PARTIALLY_FILLED", "FILLED"}
        # every state change and every widget update ran on this (the kernel's) loop thread
        assert threads == {threading.get_ident()}
    finally:
        p.close()


async def tk_liquidity(io_paper: Paper, symbol: str, qty: float | None) -> None:
    await on_io(io_paper.exchange.set_liquidity, symbol, qty)


def make_panel(session: tk.Session, **kw: Any) -> Panel:
    from toolkit.notebook._panel import panel

    return panel(session, **kw)


async def test_row_cancel_button_cancels_at_the_exchange(
    session: tk.Session, io_paper: Paper
) -> None:
    p = make_panel(session)
    try:
        ids = await resting(session, io_paper, 2)
        await until(lambda: all(row(p, i) for i in ids) and ids[1] in p._rows)
        button = p.cancel_button(ids[1])
        assert (button.description, button.tooltip) == ("Cancel", f"Cancel {ids[1]}")
        button.click()  # schedules; the kernel loop is not blocked
        assert status(p, ids[1]) == "CANCELING"

        async def cancelled() -> bool:
            return bool((await io_paper.orders())[ids[1]]["status"] == "CANCELED")

        await until_async(cancelled)
        await until(lambda: status(p, ids[1]) in ("CANCELED", None))
        assert (await io_paper.orders())[ids[0]]["status"] == "NEW"
        assert status(p, ids[0]) == "NEW"
        assert p.counts() == {"NEW": 1, "CANCELED": 1}
    finally:
        p.close()


async def test_cancel_all_needs_confirmation(session: tk.Session, io_paper: Paper) -> None:
    p = make_panel(session)
    try:
        ids = await resting(session, io_paper, 2) + await resting(session, io_paper, 1, ETH)
        await until(lambda: len(p.rows()) == 3 and not p.cancel_all_button.disabled)
        p.cancel_all_button.click()
        assert p.confirm_box.layout.display == "flex"
        assert "Cancel 3 open orders" in p.confirm_text.value
        assert not p._board.canceling  # nothing scheduled without confirmation
        assert {o["status"] for o in (await io_paper.orders()).values()} == {"NEW"}
        p.back_button.click()
        assert p.confirm_box.layout.display == "none"

        p.filter.value = BTC  # cancel-all follows the symbol filter
        await until(lambda: len(p.rows()) == 2)
        p.cancel_all_button.click()
        assert "Cancel 2 open orders (BTCUSDT)" in p.confirm_text.value
        p.confirm_button.click()

        async def btc_cancelled() -> bool:
            ex = await io_paper.orders()
            return all(ex[i]["status"] == "CANCELED" for i in ids[:2])

        await until_async(btc_cancelled)
        assert (await io_paper.orders())[ids[2]]["status"] == "NEW"
        await until(lambda: p.counts() == {"NEW": 1, "CANCELED": 2})
    finally:
        p.close()


async def test_two_panels_agree_and_updates_stop_on_close(
    session: tk.Session, io_paper: Paper
) -> None:
    p1 = make_panel(session)
    p2 = make_panel(session)  # e.g. the same cell run again
    try:
        ids = await resting(session, io_paper, 2)
        await until(lambda: len(p1.rows()) == 2 and len(p2.rows()) == 2)
        p1.close()
        assert p1.closed
        renders = p1.renders
        more = await resting(session, io_paper, 1)
        await until(lambda: more[0] in p2._rows)  # p2 has rendered the new order ...
        assert p1.renders == renders  # ... the closed p1 never will: it is off the board
        assert p1 not in p1._board.views
        assert {r["client_order_id"] for r in p2.rows()} == {*ids, *more}
    finally:
        p1.close()
        p2.close()
    assert not p2._board.views
    assert p2._board._consumer is None


async def test_a_closed_session_shows_a_clear_state(session: tk.Session, io_paper: Paper) -> None:
    p = make_panel(session)
    try:
        ids = await resting(session, io_paper, 1)
        await until(lambda: row(p, ids[0]) is not None)
        await session.close()
        await until(lambda: "Session closed" in p.error_line.value)
        assert p.cancel_button(ids[0]).disabled
        assert p.cancel_all_button.disabled
        assert "session closed" in p.snapshot()
    finally:
        p.close()


async def test_state_converges_after_the_websocket_drops(
    session: tk.Session, io_paper: Paper
) -> None:
    p = make_panel(session, linger=60.0)
    try:
        await live(session)
        ids = await resting(session, io_paper, 3)
        await until(lambda: len(p.rows()) == 3)
        feed = session.feed
        assert feed is not None
        assert feed.connections == 1

        assert await io_paper.drop_streams() == 1
        # while the socket is down: one order fills, another is cancelled by someone else
        limit0 = float(row(p, ids[0])["order"].price)  # type: ignore[index]
        await io_paper.set_price(BTC, limit0 * 0.999)
        await on_io(
            io_paper.exchange.engine.cancel,
            io_paper.key,
            "spot",
            {"symbol": BTC, "origClientOrderId": ids[2]},
        )
        # reconnect (backoff) + REST resync bring the panel and the store to the truth
        await until(lambda: feed.connections == 2 and feed.state is FeedState.LIVE, timeout=10)
        await until(lambda: status(p, ids[0]) == "FILLED" and status(p, ids[2]) == "CANCELED")
        assert status(p, ids[1]) == "NEW"
        stored = session.orders()
        by_id = dict(zip(stored.client_order_id, stored.status, strict=True))
        assert (by_id[ids[0]], by_id[ids[1]], by_id[ids[2]]) == ("FILLED", "NEW", "CANCELED")

        # one HTTP client for everything: REST, listen keys and both WebSocket connections
        assert session.transport.stats.sessions_created == 1

        # and the new socket delivers again
        await io_paper.set_price(BTC, float(row(p, ids[1])["order"].price) * 0.999)  # type: ignore[index]
        await until(lambda: status(p, ids[1]) == "FILLED")
    finally:
        p.close()


async def test_snapshot_for_papermill(session: tk.Session, io_paper: Paper) -> None:
    p = make_panel(session)
    try:
        ids = await resting(session, io_paper, 2)
        await tk_wait_accepted(session, ids)
        await until(lambda: len(p.rows()) == 2)
        html = p.snapshot()
        assert html.count("<tr>") == 3
        assert all(i in html for i in ids)
        assert html._repr_html_() == str(html)
    finally:
        p.close()


async def tk_wait_accepted(session: tk.Session, ids: list[str]) -> None:
    frame = await session.wait(ids, until="accepted", timeout=5)
    assert set(frame.status) == {"NEW"}


async def test_usdm_fills_arrive_as_order_trade_update(io_paper: Paper, tmp_path: Any) -> None:
    futures = await tk.connect(
        "paper",
        market="usdm",
        base_url=io_paper.exchange.url,
        api_key=io_paper.key,
        api_secret=io_paper.secret,
        store=str(tmp_path / "usdm.duckdb"),
    )
    p = make_panel(futures, linger=30.0)
    try:
        await live(futures)
        price = float(await on_io(io_paper.exchange.price, BTC, "usdm"))
        frame = await futures.batch(
            [
                {
                    "symbol": BTC,
                    "side": "buy",
                    "type": "limit",
                    "price": round(price * 0.9, 1),
                    "qty": 0.01,
                }
            ]
        )
        cid = frame.client_order_id[0]
        await until(lambda: status(p, cid) == "NEW")
        await on_io(io_paper.exchange.set_price, BTC, round(price * 0.85, 1), "usdm")
        await until(lambda: status(p, cid) == "FILLED")
        events = futures.sql(f"select source from order_events where client_order_id = '{cid}'")
        assert "stream" in set(events.source)
        assert "usdm" in p.header.value
    finally:
        p.close()
        await futures.close()


async def test_admin_endpoint_drops_the_stream(session: tk.Session, io_paper: Paper) -> None:
    import aiohttp

    await session.open_orders()
    await live(session)
    async with (
        aiohttp.ClientSession() as http,
        http.post(io_paper.exchange.url + "/paper/userstream/drop", json={}) as resp,
    ):
        assert resp.status == 200
        assert await resp.json() == {"dropped": 1}
    feed = session.feed
    assert feed is not None
    await until(lambda: feed.connections == 2 and feed.state is FeedState.LIVE)


async def test_tk_panel_follows_the_default_session(session: tk.Session, io_paper: Paper) -> None:
    p = tk.panel(poll_interval=2)  # the last connect() is the default session
    try:
        assert p._board.session is session
        assert session.feed is not None
        assert session.feed.poll_interval == 2
        ids = await resting(session, io_paper, 1)
        final = await tk.wait(ids, until="accepted", timeout=5)
        assert list(final.status) == ["NEW"]
        await until(lambda: row(p, ids[0]) is not None)
    finally:
        p.close()
