"""What reconciling many unknown orders costs: found by listing their symbol's orders
(``allOrders``) before any is asked for alone (one request per symbol instead of one per order
after a lost connection), and one warning for an outage, not one per order."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest

import toolkit as tk
from toolkit.core._adapter import ExchangeAdapter
from toolkit.core._exceptions import ExchangeError, TransportError
from toolkit.core._models import Market, Order, OrderStatus, OrderType, Outcome
from toolkit.paper import FaultConfig
from toolkit.session._reconcile import BULK_FROM, resolve_pending

from .conftest import Script, ScriptedAdapter

pytestmark = pytest.mark.loop

_DAY_MS = 24 * 3_600_000


def _pending(
    cid: str,
    symbol: str = "BTCUSDT",
    age: pd.Timedelta | None = None,
    market: Market = Market.SPOT,
    kind: OrderType = OrderType.LIMIT,
) -> Order:
    """An order written ahead ``age`` ago (default: just now) whose answer was lost; its send
    window open for an hour, so "absent" leaves it PENDING without waiting."""
    born = pd.Timestamp.now(tz="UTC") - (pd.Timedelta(0) if age is None else age)
    return Order(
        client_order_id=cid,
        exchange="binance",
        market=market,
        symbol=symbol,
        type=kind,
        status=OrderStatus.PENDING,
        qty=1.0,
        created_at=born,
        not_after=born + pd.Timedelta(hours=1),
    )


def _at_exchange(order: Order, order_id: int) -> Order:
    return order.evolve(
        status=OrderStatus.FILLED, order_id=str(order_id), filled_qty=1.0, avg_price=10.0
    )


class _Exchange:
    """Knows ``known`` (by client order id) when asked for one order; a listing shows only
    ``listable`` of them (a page cut short without saying so), ``twice`` of them twice,
    ``others`` more orders of the account, or raises ``list_error``."""

    def __init__(
        self,
        known: Sequence[Order],
        *,
        listable: set[str] | None = None,
        twice: set[str] | None = None,
        list_error: Exception | None = None,
        others: int = 0,
        query_error: Exception | None = None,
    ) -> None:
        self.known = {o.client_order_id: o for o in known}
        self.listable = set(self.known) if listable is None else listable
        self.twice = twice or set()
        self.list_error = list_error
        self.others = others
        self.query_error = query_error
        self.queries: list[str] = []
        self.listings: list[tuple[str, int | None, int | None]] = []

    async def query(
        self, symbol: str, *, client_order_id: str | None = None, **_: Any
    ) -> Order | None:
        assert client_order_id is not None
        self.queries.append(client_order_id)
        if self.query_error is not None:
            raise self.query_error
        return self.known.get(client_order_id)

    async def all_orders(
        self, symbol: str, *, start: int | None = None, end: int | None = None, limit: int = 1000
    ) -> list[Order]:
        self.listings.append((symbol, start, end))
        if self.list_error is not None:
            raise self.list_error
        out = []
        for cid, order in self.known.items():
            born = order.created_at
            assert born is not None
            assert start is not None
            assert end is not None
            if (
                order.symbol == symbol
                and cid in self.listable
                and start <= born.value // 10**6 <= end
            ):
                out += [order] * (2 if cid in self.twice else 1)
        some = next(iter(self.known.values()))
        out += [dataclasses.replace(some, client_order_id=f"x{i}") for i in range(self.others)]
        return out[:limit]


async def test_one_listing_finds_the_placed_orders_of_a_symbol() -> None:
    btc = [_pending(f"c{i}") for i in range(BULK_FROM + 2)]
    eth = [_pending(f"e{i}", "ETHUSDT") for i in range(BULK_FROM - 1)]  # too few to list
    placed = btc[:-1] + eth  # the last BTC order never arrived
    exchange = _Exchange(
        [_at_exchange(o, n) for n, o in enumerate(placed)],
        listable={o.client_order_id for o in btc[:-2]},  # the page misses one, silently
    )
    out = await resolve_pending(exchange, btc + eth, recv_window=5.0, wait=False)

    assert [s for s, _, _ in exchange.listings] == ["BTCUSDT"]
    _, start, end = exchange.listings[0]
    assert start is not None
    assert end is not None
    assert start <= min(o.created_at.value // 10**6 for o in btc if o.created_at is not None)
    assert 0 < end - start <= _DAY_MS  # Binance's longest spot window
    # asked alone: the symbol with too few; the two the listing lacked are not asked before
    # their deadline (alone, too, they could only be "absent, may still arrive")
    assert sorted(exchange.queries) == [o.client_order_id for o in eth]
    by_id = {o.client_order_id: o for o in out}
    for order in btc[:-2] + eth:
        got = by_id[order.client_order_id]
        assert got.status is OrderStatus.FILLED
        assert got.outcome is Outcome.PLACED
        assert got.order_id == exchange.known[order.client_order_id].order_id
        assert got.created_at == order.created_at  # our bookkeeping kept
    # nothing is decided from what a listing lacks: both stay PENDING, unchanged
    for order in btc[-2:]:
        assert by_id[order.client_order_id] == order
    assert [o.client_order_id for o in out] == [o.client_order_id for o in btc + eth]


async def test_what_a_listing_lacks_is_decided_by_asking_each_order_after_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole wait, on a fake clock: the order the listing missed is found by its query
    after the deadline, the absent one needs two absent answers a second apart, as always."""
    from toolkit.session import _reconcile

    now = [pd.Timestamp.now(tz="UTC")]

    async def fake_sleep(seconds: float) -> None:
        now[0] += pd.Timedelta(seconds=seconds)

    monkeypatch.setattr(_reconcile, "_now", lambda: now[0])
    monkeypatch.setattr("toolkit.session._reconcile.asyncio.sleep", fake_sleep)
    orders = [_pending(f"c{i}") for i in range(BULK_FROM + 2)]
    missed, absent = orders[-2], orders[-1]
    exchange = _Exchange(
        [_at_exchange(o, n) for n, o in enumerate(orders[:-1])],
        listable={o.client_order_id for o in orders[:-2]},
    )
    out = await resolve_pending(exchange, orders, recv_window=5.0, wait=True)
    by_id = {o.client_order_id: o for o in out}
    assert by_id[missed.client_order_id].status is OrderStatus.FILLED
    assert by_id[missed.client_order_id].placed
    assert by_id[absent.client_order_id].status is OrderStatus.REJECTED
    assert not by_id[absent.client_order_id].placed
    # after the deadline only: one query found the missed one, two proved the absence
    assert exchange.queries.count(missed.client_order_id) == 1
    assert exchange.queries.count(absent.client_order_id) == 2
    assert len(exchange.queries) == 3
    assert now[0] > _reconcile.deadline(absent, recv_window=5.0)


