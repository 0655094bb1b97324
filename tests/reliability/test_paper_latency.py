"""Regression: injected latency holds an order that was fully received (a slow backend).

Before the fix the paper exchange waited *before* reading the request: a client that timed out
meanwhile made the body unreadable, so the order was never executed and the server logged an
"unexpected error" with a 500. A real exchange has received the order and may execute it after
the client gave up -- the unknown outcome that reconciliation exists for.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

import aiohttp
import pytest

from toolkit.paper import FaultConfig, PaperExchange


async def test_an_order_held_past_the_client_timeout_is_executed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="toolkit.paper")
    ex = PaperExchange(price_mode="fixed", faults=FaultConfig(latency=2.0))
    await ex.start()
    try:
        key, secret = ex.create_key()
        body = (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=80000"
            f"&newClientOrderId=late-1&recvWindow=5000&timestamp={int(time.time() * 1000)}"
        )
        body += "&signature=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        # the wait for the answer times out (2 s held, 0.2 s read timeout); sending is not
        # timed, so a slow machine cannot make the order miss the exchange
        timeout = aiohttp.ClientTimeout(sock_read=0.2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            with pytest.raises(asyncio.TimeoutError):
                await http.post(
                    ex.url + "/api/v3/order",
                    data=body.encode(),
                    headers={"X-MBX-APIKEY": key,
                             "Content-Type": "application/x-www-form-urlencoded"},
                )  # fmt: skip
        # the backend finishes the order after the client left (waited for, not guessed)
        for _ in range(6000):
            if ex.counters()["orders_by_client_id"]:
                break
            await asyncio.sleep(0.01)
        assert ex.counters()["orders_by_client_id"] == {"late-1": 1}
        assert [r.getMessage() for r in caplog.records] == []
    finally:
        await ex.stop()
