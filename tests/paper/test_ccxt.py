"""A well-known client library (ccxt) trades against the paper exchange on both markets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from toolkit.paper import PaperExchange

ccxt = pytest.importorskip("ccxt.async_support")


def _point_at(exchange: Any, url: str) -> None:
    api = exchange.urls["api"]
    for name, value in list(api.items()):
        if isinstance(value, str):
            api[name] = re.sub(r"^https?://[^/]+", url, value)


@pytest.fixture
async def clients(paper: PaperExchange) -> AsyncIterator[tuple[Any, Any]]:
    key, secret = paper.create_key()
    options = {
        "apiKey": key,
        "secret": secret,
        "enableRateLimit": False,
        "options": {"fetchCurrencies": False},
    }
    spot = ccxt.binance({**options, "options": {"fetchCurrencies": False, "defaultType": "spot"}})
    usdm = ccxt.binanceusdm(options)
    for exchange in (spot, usdm):
        _point_at(exchange, paper.url)
    try:
        yield spot, usdm
    finally:
        await spot.close()
        await usdm.close()


async def test_ccxt_spot(paper: PaperExchange, clients: tuple[Any, Any]) -> None:
    spot, _ = clients
    markets = await spot.load_markets()
    assert "BTC/USDT" in markets
    assert "BTC/USDT:USDT" in markets
    order = await spot.create_order("BTC/USDT", "limit", "buy", 0.001, 89000)
    assert order["status"] == "open"
    assert order["clientOrderId"]
    fetched = await spot.fetch_order(order["id"], "BTC/USDT")
    assert (fetched["id"], fetched["amount"], fetched["price"]) == (order["id"], 0.001, 89000)
    assert [o["id"] for o in await spot.fetch_open_orders("BTC/USDT")] == [order["id"]]
    canceled = await spot.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    filled = await spot.create_order("ETH/USDT", "market", "buy", 0.01)
    assert (filled["status"], filled["filled"], filled["cost"]) == ("closed", 0.01, 30.0)
    balance = await spot.fetch_balance()
    assert balance["ETH"]["free"] == pytest.approx(10.01)
    with pytest.raises(ccxt.InsufficientFunds):
        await spot.create_order("BTC/USDT", "limit", "buy", 5, 89000)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await spot.create_order("BTC/USDT", "limit", "buy", 0.001, 90000, {"postOnly": True})


async def test_ccxt_usdm(paper: PaperExchange, clients: tuple[Any, Any]) -> None:
    _, usdm = clients
    await usdm.load_markets()
    order = await usdm.create_order("BTC/USDT:USDT", "limit", "buy", 0.002, 89000)
    assert order["status"] == "open"
    fetched = await usdm.fetch_order(order["id"], "BTC/USDT:USDT")
    assert fetched["clientOrderId"] == order["clientOrderId"]
    batch = await usdm.create_orders(
        [
            {
                "symbol": "BTC/USDT:USDT",
                "type": "limit",
                "side": "buy",
                "amount": 0.002,
                "price": 88000,
            },
            {
                "symbol": "BTC/USDT:USDT",
                "type": "limit",
                "side": "buy",
                "amount": 0.002,
                "price": 88000.05,
            },  # off tick: ccxt rounds it to 88000.1 -> accepted
        ]
    )
    assert [o["status"] for o in batch] == ["open", "open"]
    opened = await usdm.fetch_open_orders("BTC/USDT:USDT")
    assert len(opened) == 3
    canceled = await usdm.cancel_order(order["id"], "BTC/USDT:USDT")
    assert canceled["status"] == "canceled"
    gone = await usdm.cancel_orders([o["id"] for o in batch], "BTC/USDT:USDT")
    assert [o["status"] for o in gone] == ["canceled", "canceled"]
    filled = await usdm.create_order("ETH/USDT:USDT", "market", "sell", 0.01)
    assert filled["status"] == "closed"
    positions = await usdm.fetch_positions(["ETH/USDT:USDT"])
    assert positions[0]["contracts"] == pytest.approx(0.01)
    assert positions[0]["side"] == "short"
    balance = await usdm.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(100_000)
    await usdm.cancel_all_orders("BTC/USDT:USDT")
