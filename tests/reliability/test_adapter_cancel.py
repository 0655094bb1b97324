"""Regression: cancelling ``BinanceAdapter.place`` leaves no never-awaited coroutine behind.

The session cancels a ``place`` still in progress when the send window closes. Requests queued
behind the adapter's concurrency limit were coroutines created but not yet awaited; before the
fix each one raised "coroutine 'BinanceAdapter._place_one' was never awaited" when collected.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from decimal import Decimal

import pytest

from toolkit.binance._transport import Transport, TransportConfig
from toolkit.binance.adapter import BinanceAdapter
from toolkit.core._models import Market, OrderRequest, OrderType, Side, TimeInForce
from toolkit.paper import FaultConfig, PaperExchange


def _request(i: int, market: Market) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"cancel-{market.value}-{i}", market=market, symbol="BTCUSDT",
        side=Side.BUY, type=OrderType.LIMIT, qty=Decimal("0.01"), price=Decimal("80000"),
        time_in_force=TimeInForce.GTC,
    )  # fmt: skip


@pytest.mark.parametrize("market", [Market.SPOT, Market.USDM])
async def test_cancelled_place_leaves_no_unawaited_coroutine(market: Market) -> None:
    ex = PaperExchange(price_mode="fixed", rate_limits=False, faults=FaultConfig(latency=0.3))
    await ex.start()
    key, secret = ex.create_key()
    transport = Transport(TransportConfig(base_url=ex.url), api_key=key, api_secret=secret)
    adapter = BinanceAdapter(transport, market, exchange="paper", concurrency=1)
    try:
        await transport.sync_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(adapter.place([_request(i, market) for i in range(12)]), 0.1)
            gc.collect()
        unawaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
        assert unawaited == []
    finally:
        await transport.close()
        await ex.stop()
