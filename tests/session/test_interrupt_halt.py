"""Stop means stop (issue 13) and the halt (issue 14): an interrupted or halted batch sends no new
request, records the rest as not placed, says so, and a re-run of its key sends the rest once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

import toolkit as tk
from toolkit.paper._faults import FaultConfig

from .conftest import Script, ScriptedAdapter, eventually

pytestmark = pytest.mark.loop

N = 120


def _rows(tkh: Any) -> list[dict[str, Any]]:
    return [tkh.limit(price=str(80000 + i)) for i in range(N)]


async def test_an_interrupted_batch_stops_sending_and_a_rerun_sends_the_rest_once(
    tkh: Any,
) -> None:
    session = await tk.connect(stream=False, concurrency=2)
    await session.batch([tkh.limit()])  # warm up
    paper = tkh.paper()
    paper.configure_faults(FaultConfig(latency=0.05))  # ~3 s for the whole batch at 2 at once
    before = paper.counters()["orders"]
    task = asyncio.ensure_future(session.batch(_rows(tkh), key="stop-means-stop"))
    await eventually(lambda: paper.counters()["orders"] >= before + 6, "the first orders")
    task.cancel()  # what a kernel interrupt does to the cell
    with pytest.raises(tk.BatchInterrupted, match=r"interrupted: .* not sent") as info:
        await task
    exc = info.value
    at_exchange = paper.counters()["orders"] - before
    paper.configure_faults(FaultConfig())
    assert exc.placed == at_exchange  # in flight when it came: finished and recorded
    assert exc.placed + exc.not_sent == N
    assert exc.not_sent > 0
    assert exc.key == "stop-means-stop"
    unsent = exc.frame[exc.frame["status"] == "REJECTED"]
    assert unsent["error_msg"].str.startswith("not placed: interrupted before it was sent").all()
    await asyncio.sleep(0.2)  # nothing goes out after the call returned
    assert paper.counters()["orders"] - before == at_exchange
    again = await session.batch(_rows(tkh), key="stop-means-stop")  # sends the rest, once
    assert again["status"].tolist() == ["NEW"] * N
    placed = tkh.placed()
    assert [placed[c] for c in again["client_order_id"]] == [1] * N


async def test_a_halt_stops_a_batch_and_refuses_new_ones_until_resumed(tkh: Any) -> None:
    session = await tk.connect(stream=False, concurrency=2)
    await session.batch([tkh.limit()])
    paper = tkh.paper()
    paper.configure_faults(FaultConfig(latency=0.05))
    before = paper.counters()["orders"]
    task = asyncio.ensure_future(session.batch(_rows(tkh), key="halted"))
    await eventually(lambda: paper.counters()["orders"] >= before + 4, "the first orders")
    tk.halt("the signal looks wrong")
    with pytest.raises(tk.BatchInterrupted, match=r"halted \(the signal looks wrong\)"):
        await task
    paper.configure_faults(FaultConfig())
    assert tk.halted() is not None
    with pytest.raises(tk.TradingHalted, match=r"tk\.resume"):
        await session.batch([tkh.limit()])
    assert session.orders(status="NEW").shape[0] > 0  # a halt cancels nothing
    tk.resume()
    assert tk.halted() is None
    again = await session.batch(_rows(tkh), key="halted")
    assert again["status"].tolist() == ["NEW"] * N


async def test_a_halt_that_lands_while_a_batch_reads_prices_stops_it_before_its_write_ahead(
    tkh: Any,
) -> None:
    """A halt set by another process after a batch began (here: while the batch reads prices,
    well before anything is sent) is refused by the write-ahead's own transaction: the batch
    raises TradingHalted, nothing is written and nothing sent. A look at the flag when the
    batch began would have let it through."""
    script = Script()
    session = await tk.connect(stream=False, adapter=script)
    landed: list[bool] = []

    async def halted_meanwhile(
        adapter: ScriptedAdapter, symbols: Sequence[str] | None
    ) -> dict[str, Decimal]:
        script.prices = None
        session.store.halt("another process saw a bad print")  # the shared flag, nothing else
        landed.append(True)
        return await adapter.real_prices(symbols)

    script.prices = halted_meanwhile
    with pytest.raises(tk.TradingHalted, match=r"\(another process saw a bad print\)") as info:
        await session.batch([tkh.market()], key="mid-prepare")
    assert landed  # the halt did land while the batch read prices
    assert info.value.reason == "another process saw a bad print"
    assert tkh.placed() == {}
    assert session.orders().empty
    assert session.store.find_batch("mid-prepare") is None
    session.resume()
    done = await session.batch([tkh.market()], key="mid-prepare")
    assert done["status"].tolist() == ["FILLED"]
    assert tkh.placed() == {done["client_order_id"].iloc[0]: 1}


async def test_a_batch_begun_under_a_halt_makes_no_exchange_request(tkh: Any) -> None:
    """A halt in force when a batch begins stops it before it reads rules and prices: a
    scheduled job looping while halted spends no rate-limit weight."""
    script = Script()
    session = await tk.connect(stream=False, adapter=script)
    asked: list[Sequence[str] | None] = []

    async def prices(adapter: ScriptedAdapter, symbols: Sequence[str] | None) -> dict[str, Decimal]:
        asked.append(symbols)
        return await adapter.real_prices(symbols)

    script.prices = prices
    session.store.halt("maintenance")
    with pytest.raises(tk.TradingHalted, match=r"\(maintenance\)"):
        await session.batch([tkh.market()])
    # (the session's own positions snapshot at open asks for every price: symbols None)
    assert [symbols for symbols in asked if symbols is not None] == []
    assert tkh.placed() == {}