@pytest.mark.parametrize(
    ("market", "kind"),
    [(Market.SPOT, OrderType.LIMIT), (Market.USDM, OrderType.STOP_MARKET)],  # USD-M: not listed
)
async def test_a_listing_never_decides_not_placed(market: Market, kind: OrderType) -> None:
    """Past their deadline, an order a complete listing lacks is still asked for alone: the
    listing may not show it (a USD-M conditional order never is), the query finds it."""
    orders = [_pending(f"c{i}", age=pd.Timedelta(hours=2), market=market) for i in range(6)]
    orders[0] = dataclasses.replace(orders[0], type=kind)
    exchange = _Exchange(
        [_at_exchange(o, n) for n, o in enumerate(orders)],
        listable={o.client_order_id for o in orders[1:]},
    )
    out = await resolve_pending(exchange, orders, recv_window=5.0, wait=False)
    assert len(exchange.listings) == 1
    assert exchange.queries == ["c0"]
    assert all(o.status is OrderStatus.FILLED and o.placed for o in out)


async def test_a_listing_it_cannot_read_falls_back_to_asking_each_order() -> None:
    orders = [_pending(f"c{i}") for i in range(BULK_FROM)]
    unreadable = ValueError("order payload has no clientOrderId or symbol")
    exchange = _Exchange([_at_exchange(o, n) for n, o in enumerate(orders)], list_error=unreadable)
    out = await resolve_pending(exchange, orders, recv_window=5.0, wait=False)
    assert sorted(exchange.queries) == [o.client_order_id for o in orders]
    assert all(o.status is OrderStatus.FILLED for o in out)


async def test_an_adapter_without_a_listing_is_asked_order_by_order() -> None:
    """A custom adapter written before ``all_orders`` still reconciles (one query each): one
    without the method, and one that inherits the protocol's empty stub of it."""
    orders = [_pending(f"c{i}") for i in range(BULK_FROM)]
    exchange = _Exchange([_at_exchange(o, n) for n, o in enumerate(orders)])

    class QueryOnly:
        query = exchange.query

    class Declared(ExchangeAdapter):  # all_orders: the protocol's stub (returns None)
        query = exchange.query

    for adapter in (QueryOnly(), Declared()):  # type: ignore[abstract]  # (partial on purpose)
        exchange.queries.clear()
        out = await resolve_pending(adapter, orders, recv_window=5.0, wait=False)
        assert sorted(exchange.queries) == [o.client_order_id for o in orders]
        assert exchange.listings == []
        assert all(o.status is OrderStatus.FILLED for o in out)


