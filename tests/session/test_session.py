"""The session against the real embedded paper exchange, adapter, transport and store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest

import toolkit as tk
from toolkit.core import _cutoff
from toolkit.core._frame import COLUMNS, DTYPES
from toolkit.core._models import Market, OrderType, Side
from toolkit.runtime import _runner
from toolkit.session import _config, _connect

from .conftest import HeldPlace, eventually

pytestmark = pytest.mark.loop


def _sessions_created(session: tk.Session) -> int:
    return session.transport.stats.sessions_created


# -- one loop, one HTTP session, whatever the caller ---------------------------------------------


def test_threads_share_one_http_session(tkh: Any) -> None:
    # A memory store keeps this about the HTTP path (a file store costs ~0.1 s per batch here).
    tk.run(tk.connect(store=":memory:"))

    def work(i: int) -> list[str]:
        statuses = []
        for j in range(20):
            frame = tk.run(tk.batch([tkh.limit(price=str(80000 + i * 100 + j))]))
            statuses.append(str(frame["status"].iloc[0]))
        return statuses

    with ThreadPoolExecutor(8) as pool:
        results = [s for batch in pool.map(work, range(8)) for s in batch]
    assert results == ["NEW"] * 160
    session = tk.default_session()
    assert _sessions_created(session) == 1
    assert sum(tkh.placed().values()) == 160


def test_two_asyncio_runs_in_a_row(tkh: Any) -> None:
    async def main() -> tk.Session:
        frame = await tk.batch([tkh.limit()])
        assert frame["status"].tolist() == ["NEW"]
        return tk.default_session()

    first = asyncio.run(main())
    second = asyncio.run(main())
    assert first is second
    assert _sessions_created(first) == 1


async def test_sync_run_inside_a_running_loop(tkh: Any) -> None:
    def legacy() -> pd.DataFrame:
        return tk.run(tk.batch([tkh.limit()]))

    frame = legacy()  # blocks this loop briefly, but does not deadlock
    assert frame["status"].tolist() == ["NEW"]
    assert (await tk.batch([tkh.limit()]))["status"].tolist() == ["NEW"]
    assert _sessions_created(tk.default_session()) == 1


async def test_connect_is_idempotent_and_close_is_final(tkh: Any) -> None:
    first = await tk.connect()
    again = await tk.connect("paper", market="spot")
    usdm = await tk.connect(market="usdm")
    assert first is again
    assert usdm is not first
    assert tk.default_session() is usdm  # the last connect is the default
    await first.close()
    assert first.closed
    with pytest.raises(tk.SessionClosedError):
        await first.batch([tkh.limit()])
    with pytest.raises(tk.SessionClosedError):
        first.orders()
    fresh = await tk.connect()
    assert fresh is not first
    assert (await fresh.batch([tkh.limit()]))["status"].tolist() == ["NEW"]
    await tk.close()
    assert fresh.closed


async def test_config_errors() -> None:
    with pytest.raises(tk.ConfigError, match="TOOLKIT_API_KEY"):
        await tk.connect("binance", testnet=True)
    with pytest.raises(tk.ConfigError, match="unknown exchange"):
        await tk.connect("kraken")
    with pytest.raises(tk.ConfigError, match="unknown market"):
        await tk.connect(market="coinm")


def test_config_repr_has_no_keys() -> None:
    config = _config.make_config("binance", live=True)
    session = _connect._session_for(config, "my-api-key", "my-api-secret")
    assert "my-api" not in repr(session) + repr(session.config)
    assert session.config.base_url == "https://api.binance.com"
    assert repr(session).startswith("<Session LIVE binance spot")
    # testnet=True: the testnets of both markets; demo=True: Demo Mode (Binance spot docs
    # testnet/ and demo-mode/general-info.md; USD-M "General Info"; ccxt 4.5.90 urls).
    assert _config.make_config("binance", market="usdm", testnet=True).base_url == (
        "https://testnet.binancefuture.com"
    )
    assert _config.make_config("binance", testnet=True).base_url == (
        "https://testnet.binance.vision"
    )
    assert _config.make_config("binance", market="usdm", demo=True).base_url == (
        "https://demo-fapi.binance.com"
    )
    assert _config.make_config("binance", demo=True).base_url == "https://demo-api.binance.com"
    with pytest.raises(tk.ConfigError, match="pick one"):
        _config.make_config("binance", testnet=True, demo=True)


async def test_connections_stay_within_the_limit(tkh: Any) -> None:
    # 10 batches of 5 at once: up to 50 requests in flight, never more than 8 connections
    # (how many of the 8 a round opens depends on timing; the limit does not)
    session = await tk.connect(store=":memory:", connection_limit=8)
    assert session.transport.config.connection_limit == 8
    rows = [tkh.market(qty="0.0001") for _ in range(5)]
    await asyncio.gather(*(session.batch(rows) for _ in range(10)))
    assert 0 < session.transport.open_connections() <= 8
    for _ in range(10):
        await asyncio.gather(*(session.batch(rows) for _ in range(10)))
    assert 0 < session.transport.open_connections() <= 8
    assert _sessions_created(session) == 1
    assert sum(tkh.placed().values()) == 110 * 5


# -- frames in, frames out -------------------------------------------------------------------------


async def test_origin_webhook_payload(tkh: Any) -> None:
    await tk.connect()
    tkh.paper().set_price("BTCUSDT", 90000)
    frame = await tk.batch(
        [
            {
                "symbol": "BTC/USDT",
                "order_type": "LIMIT",
                "side": "buy",
                "price": "90000",
                "qty_per": 5,
            }
        ]
    )
    row = frame.iloc[0]
    assert row["symbol"] == "BTCUSDT"
    assert row["status"] in ("NEW", "FILLED"), row["error_msg"]
    assert row["qty"] == pytest.approx(0.05555)  # 5% of 100,000 USDT at 90,000, floored


async def test_empty_input_gives_the_empty_frame() -> None:
    empties: list[Any] = [[], pd.DataFrame(columns=["symbol", "side", "qty"])]
    for empty in empties:
        frame = await tk.batch(empty)
        assert list(frame.columns) == list(COLUMNS)
        assert frame.empty
        assert {c: str(t) for c, t in frame.dtypes.items()} == {
            c: str(pd.Series(dtype=t).dtype) for c, t in DTYPES.items()
        }


async def test_output_index_is_the_input_index(tkh: Any) -> None:
    df = pd.DataFrame([tkh.limit(), tkh.market(), tkh.limit(symbol="NOPE")], index=[7, "b", 3.5])
    frame = await tk.batch(df)
    assert list(frame.index) == [7, "b", 3.5]
    assert frame["status"].tolist() == ["NEW", "FILLED", "INVALID"]


async def test_invalid_rows_are_not_sent(tkh: Any) -> None:
    rows = [tkh.limit(), tkh.limit(price="88000.001"), tkh.limit(qty="-1"), tkh.market()]
    frame = await tk.batch(rows)
    assert frame["status"].tolist() == ["NEW", "INVALID", "INVALID", "FILLED"]
    assert frame["error_msg"].iloc[1]  # a readable reason
    placed = tkh.placed()
    sent = set(frame["client_order_id"][frame["status"] != "INVALID"])
    assert set(placed) == sent
    assert all(placed[cid] == 1 for cid in sent)


async def test_usdm_batch_uses_batch_orders(tkh: Any) -> None:
    # only the batch's requests: no fills sync or positions snapshot 2 s after a batch, and
    # the prices the warm-up fetched stay fresh however long it took
    session = await tk.connect(market="usdm", stream=False, sync_fills=False, price_ttl=3600)
    await session.batch([tkh.limit(qty="0.002")])  # warm up: exchangeInfo, time sync
    tkh.paper().reset_counters()
    rows = [tkh.limit(qty="0.002", price=str(88000 + i)) for i in range(12)]
    frame = await session.batch(rows)
    assert frame["status"].tolist() == ["NEW"] * 12
    assert tkh.paper().counters()["requests"] == 3  # 5 + 5 + 2 per POST /fapi/v1/batchOrders


async def test_market_argument_uses_the_sibling_session(tkh: Any) -> None:
    frame = await tk.batch([tkh.limit(qty="0.002")], market="usdm")
    assert frame["market"].tolist() == ["usdm"]
    assert frame["status"].tolist() == ["NEW"]


async def test_strict_raises_after_persisting(tkh: Any) -> None:
    with pytest.raises(tk.StrictBatchError, match="NOPE") as info:
        await tk.batch([tkh.limit(), tkh.limit(symbol="NOPE")], strict=True)
    # nothing is sent when a row is invalid (issue 13): both rows are recorded INVALID
    assert info.value.frame["status"].tolist() == ["INVALID", "INVALID"]
    assert len(tk.orders()) == 2


# -- never duplicates, never loses ----------------------------------------------------------------


async def test_key_rerun_places_nothing(tkh: Any) -> None:
    rows = [tkh.limit(), tkh.market(), tkh.limit(symbol="NOPE")]
    first = await tk.batch(rows, key="rebalance-1")
    before = dict(tkh.placed())
    second = await tk.batch(pd.DataFrame(rows), key="rebalance-1")
    assert tkh.placed() == before
    assert sum(before.values()) == 2
    pd.testing.assert_series_equal(first["client_order_id"], second["client_order_id"])
    assert second["status"].tolist() == ["NEW", "FILLED", "INVALID"]
    assert second["key"].tolist() == ["rebalance-1"] * 3
    with pytest.raises(tk.KeyReuseError, match="rebalance-1"):
        await tk.batch([tkh.limit(price="87000")], key="rebalance-1")


async def test_write_ahead_rows_exist_while_in_flight(tkh: Any) -> None:
    held = HeldPlace()  # nothing reaches the exchange until released
    await tk.connect(adapter=held.script)
    try:
        task = asyncio.ensure_future(tk.batch([tkh.limit(), tkh.limit(price="87000")], key="wa"))

        async def written() -> bool:
            return len(await asyncio.to_thread(tk.orders, key="wa")) > 0

        await eventually(written, "the write-ahead rows")
        seen = await asyncio.to_thread(tk.orders, key="wa")
        assert not task.done()
        assert seen["status"].tolist() == ["PENDING", "PENDING"]
    finally:
        held.restore()
    frame = await task
    assert frame["status"].tolist() == ["NEW", "NEW"]


@pytest.mark.parametrize("fault", ["error_after_rate", "drop_after_rate"])
async def test_unknown_outcome_resolves_to_the_real_state(tkh: Any, fault: str) -> None:
    from toolkit.paper import FaultConfig

    await tk.connect(stream=False)  # the stream could report them first: test the reconcile
    settings: dict[str, Any] = {fault: 1.0}
    tkh.paper().configure_faults(FaultConfig(**settings))
    frame = await tk.batch([tkh.limit(), tkh.market()], key=f"unknown-{fault}")
    tkh.paper().configure_faults(FaultConfig())
    assert frame["status"].tolist() == ["NEW", "FILLED"]
    assert all(tkh.placed()[cid] == 1 for cid in frame["client_order_id"])
    events = tk.sql("select client_order_id, event, source from order_events order by event_id")
    assert (events["event"] == "unknown").sum() == 2
    assert (events["source"] == "reconcile").sum() == 2


async def test_not_placed_then_rerun_places_only_the_missing_row(tkh: Any) -> None:
    from toolkit.paper import FaultConfig

    await tk.connect(recv_window=0.5)
    tkh.paper().configure_faults(FaultConfig(error_before_rate=1.0))
    first = await tk.batch([tkh.limit()], key="retry")  # 5xx, no order: resolved after ~2.5 s
    assert first["status"].tolist() == ["REJECTED"]
    assert first["error_msg"].iloc[0].startswith("not placed")
    assert tkh.placed() == {}
    tkh.paper().configure_faults(FaultConfig())
    second = await tk.batch([tkh.limit()], key="retry")
    assert second["status"].tolist() == ["NEW"]
    assert second["client_order_id"].tolist() == first["client_order_id"].tolist()
    assert tkh.placed() == {first["client_order_id"].iloc[0]: 1}


async def test_connect_reconciles_pending_rows(tkh: Any) -> None:
    from toolkit.core._models import OrderStatus
    from toolkit.store._store import BatchRecord

    session = await tk.connect()
    frame = await session.batch([tkh.limit()])
    cid = frame["client_order_id"].iloc[0]
    now = pd.Timestamp.now(tz="UTC")
    ghost = tk.Order(
        client_order_id="tkghost",
        exchange="paper",
        market=Market.SPOT,
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        status=OrderStatus.PENDING,
        price=1.0,
        qty=1.0,
        created_at=now - pd.Timedelta(minutes=5),
        not_after=now - pd.Timedelta(minutes=4),
    )
    session.store.record_batch(
        BatchRecord(batch_id="crash", created_at=now, n_orders=1, venue=session.venue), [ghost]
    )
    # the real order is written back as PENDING, as if the process died before the answer
    session.store.apply(
        [
            tk.Order(
                client_order_id=cid,
                exchange="paper",
                market=Market.SPOT,
                symbol="BTCUSDT",
                status=OrderStatus.PENDING,
            )
        ],
        source="response",
    )
    other = await tk.connect(concurrency=4)  # another session on the same store and exchange
    assert other is not session
    states = tk.orders().set_index("client_order_id")["status"]
    assert states[cid] == "NEW"
    assert states["tkghost"] == "REJECTED"
    assert tkh.placed() == {cid: 1}
    # the batch of the process that "died" is finished once its orders are decided
    crash = tk.sql("select counts, finished_at from batches where batch_id = 'crash'")
    assert crash["finished_at"].notna().all()
    assert json.loads(crash["counts"].iloc[0]) == {"REJECTED": 1}


# -- cancels, refreshes, events: one path ---------------------------------------------------------


async def test_cancel_cancel_all_open_orders_and_events(tkh: Any) -> None:
    session = await tk.connect(stream=False)  # every change from our own requests
    updates: list[tuple[int, list[Any]]] = []
    session.subscribe(lambda orders: updates.append((threading.get_ident(), orders)))
    frame = await tk.batch(
        [
            tkh.limit(),
            tkh.limit(price="87000"),
            tkh.limit("ETHUSDT", qty="0.01", price="2900"),
            tkh.market(),
        ]
    )
    assert frame["status"].tolist() == ["NEW", "NEW", "NEW", "FILLED"]
    opened = await tk.open_orders()
    assert sorted(opened["client_order_id"]) == sorted(frame["client_order_id"][:3])
    cancelled = await tk.cancel(frame.iloc[[0]])
    assert cancelled["status"].tolist() == ["CANCELED"]
    by_id = await tk.cancel([str(frame["order_id"].iloc[1])])  # an exchange order id works too
    assert by_id["client_order_id"].tolist() == [frame["client_order_id"].iloc[1]]
    rest = await tk.cancel_all()
    assert rest["client_order_id"].tolist() == [frame["client_order_id"].iloc[2]]
    assert (await tk.open_orders()).empty
    again = await tk.cancel(frame["client_order_id"].iloc[0])  # already cancelled: skipped
    assert again["status"].tolist() == ["CANCELED"]
    assert again["error_msg"].isna().all()
    events = tk.sql("select source, count(*) as n from order_events group by source")
    counts = dict(zip(events["source"], events["n"], strict=True))
    assert counts["cancel"] == 3

    def statuses() -> list[str]:
        return [o.status.value for _, batch in updates for o in batch]

    await eventually(lambda: statuses().count("CANCELED") >= 3, "three CANCELED deliveries")
    assert {ident for ident, _ in updates} == {threading.get_ident()}
    with pytest.raises(tk.InputError, match="unknown order id"):
        await tk.cancel(["nope"])


async def test_wait_until_done(tkh: Any) -> None:
    await tk.connect()
    frame = await tk.batch([tkh.limit(price="89990")])
    tkh.paper().set_price("BTCUSDT", 89000)  # crosses: the paper exchange fills it
    final = await tk.wait(frame, timeout=10)
    assert final["status"].tolist() == ["FILLED"]
    assert tk.orders()["status"].tolist() == ["FILLED"]


async def test_updates_iterator(tkh: Any) -> None:
    session = await tk.connect()
    got: list[list[Any]] = []

    async def consume() -> None:
        async for orders in session.updates():
            got.append(orders)
            return

    consumer = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    await session.batch([tkh.limit()])
    await asyncio.wait_for(consumer, 5)
    assert got[0][0].status.value == "NEW"


async def test_progress_bar_is_drawn_on_the_callers_side(
    tkh: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = await tk.batch([tkh.limit(price=str(85000 + i)) for i in range(30)], progress=True)
    assert (frame["status"] == "NEW").all()
    assert "30/30" in capsys.readouterr().err


async def test_stream_events_go_through_finalize(tkh: Any) -> None:
    session = await tk.connect()
    assert session.feed is not None
    session.feed.set_poll_interval(0.1)  # where the exchange has no user-data stream yet
    feed = session.feed
    await eventually(lambda: feed.state.value in ("live", "polling"), "a live or polling feed")
    source = "stream" if session.feed.state.value == "live" else "refresh"
    updates: list[str] = []
    session.subscribe(lambda orders: updates.extend(o.status.value for o in orders))
    frame = await session.batch([tkh.limit(price="89990")], key="streamed")
    tkh.paper().set_price("BTCUSDT", 89000)  # fills it: only the stream tells us
    cid = frame["client_order_id"].iloc[0]
    await eventually(lambda: "FILLED" in updates, "the FILLED update")
    row = tk.orders(key="streamed").iloc[0]
    assert row["status"] == "FILLED"
    assert row["client_order_id"] == cid
    events = tk.sql("select event, source from order_events where event = 'filled'")
    assert events["source"].tolist() == [source]
    # a late, older answer cannot move it back
    from toolkit.core._models import Order, OrderStatus

    stale = Order(
        client_order_id=cid,
        exchange="paper",
        market=Market.SPOT,
        symbol="BTCUSDT",
        status=OrderStatus.NEW,
    )
    [kept] = await _runner.call(session.ledger.finalize([stale], "response"))
    assert kept.status is OrderStatus.FILLED
    assert kept.key == "streamed"


async def test_cancelled_caller_still_records_the_outcome(tkh: Any) -> None:
    held = HeldPlace()  # the order is on its way: written ahead, not yet answered
    await tk.connect(adapter=held.script)
    try:
        task = asyncio.ensure_future(tk.batch([tkh.limit()], key="interrupted"))

        async def rows() -> pd.DataFrame:
            return await asyncio.to_thread(tk.orders, key="interrupted")

        await eventually(lambda: held.calls, "the send")
        task.cancel()  # e.g. the user interrupts the cell after the write-ahead
        # the interrupt reaches the batch on the I/O loop; then the held request may go on
        await eventually(lambda: any(c.stopped for c in _cutoff.ACTIVE), "the stop")
        held.restore()  # (the held request had not gone out: the interrupt stops it)
        with pytest.raises(tk.BatchInterrupted, match="0 of 1 orders were placed") as info:
            await task
    finally:
        held.restore()
    assert info.value.frame["status"].tolist() == ["REJECTED"]
    assert (
        (await rows())["error_msg"]
        .str.startswith("not placed: interrupted before it was sent")
        .all()
    )
    assert sum(tkh.placed().values()) == 0
    again = await tk.batch([tkh.limit()], key="interrupted")  # the re-run sends it, once
    assert again["status"].tolist() == ["NEW"]
    assert sum(tkh.placed().values()) == 1


def test_live_trading_hosts_need_a_word(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: Binance's live hosts need live=True (or TOOLKIT_LIVE=1); refused before any
    request is made (make_config makes none). Testnets, Demo Mode and paper need nothing."""
    monkeypatch.delenv("TOOLKIT_LIVE", raising=False)
    for market in ("spot", "usdm"):
        with pytest.raises(tk.ConfigError, match=r"live trading host: real money.*live=True"):
            _config.make_config("binance", market=market)
        assert _config.make_config("binance", market=market, live=True).live
        assert not _config.make_config("binance", market=market, testnet=True).live
        assert not _config.make_config("binance", market=market, demo=True).live
    with pytest.raises(tk.ConfigError, match="real money"):
        _config.make_config("binance", base_url="https://api.binance.com/")
    monkeypatch.setenv("TOOLKIT_LIVE", "1")  # a scheduled job says it in its environment
    assert _config.make_config("binance").live
    assert not _config.make_config("paper").live


