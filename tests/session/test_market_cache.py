"""Prices and symbol rules are cached per session (no round trip a batch can do without), and
fetched again when the exchange refuses an order for a filter."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

import toolkit as tk

pytestmark = pytest.mark.loop


async def _requests_of_a_batch(tkh: Any, session: tk.Session, rows: list[dict[str, Any]]) -> int:
    paper = tkh.paper()
    paper.reset_counters()
    await session.batch(rows, progress=False)
    requests: int = paper.counters()["requests"]
    return requests


async def test_a_fresh_price_costs_no_request(tkh: Any) -> None:
    cached = await tk.connect(stream=False, price_ttl=3600, sync_fills=False)
    await cached.batch([tkh.market()])  # warm up: rules, time, prices
    assert await _requests_of_a_batch(tkh, cached, [tkh.market() for _ in range(5)]) == 5
    every = await tk.connect(stream=False, price_ttl=0, sync_fills=False)
    await every.batch([tkh.market()])
    assert await _requests_of_a_batch(tkh, every, [tkh.market() for _ in range(5)]) == 6


async def test_rules_are_fetched_again_after_a_filter_failure(tkh: Any) -> None:
    session = await tk.connect(stream=False, rules_ttl=3600, price_ttl=3600, sync_fills=False)
    await session.batch([tkh.limit()])  # warm up: rules cached
    assert await _requests_of_a_batch(tkh, session, [tkh.limit()]) == 1
    # the exchange's tick size is 0.01; our copy of the rules says 0.001 (as if they changed)
    rules = session.market_cache.symbol_rules
    assert rules is not None
    rules["BTCUSDT"] = dataclasses.replace(rules["BTCUSDT"], tick_size=Decimal("0.001"))
    frame = await session.batch([tkh.limit(price="88000.005")])
    assert frame["status"].tolist() == ["REJECTED"]
    assert frame["error_code"].tolist() == [-1013]
    # the next batch fetches exchangeInfo again, and validates with the exchange's tick size
    paper = tkh.paper()
    paper.reset_counters()
    again = await session.batch([tkh.limit(price="88000.005")])
    assert again["status"].tolist() == ["INVALID"]
    assert paper.counters()["requests"] == 2  # exchangeInfo and prices again, no order sent
