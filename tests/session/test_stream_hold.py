"""The user-data stream while a batch sends: its updates about the batch's orders wait for the
answers, so the echo of an answer costs no store write, and news (a later fill) is kept."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from typing import Any

import toolkit as tk
from toolkit.core._cutoff import Deadline
from toolkit.core._models import Order, OrderRequest

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