async def test_cancel_before_the_io_side_starts_leaks_nothing(tkh: Any) -> None:
    for _ in range(5):
        task = asyncio.ensure_future(tk.batch([tkh.limit()]))
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (await tk.batch([tkh.limit()]))["status"].tolist() == ["NEW"]


async def test_nothing_is_sent_after_the_send_window(tkh: Any) -> None:
    from toolkit.paper import FaultConfig

    await tk.connect(send_window=0.3, recv_window=0.5, stream=False)
    await tk.batch([tkh.limit()])  # warm up: exchangeInfo, time sync
    tkh.paper().configure_faults(FaultConfig(latency=1.0))
    task = asyncio.ensure_future(tk.batch([tkh.limit()], key="window"))
    await asyncio.sleep(0.4)  # the send was cut off at 0.3 s; let reconciliation get answers
    tkh.paper().configure_faults(FaultConfig())
    frame = await task
    cid = frame["client_order_id"].iloc[0]
    status = frame["status"].iloc[0]
    # whatever happened on the wire, the store agrees with the exchange
    if tkh.placed().get(cid):
        assert status == "NEW"
    else:
        assert status == "REJECTED"
        assert frame["error_msg"].iloc[0].startswith("not placed")
    events = tk.sql(
        f"select event from order_events where client_order_id = '{cid}' order by event_id"
    )["event"].tolist()
    # cut off by the adapter's deadline (not placed) or by the window (unknown, reconciled)
    assert events[0] == "submitted"
    assert events[-1] in ("accepted", "not_placed")


async def test_open_orders_from_the_store_when_offline() -> None:
    from toolkit.core._models import OrderStatus

    session = await tk.connect(
        "paper", base_url="http://127.0.0.1:9", api_key="k", api_secret="s", stream=False
    )
    session.store.apply(
        [
            tk.Order(client_order_id="tkoffline", exchange="paper", market=Market.SPOT,
                     symbol="BTCUSDT", side=Side.BUY, type=OrderType.LIMIT, price=88000.0,
                     qty=0.001,
                     status=OrderStatus.NEW),
        ],
        source="refresh",
    )  # fmt: skip
    frame = await session.open_orders()
    assert frame["client_order_id"].tolist() == ["tkoffline"]
    with pytest.raises(tk.ExchangeUnavailable):
        await session.batch([{"symbol": "BTCUSDT", "side": "buy", "qty": "0.001"}])
