"""Regression tests of the session/batch/store review: each fails without its fix."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import pandas as pd
import pytest

import toolkit as tk
from toolkit.binance._wire import order_from_request
from toolkit.core._exceptions import (
    ConfigError,
    KeyReuseError,
    SessionClosedError,
    StoreError,
    StrictBatchError,
    TransportError,
)
from toolkit.core._models import Market, Order, OrderRequest, OrderStatus, Outcome
from toolkit.runtime import _runner
from toolkit.store import _journal
from toolkit.store._journal_rows import to_micros

from .conftest import PATIENCE, Script, ScriptedAdapter, eventually

pytestmark = pytest.mark.loop


def _not_placed_once(script: Script) -> None:
    """Make the adapter's next place() answer "not placed" (nothing sent), then the real one."""

    async def refuse(
        adapter: ScriptedAdapter, requests: Sequence[OrderRequest], deadline: Any
    ) -> list[Order]:
        script.place = None
        return [
            order_from_request(
                r,
                exchange=adapter.exchange,
                status=OrderStatus.REJECTED,
                error_msg="not placed: simulated",
                outcome=Outcome.NOT_PLACED,
            )
            for r in requests
        ]

    script.place = refuse


# -- 1. concurrent re-runs and first runs of one key ------------------------------------------


async def test_concurrent_reruns_send_a_not_placed_row_once(tkh: Any) -> None:
    script = Script()
    session = await tk.connect(adapter=script)
    rows = [tkh.market()]
    _not_placed_once(script)
    first = await session.batch(rows, key="K")
    assert first["status"].tolist() == ["REJECTED"]
    cid = first["client_order_id"].iloc[0]
    a, b = await asyncio.gather(session.batch(rows, key="K"), session.batch(rows, key="K"))
    assert tkh.placed() == {cid: 1}
    statuses = {a["status"].iloc[0], b["status"].iloc[0]}
    assert "FILLED" in statuses
    # the loser shows the claimed row as it was when it looked (PENDING, or what the stream
    # reported by then), never a second placement nor "not placed"
    assert statuses <= {"FILLED", "NEW", "PENDING"}
    stored = session.orders()
    assert stored["status"].tolist() == ["FILLED"]
    events = session.sql(
        f"select event from order_events where client_order_id = '{cid}' order by event_id"
    )["event"].tolist()
    assert events.count("submitted") == 2  # the write-ahead and exactly one re-arm


async def test_concurrent_first_runs_of_one_key_place_once(tkh: Any) -> None:
    session = await tk.connect()
    rows = [tkh.limit(price="88000"), tkh.limit(price="87000")]
    a, b = await asyncio.gather(session.batch(rows, key="F"), session.batch(rows, key="F"))
    assert a["client_order_id"].tolist() == b["client_order_id"].tolist()
    assert sorted(tkh.placed().values()) == [1, 1]
    assert session.sql("select count(*) as n from batches")["n"].iloc[0] == 1


# -- 2. venues ----------------------------------------------------------------------------------


async def test_connect_reconciles_only_its_own_venue(tkh: Any) -> None:
    from toolkit.paper import PaperExchange

    from .conftest import _GENEROUS

    one = PaperExchange(host="127.0.0.1", port=0, price_mode="fixed", rate_limits=_GENEROUS)
    two = PaperExchange(host="127.0.0.1", port=0, price_mode="fixed", rate_limits=_GENEROUS)
    await _runner.call(one.start())
    await _runner.call(two.start())
    try:
        k1, s1 = one.create_key()
        k2, s2 = two.create_key()
        a = await tk.connect("paper", base_url=one.url, api_key=k1, api_secret=s1, stream=False)
        frame = await a.batch([tkh.market()], key="K")
        cid = frame["client_order_id"].iloc[0]
        past = pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=5)
        # as a process killed after its send would have left it (the journal is the record)
        with contextlib.closing(sqlite3.connect(str(a.store.journal_path))) as con, con:
            con.execute(
                "UPDATE orders SET status='PENDING', order_id=NULL, not_after=?, ver=ver+1"
                " WHERE client_order_id=?",
                [to_micros(past), cid],
            )
        assert a.store.find_batch("K").venue == one.url  # type: ignore[union-attr]
        await a.close()
        b = await tk.connect("paper", base_url=two.url, api_key=k2, api_secret=s2, stream=False)
        assert b.orders()["status"].tolist() == ["PENDING"]  # venue two knows nothing of it
        with pytest.raises(KeyReuseError, match="venue"):
            await b.batch([tkh.market()], key="K")
        await b.close()
        a = await tk.connect("paper", base_url=one.url, api_key=k1, api_secret=s1, stream=False)
        assert a.orders()["status"].tolist() == ["FILLED"]
        again = await a.batch([tkh.market()], key="K")
        assert again["status"].tolist() == ["FILLED"]
        assert one.counters()["orders_by_client_id"] == {cid: 1}
        await a.close()
    finally:
        await _runner.call(one.stop())
        await _runner.call(two.stop())