async def test_a_full_page_lets_each_lacking_order_be_asked_at_once() -> None:
    orders = [_pending(f"c{i}") for i in range(BULK_FROM)]
    exchange = _Exchange(
        [_at_exchange(o, n) for n, o in enumerate(orders)],
        listable={o.client_order_id for o in orders[1:]},
        others=1000,  # the page is full: it may have been cut anywhere
    )
    out = await resolve_pending(exchange, orders, recv_window=5.0, wait=False)
    assert exchange.queries == ["c0"]
    assert all(o.status is OrderStatus.FILLED for o in out)


async def test_an_id_listed_twice_and_a_failed_listing_fall_back_to_asking_each_order() -> None:
    orders = [_pending(f"c{i}") for i in range(BULK_FROM)]
    exchange = _Exchange([_at_exchange(o, n) for n, o in enumerate(orders)], twice={"c0"})
    out = await resolve_pending(exchange, orders, recv_window=5.0, wait=False)
    assert exchange.queries == ["c0"]  # which of the two is ours: the query of the id says
    assert all(o.status is OrderStatus.FILLED for o in out)

    failing = _Exchange(
        [_at_exchange(o, n) for n, o in enumerate(orders)],
        list_error=ExchangeError(-1003, "Too much request weight used"),
    )
    out = await resolve_pending(failing, orders, recv_window=5.0, wait=False)
    assert len(failing.listings) == 1
    assert sorted(failing.queries) == [o.client_order_id for o in orders]
    assert all(o.status is OrderStatus.FILLED for o in out)


async def test_orders_more_than_a_day_apart_are_listed_in_windows_binance_accepts() -> None:
    old = [_pending(f"old{i}", age=pd.Timedelta(hours=30)) for i in range(BULK_FROM)]
    new = [_pending(f"new{i}") for i in range(BULK_FROM)]
    few = [_pending(f"few{i}", age=pd.Timedelta(hours=60)) for i in range(2)]
    orders = old + new + few
    exchange = _Exchange([_at_exchange(o, n) for n, o in enumerate(orders)])
    out = await resolve_pending(exchange, orders, recv_window=5.0, wait=False)
    assert len(exchange.listings) == 2
    for _, start, end in exchange.listings:
        assert start is not None
        assert end is not None
        assert 0 < end - start <= _DAY_MS
    assert sorted(exchange.queries) == ["few0", "few1"]
    assert all(o.status is OrderStatus.FILLED for o in out)


async def test_answers_lost_in_a_batch_are_found_by_one_listing(tkh: Any) -> None:
    """Through the real adapter and the paper exchange: every connection dropped after the
    exchange accepted the order; the batch resolves them with one ``allOrders`` request."""
    script = Script()
    asked: list[str] = []
    listed: list[str] = []

    async def query(adapter: ScriptedAdapter, symbol: str, **kw: Any) -> Order | None:
        asked.append(kw["client_order_id"])
        return await adapter.real_query(symbol, **kw)

    async def all_orders(adapter: ScriptedAdapter, symbol: str, **kw: Any) -> list[Order]:
        listed.append(symbol)
        return await adapter.real_all_orders(symbol, **kw)

    script.query, script.all_orders = query, all_orders
    session = await tk.connect(stream=False, adapter=script)  # the stream could tell first
    tkh.paper().configure_faults(FaultConfig(drop_after_rate=1.0))
    n = BULK_FROM + 2
    frame = await session.batch([tkh.market() for _ in range(n)], key="dropped")
    tkh.paper().configure_faults(FaultConfig())

    assert frame["status"].tolist() == ["FILLED"] * n
    assert tkh.placed() == dict.fromkeys(frame["client_order_id"], 1)
    assert listed == ["BTCUSDT"]
    assert asked == []  # (one query per order before)
    events = tk.sql("select event, source from order_events")
    assert (events["event"] == "unknown").sum() == n
    assert (events["source"] == "reconcile").sum() == n


async def test_an_outage_is_one_warning_per_error_and_the_orders_stay_pending(
    caplog: pytest.LogCaptureFixture,
) -> None:
    orders = [_pending(f"c{i}") for i in range(3)] + [_pending("e0", "ETHUSDT")]
    down = TransportError("connection refused", method="GET", path="/api/v3/order")
    clock = ExchangeError(-1021, "Timestamp for this request is outside of the recvWindow.")

    class Failing:
        async def query(self, symbol: str, **_: Any) -> Order | None:
            raise clock if symbol == "ETHUSDT" else down

    with caplog.at_level(logging.WARNING, logger="toolkit"):
        out = await resolve_pending(Failing(), orders, recv_window=5.0, wait=True)
    assert out == orders  # nothing decided: PENDING, as they were
    warnings = sorted(r.getMessage() for r in caplog.records if r.name == "toolkit")
    assert len(warnings) == 2  # one per distinct error, not one per order
    assert re.search(r"cannot reconcile c\d \(and 2 more\) yet.*connection refused", warnings[0])
    assert re.search(r"cannot reconcile e0 yet.*-1021", warnings[1])
