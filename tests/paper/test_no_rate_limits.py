"""``rate_limits=False`` (``--no-rate-limits``): exchangeInfo advertises no limits, so clients
do not throttle against a server that never refuses."""

from __future__ import annotations

import aiohttp
import pytest

from toolkit.paper import PaperExchange

from .conftest import Client


@pytest.mark.parametrize(
    ("path", "orders"), [("/api/v3/exchangeInfo", 100), ("/fapi/v1/exchangeInfo", 300)]
)
async def test_exchange_info_advertises_no_limits_when_they_are_off(
    paper: PaperExchange, session: aiohttp.ClientSession, path: str, orders: int
) -> None:
    unlimited = PaperExchange(price_mode="fixed", rate_limits=False)
    await unlimited.start()
    try:
        key, secret = unlimited.create_key()
        off = await Client(session, unlimited.url, key, secret).get(path, signed=False)
    finally:
        await unlimited.stop()
    assert off.status == 200
    assert off.body["rateLimits"] == []
    assert off.body["symbols"]

    key, secret = paper.create_key()  # limits on (the default): Binance's real ones
    on = (await Client(session, paper.url, key, secret).get(path, signed=False)).body
    assert {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
            "limit": orders} in on["rateLimits"]  # fmt: skip