# -- 3. a key of another market -----------------------------------------------------------------


async def test_key_of_another_market_raises(tkh: Any) -> None:
    spot = await tk.connect(market="spot")
    usdm = await tk.connect(market="usdm")
    await spot.batch([tkh.limit()], key="rebalance-1")
    with pytest.raises(KeyReuseError, match="market 'spot'") as info:
        await usdm.batch([tkh.limit()], key="rebalance-1")
    assert "rebalance-1" in str(info.value)
    assert len(usdm.orders(market="usdm")) == 0


# -- 4. store round trips -----------------------------------------------------------------------


async def _hold_duckdb(path: Any) -> duckdb.DuckDBPyConnection:
    """The user's own connection to the store file, once the toolkit's background work (a
    projection flush) does not have it attached: within this process DuckDB refuses a second
    attach at once instead of waiting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.Error:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.01)


async def test_a_batch_never_waits_for_duckdb(tkh: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch's critical path is two journal commits (write-ahead, answers + finish); DuckDB
    is written in the background: a batch completes while another connection of this process
    holds the DuckDB file, and DuckDB catches up once it is free."""
    # (no background fill sync / positions snapshots: the projection is the only other user)
    session = await tk.connect(stream=False, sync_fills=False)
    await session.batch([tkh.limit()])  # warm up: rules, time sync
    writes: list[str] = []
    enqueue = _journal.Journal._enqueue

    def counting(self: _journal.Journal, work: Any, what: str, **kw: Any) -> Any:
        if not kw.get("quiet"):
            writes.append(what)
        return enqueue(self, work, what, **kw)

    monkeypatch.setattr(_journal.Journal, "_enqueue", counting)
    path = session.store.path
    assert path is not None
    session.store.projection.flush()  # DuckDB holds the warm-up batch
    holder = await _hold_duckdb(path)  # the user's own connection holds the file
    try:
        frame = await session.batch(
            [tkh.limit(price=str(88000 - i)) for i in range(10)], key="held"
        )
        assert frame["status"].tolist() == ["NEW"] * 10
        assert writes == ["record the batch", "apply order updates"]
        assert session.orders(batch_id=frame["batch_id"].iloc[0])["status"].tolist() == ["NEW"] * 10
        assert holder.execute("select count(*) from orders").fetchone() == (1,)  # behind
    finally:
        holder.close()
    batch = session.store.find_batch("held")
    assert batch is not None
    assert batch.counts == {"NEW": 10}
    assert batch.finished_at is not None
    assert session.sql("select count(*) as n from orders")["n"].tolist() == [11]  # caught up


async def test_stream_echoes_of_a_known_state_cost_no_store_write(
    tkh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await tk.connect()  # with the user-data stream
    await session.batch([tkh.limit()])  # warm up: rules, time sync, stream connected
    feed = session.feed
    assert feed is not None
    await eventually(lambda: feed.state.value == "live", "the user-data stream")
    writes = 0
    enqueue = _journal.Journal._enqueue

    def counting(self: _journal.Journal, work: Any, what: str, **kw: Any) -> Any:
        nonlocal writes
        if not kw.get("quiet"):
            writes += 1
        return enqueue(self, work, what, **kw)

    monkeypatch.setattr(_journal.Journal, "_enqueue", counting)
    before = feed.events
    frame = await session.batch([tkh.market() for _ in range(5)])
    assert frame["status"].tolist() == ["FILLED"] * 5
    at_return = writes  # write-ahead, answers, and any stream event that came first
    assert 2 <= at_return <= 2 + 10
    # each order's NEW and TRADE events reach the feed (a generous bound, not a time window)
    deadline = time.monotonic() + 60
    while feed.events < before + 10 and time.monotonic() < deadline:  # noqa: ASYNC110 - a counter, generous bound
        await asyncio.sleep(0.05)
    assert feed.events >= before + 10
    # what the stream says after the answers is what the session knows: no write at all
    assert writes == at_return


# -- 5. the send window grows with the order budget ---------------------------------------------


async def test_send_window_covers_the_order_budget(tkh: Any) -> None:
    from toolkit.session._batch import send_window

    session = await tk.connect(send_window=30.0)
    session.transport.limiter.configure(
        [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}]
    )
    limiter = session.transport.limiter
    assert send_window(30.0, limiter, 1) == 30.0
    assert send_window(30.0, limiter, 1000) >= 100.0  # 1,000 orders at 90 / 10 s need ~110 s
    off = await tk.connect(send_window=30.0, rate_limits=False)
    assert send_window(30.0, off.transport.limiter, 1000) == 30.0


