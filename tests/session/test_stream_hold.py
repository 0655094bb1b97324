"""The user-data stream while a batch sends: its updates about the batch's orders wait for the
answers, so the echo of an answer costs no store write, and news (a later fill) is kept."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd

import toolkit as tk
from toolkit.core._cutoff import Deadline
from toolkit.core._models import Market, Order, OrderRequest, OrderStatus, OrderType, Side
from toolkit.runtime._events import Publisher
from toolkit.session._ledger import Ledger
from toolkit.store._store import Store

from .conftest import Script, ScriptedAdapter, eventually


def _answers_after_the_stream(
    script: Script, session: Any, per_order: int, then: Any = None
) -> None:
    """From now on the session's adapter (made by ``script``) returns its answers only once the
    stream has delivered ``per_order`` events per order of the call (the stream overtakes the
    answers, as it can on a real network); ``then()`` runs between the send and that wait."""

    async def stream_first(
        adapter: ScriptedAdapter, requests: Sequence[OrderRequest], deadline: Deadline
    ) -> list[Order]:
        before = session.feed.events
        got = await adapter.real_place(requests, deadline=deadline)
        if then is not None:
            then()
        await eventually(
            lambda: session.feed.events >= before + per_order * len(requests),
            "the stream's events about the orders",
        )
        return got

    script.place = stream_first


def _stream_events(session: Any, batch_id: str) -> list[tuple[str, str]]:
    """(event, status) of the journal's stream events about the orders of ``batch_id``."""
    path = session.store.journal_path
    with closing(sqlite3.connect(path)) as con:
        return con.execute(
            "SELECT e.event, e.status FROM events e JOIN orders o USING (client_order_id)"
            " WHERE o.batch_id = ? AND e.source = 'stream' ORDER BY e.event_id",
            [batch_id],
        ).fetchall()


async def test_the_streams_echo_of_a_batch_costs_no_store_write(tkh: Any) -> None:
    script = Script()
    session = await tk.connect(adapter=script)  # the stream is on
    await session.batch([tkh.market()])  # warm up: the stream is live, rules and prices known
    session.store.projection.stop(flush=True)  # keep events in the journal to look at them
    _answers_after_the_stream(script, session, per_order=2)  # NEW and TRADE of each market order
    frame = await session.batch([tkh.market(qty="0.001") for _ in range(30)])
    assert frame["status"].tolist() == ["FILLED"] * 30
    assert _stream_events(session, frame["batch_id"].iloc[0]) == []
    stored = session.orders(batch_id=frame["batch_id"].iloc[0])
    assert stored["status"].tolist() == ["FILLED"] * 30


async def test_news_the_stream_brought_while_the_batch_sent_is_kept(tkh: Any) -> None:
    """A resting order fills between its answer (NEW) and the batch's end: the stream's fill,
    held meanwhile, is applied after the answer, never lost behind it."""
    script = Script()
    session = await tk.connect(adapter=script)
    await session.batch([tkh.market()])
    session.store.projection.stop(flush=True)
    paper = tkh.paper()
    # the answer says NEW; then the price drops through the limit and the order fills
    _answers_after_the_stream(
        script, session, per_order=2, then=lambda: paper.set_price("BTCUSDT", 87000)
    )
    frame = await session.batch([tkh.limit(price="88000")])
    batch_id = frame["batch_id"].iloc[0]
    await eventually(
        lambda: session.orders(batch_id=batch_id)["status"].tolist() == ["FILLED"],
        "the held fill recorded",
    )
    assert ("filled", "FILLED") in _stream_events(session, batch_id)


async def test_a_stream_echo_is_the_known_state_and_only_news_is_written(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    store.projection.stop(flush=False)  # keep the journal's events to count them
    try:
        ledger = Ledger(store, venue="v", publisher=Publisher(), loop=asyncio.get_running_loop())
        at = pd.Timestamp("2026-11-30 12:00", tz="UTC")
        answer = Order(client_order_id="e1", exchange="paper", market=Market.SPOT,
                       symbol="BTCUSDT", side=Side.BUY, type=OrderType.LIMIT,
                       status=OrderStatus.NEW, order_id="7", price=100.0, qty=1.0,
                       filled_qty=0.0, batch_id="b1", position=0, updated_at=at)  # fmt: skip
        [known] = await ledger.finalize([answer], "response")
        # the stream's NEW: no batch bookkeeping, its own payload and time, the same state
        echo = answer.evolve(batch_id=None, position=None, raw={"X": "NEW"}, updated_at=at)
        assert (await ledger.finalize([echo], "stream"))[0] is known
        assert _events(store) == [("accepted", "response")]
        fill = echo.evolve(status=OrderStatus.FILLED, filled_qty=1.0, avg_price=100.0)
        [filled] = await ledger.finalize([fill], "stream")  # news: normalized, written
        assert (filled.status, filled.batch_id, filled.position) == (OrderStatus.FILLED, "b1", 0)
        late = await ledger.finalize([echo], "stream")  # a NEW behind the fill
        assert late == [filled]
        assert _events(store) == [("accepted", "response"), ("filled", "stream")]
    finally:
        store.close()


def _events(store: Store) -> list[tuple[str, str]]:
    assert store.journal_path is not None
    with closing(sqlite3.connect(store.journal_path)) as con:
        return con.execute("SELECT event, source FROM events ORDER BY event_id").fetchall()