# -- 6. rate_limits setting ---------------------------------------------------------------------


async def test_rate_limits_setting_turns_the_limiter_off() -> None:
    session = await tk.connect(rate_limits=False)
    assert session.config.rate_limits is False
    assert session.transport.limiter.config.enabled is False
    assert (await tk.connect()).transport.limiter.config.enabled is True


# -- 7. store failures after sending ------------------------------------------------------------


async def test_store_failure_after_sending_keeps_the_answers(
    tkh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await tk.connect(stream=False)
    await session.batch([tkh.limit()])
    seen: list[Order] = []
    session.subscribe(seen.extend)
    monkeypatch.setattr("toolkit.session._batch._STORE_RETRY_PAUSE", 0.01)

    def broken(*_: Any, **__: Any) -> concurrent.futures.Future[None]:
        failed: concurrent.futures.Future[None] = concurrent.futures.Future()
        failed.set_exception(StoreError("disk full"))
        return failed

    monkeypatch.setattr(session.store, "submit_apply", broken)
    with pytest.raises(StoreError) as info:
        await session.batch([tkh.limit(price="87000")], key="lost?")
    frame = info.value.frame  # type: ignore[attr-defined]
    assert frame["status"].tolist() == ["NEW"]
    cid = frame["client_order_id"].iloc[0]
    assert tkh.placed()[cid] == 1
    await eventually(lambda: any(o.client_order_id == cid for o in seen), "the delivery")
    assert any(o.client_order_id == cid and o.status is OrderStatus.NEW for o in seen)
    assert session.orders(key="lost?")["status"].tolist() == ["PENDING"]  # written ahead


async def test_a_transient_store_failure_is_retried(
    tkh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await tk.connect(stream=False)
    monkeypatch.setattr("toolkit.session._batch._STORE_RETRY_PAUSE", 0.01)
    submit = session.store.submit_apply
    calls = 0

    def flaky(*args: Any, **kwargs: Any) -> concurrent.futures.Future[None]:
        nonlocal calls
        calls += 1
        if calls == 1:
            failed: concurrent.futures.Future[None] = concurrent.futures.Future()
            failed.set_exception(StoreError("locked"))
            return failed
        return submit(*args, **kwargs)

    monkeypatch.setattr(session.store, "submit_apply", flaky)
    frame = await session.batch([tkh.limit()], key="flaky")
    assert frame["status"].tolist() == ["NEW"]
    assert session.orders(key="flaky")["status"].tolist() == ["NEW"]
    batch = session.store.find_batch("flaky")
    assert batch is not None
    assert batch.counts == {"NEW": 1}


# -- 8. cancels ---------------------------------------------------------------------------------


async def test_one_failed_cancel_loses_no_other_result(tkh: Any) -> None:
    script = Script()
    session = await tk.connect(stream=False, adapter=script)
    frame = await session.batch([tkh.limit(price="88000"), tkh.limit(price="87000")])
    bad = frame["client_order_id"].iloc[0]

    async def flaky(adapter: ScriptedAdapter, symbol: str, **kw: Any) -> Order:
        if kw.get("client_order_id") == bad:
            raise TransportError("timed out", method="DELETE", path="/api/v3/order")
        return await adapter.real_cancel(symbol, **kw)

    script.cancel = flaky
    out = (await session.cancel(frame)).set_index("client_order_id")
    good = frame["client_order_id"].iloc[1]
    assert out.loc[good, "status"] == "CANCELED"
    assert out.loc[bad, "status"] == "NEW"
    assert str(out.loc[bad, "error_msg"]).startswith("cancel failed")
    stored = session.orders().set_index("client_order_id")["status"]
    assert stored[good] == "CANCELED"
    assert stored[bad] == "NEW"


async def test_one_failed_cancel_all_symbol_loses_no_other(tkh: Any) -> None:
    script = Script()
    session = await tk.connect(stream=False, adapter=script)
    await session.batch([tkh.limit(), tkh.limit(symbol="ETHUSDT", price="2000", qty="0.01")])

    async def flaky(adapter: ScriptedAdapter, symbol: str) -> list[Order]:
        if symbol == "ETHUSDT":
            raise TransportError("timed out", method="DELETE", path="/api/v3/openOrders")
        return await adapter.real_cancel_all(symbol)

    script.cancel_all = flaky
    out = (await session.cancel_all()).set_index("symbol")
    assert out.loc["BTCUSDT", "status"] == "CANCELED"
    assert str(out.loc["ETHUSDT", "error_msg"]).startswith("cancel_all failed")
    stored = session.orders().set_index("symbol")["status"]
    assert stored["BTCUSDT"] == "CANCELED"


# -- 9. PENDING rows after a batch are retried in the background ------------------------------


async def test_pending_after_a_batch_is_retried_later(tkh: Any) -> None:
    # The default send window: a short one (it was 0.2 s) expired before the send on a busy
    # machine and made the row "not placed" instead of PENDING. The background retry waits
    # send_window + recv_window + slack before it looks, so it is still pending at the end.
    script = Script()
    session = await tk.connect(stream=False, adapter=script)
    await session.batch([tkh.limit()])

    async def unknown(
        adapter: ScriptedAdapter, requests: Sequence[OrderRequest], deadline: Any
    ) -> list[Order]:
        return [
            order_from_request(r, exchange=adapter.exchange, error_msg="lost") for r in requests
        ]

    async def offline(*_: Any, **__: Any) -> Order | None:
        raise TransportError("offline", method="GET", path="/api/v3/order")

    script.place, script.query = unknown, offline
    frame = await session.batch([tkh.limit(price="87000")])
    assert frame["status"].tolist() == ["PENDING"]
    assert session.ops.later is not None
    assert not session.ops.later.done()
    script.place = script.query = None


# -- 10. the not-placed rule --------------------------------------------------------------------


class _Absent:
    """An exchange that never knows the order; ``times``: when it was asked, by ``clock``."""

    def __init__(
        self, error: Exception | None = None, clock: Callable[[], Any] = time.monotonic
    ) -> None:
        self.times: list[Any] = []
        self.error = error
        self.clock = clock

    async def query(self, symbol: str, **_: Any) -> Order | None:
        self.times.append(self.clock())
        if self.error is not None:
            raise self.error
        return None


def _pending(market: Market = Market.SPOT, age: pd.Timedelta | None = None) -> Order:
    now = pd.Timestamp.now(tz="UTC")
    age = pd.Timedelta(minutes=1) if age is None else age
    return Order(
        client_order_id="c1",
        exchange="binance",
        market=market,
        symbol="BTCUSDT",
        status=OrderStatus.PENDING,
        created_at=now - age,
        not_after=now - age,
    )


async def test_not_placed_needs_two_absent_answers_a_second_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from toolkit.session import _reconcile
    from toolkit.session._reconcile import DEFAULT_SLACK, resolve_pending

    assert DEFAULT_SLACK >= 3.0
    # reconciliation's clock and sleep, faked: the gap between the two answers is the one
    # the code waited for, whatever the machine's speed
    now = [pd.Timestamp.now(tz="UTC")]

    async def fake_sleep(seconds: float) -> None:
        now[0] += pd.Timedelta(seconds=seconds)

    monkeypatch.setattr(_reconcile, "_now", lambda: now[0])
    monkeypatch.setattr("toolkit.session._reconcile.asyncio.sleep", fake_sleep)
    querier = _Absent(clock=lambda: now[0])
    [out] = await resolve_pending(querier, [_pending()], recv_window=5.0, wait=False)
    assert out.status is OrderStatus.REJECTED
    assert not out.placed
    assert out.error_msg is not None
    assert out.error_msg.startswith("not placed: ")
    assert out.outcome is Outcome.NOT_PLACED
    assert len(querier.times) == 2
    assert (querier.times[1] - querier.times[0]).total_seconds() >= 1.0


async def test_archived_order_is_found() -> None:
    from toolkit.core._exceptions import ExchangeError
    from toolkit.session._reconcile import resolve_pending

    querier = _Absent(ExchangeError(-2026, "Order was canceled or expired and archived"))
    [out] = await resolve_pending(querier, [_pending()], recv_window=5.0, wait=False)
    assert out.placed
    assert out.status is OrderStatus.CANCELED


async def test_old_usdm_order_is_never_marked_not_placed() -> None:
    from toolkit.session._reconcile import resolve_pending

    old = _pending(Market.USDM, pd.Timedelta(days=4))
    [out] = await resolve_pending(_Absent(), [old], recv_window=5.0, wait=False)
    assert out.status is OrderStatus.PENDING
    assert out.placed
    assert out.error_msg is not None
    assert "3 days" in out.error_msg
    young = dataclasses.replace(old, created_at=pd.Timestamp.now(tz="UTC"))
    [out] = await resolve_pending(_Absent(), [young], recv_window=5.0, wait=False)
    assert out.status is OrderStatus.REJECTED
    assert not out.placed


# -- 11. shutdown within its budget -------------------------------------------------------------


async def test_close_with_a_batch_in_flight_stays_within_budget(tkh: Any) -> None:
    from toolkit.paper import FaultConfig

    session = await tk.connect(stream=False, timeout=30.0)
    await session.symbol_rules()
    tkh.paper().configure_faults(FaultConfig(latency=20.0))
    before = tkh.paper().counters()["requests"]
    task = asyncio.ensure_future(session.batch([tkh.limit()]))
    # in flight: the order request has reached the exchange (which holds it for 20 s)
    await eventually(lambda: tkh.paper().counters()["requests"] > before, "the order request")
    started = time.monotonic()
    await session.close()
    # the close budget, not the exchange's 20 s hold (a loaded machine has ample room)
    assert time.monotonic() - started < 17.0
    assert session.transport.closed
    with pytest.raises((asyncio.CancelledError, tk.ToolkitError)):
        await task
    tkh.paper().configure_faults(FaultConfig())


# -- 12. closed store, credentials ----------------------------------------------------------------


async def test_store_of_a_closed_session_raises() -> None:
    session = await tk.connect()
    await session.close()
    with pytest.raises(SessionClosedError):
        _ = session.store


async def test_missing_credentials_write_nothing(tkh: Any, tmp_path: Any) -> None:
    from toolkit.session._config import make_config
    from toolkit.session._session import Session

    await tk.connect()
    url = tkh.paper().url
    store = str(tmp_path / "nokey.duckdb")
    session = Session(make_config("paper", base_url=url, store=store, stream=False))
    try:
        with pytest.raises(ConfigError, match="API key"):
            await session.batch([tkh.limit()])
        assert len(session.orders()) == 0
    finally:
        await session.close()


async def test_invalid_rows_are_stored_as_never_placed(tkh: Any) -> None:
    """Issue 13 (6): ``placed`` was true for INVALID rows, which were never sent."""
    session = await tk.connect(stream=False)
    frame = await session.batch([tkh.limit(), {**tkh.limit(), "qty": "0"}], key="mixed")
    assert frame["status"].tolist() == ["NEW", "INVALID"]
    rows = session.sql("select status, placed from orders order by position")
    assert rows.to_dict("records") == [
        {"status": "NEW", "placed": True},
        {"status": "INVALID", "placed": False},
    ]
    events = session.sql("select event from order_events e join orders o using (client_order_id)"
                         " where o.status = 'INVALID'")  # fmt: skip
    assert events["event"].tolist() == ["invalid"]
    again = await session.batch([tkh.limit(), {**tkh.limit(), "qty": "0"}], key="mixed")
    assert again["status"].tolist() == ["NEW", "INVALID"]  # a re-run never sends an INVALID row
    assert sorted(tkh.placed().values()) == [1]


async def test_cancel_skips_rows_known_done_and_records_what_the_exchange_reports(
    tkh: Any,
) -> None:
    """Issue 13 (7): cancelling a frame whose rows are done marked them "cancel failed: Unknown
    order sent." An order the exchange reports filled is shown (and stored) filled, with no
    error; once the store knows it is done, a cancel skips it without a request."""
    # no fills sync or positions snapshot 2 s after the batch: only the cancels' requests count
    session = await tk.connect(stream=False, sync_fills=False)
    frame = await session.batch([tkh.limit(price="88000"), tkh.limit(price="89500")])
    assert frame["status"].tolist() == ["NEW", "NEW"]
    paper = tkh.paper()
    paper.set_price("BTCUSDT", 89000)  # fills the 89,500 buy; the store still says NEW
    try:
        paper.reset_counters()
        out = await session.cancel(frame)  # the frame is stale: both rows say NEW
        assert out["status"].tolist() == ["CANCELED", "FILLED"]
        assert out["error_msg"].isna().all(), out["error_msg"].tolist()
        assert paper.counters()["requests"] == 3  # two cancels, one query for the refused one
        assert session.orders()["status"].tolist() == ["CANCELED", "FILLED"]
        paper.reset_counters()
        again = await session.cancel(frame)  # still stale; the store knows both are done
        assert again["status"].tolist() == ["CANCELED", "FILLED"]
        assert again["error_msg"].isna().all()
        assert paper.counters()["requests"] == 0
    finally:
        paper.set_price("BTCUSDT", 90000)


async def test_strict_sends_nothing_when_a_row_is_invalid(tkh: Any) -> None:
    """Issue 13 (3): strict=True sent the valid rows and then raised, leaving them live."""
    session = await tk.connect(stream=False)
    paper = tkh.paper()
    before = dict(tkh.placed())
    with pytest.raises(StrictBatchError, match=r"nothing was sent") as info:
        await session.batch([tkh.limit(), {**tkh.limit(), "symbol": "FOOUSDT"}], strict=True)
    frame = info.value.frame
    assert frame["status"].tolist() == ["INVALID", "INVALID"]
    assert "strict=True and row(s) 1 invalid" in frame["error_msg"].iloc[0]
    assert tkh.placed() == before  # nothing reached the exchange
    assert paper.counters()["orders"] == sum(before.values())


async def test_strict_names_what_was_placed_when_the_exchange_rejects(tkh: Any) -> None:
    session = await tk.connect(stream=False)
    far = {**tkh.limit(side="sell", price="89000"), "type": "limit_maker"}  # crosses: rejected
    with pytest.raises(StrictBatchError, match=r"the other 1 were placed \(1 NEW\)") as info:
        await session.batch([tkh.limit(), far], strict=True)
    assert info.value.frame["status"].tolist() == ["NEW", "REJECTED"]


async def test_a_key_refused_before_sending_is_free_for_corrected_orders(tkh: Any) -> None:
    """Issue 13 (2): a strict batch refused before any send used up its key, so a failed
    scheduled run could not be fixed. Now the key stays free; the refused attempt stays in the
    store under a retired key, and no two rows share a client order id."""
    session = await tk.connect(stream=False)
    bad = [tkh.limit(), {**tkh.limit(), "symbol": "FOOUSDT"}]
    with pytest.raises(StrictBatchError, match="nothing was sent"):
        await session.batch(bad, key="daily", strict=True)
    with pytest.raises(StrictBatchError, match="nothing was sent"):  # still refused: attempt 2
        await session.batch(bad, key="daily", strict=True)
    good = [tkh.limit(), tkh.limit(price="87000")]
    frame = await session.batch(good, key="daily", strict=True)  # attempt 3, corrected
    assert frame["status"].tolist() == ["NEW", "NEW"]
    again = await session.batch(good, key="daily", strict=True)  # spent now: placed before
    assert again["client_order_id"].tolist() == frame["client_order_id"].tolist()
    with pytest.raises(KeyReuseError):
        await session.batch([tkh.limit(price="86000")], key="daily")
    placed = tkh.placed()
    assert [placed[c] for c in frame["client_order_id"]] == [1, 1]
    batches = session.sql("select key, n_orders from batches order by created_at")
    assert batches["key"].tolist() == ["daily~refused-1", "daily~refused-2", "daily"]
    ids = session.sql("select client_order_id from orders")["client_order_id"]
    assert ids.is_unique
    assert len(ids) == 6
    assert session.orders(key="daily")["status"].tolist() == ["NEW", "NEW"]
