"""Calls the deprecated ``binance-connector`` (spot) makes against a paper exchange.

Run in its own environment (it installs ``binance/api.py``, as ``binance-futures-connector``
does): ``python connector_spot_calls.py <url> <api_key> <api_secret>``; prints every raw answer,
or ``{"error": {"status", "code", "message"}}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from binance.error import ClientError
from binance.spot import Spot


def main(url: str, key: str, secret: str) -> None:
    client = Spot(api_key=key, api_secret=secret, base_url=url)
    out: dict[str, Any] = {}

    def call(name: str, fn: Callable[[], Any]) -> Any:
        try:
            out[name] = fn()
        except ClientError as exc:
            out[name] = {
                "error": {
                    "status": exc.status_code,
                    "code": exc.error_code,
                    "message": exc.error_message,
                }
            }
        return out[name]

    call("time", client.time)
    call("account", client.account)
    limit = call(
        "limit",
        lambda: client.new_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.001",
            price="89000",
            newOrderRespType="FULL",
        ),
    )
    call(
        "market_quote",
        lambda: client.new_order(symbol="BTCUSDT", side="BUY", type="MARKET", quoteOrderQty="100"),
    )
    call(
        "fok",
        lambda: client.new_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="FOK",
            quantity="0.001",
            price="80000",
        ),
    )
    call(
        "take_profit_limit",
        lambda: client.new_order(
            symbol="BTCUSDT",
            side="SELL",
            type="TAKE_PROFIT_LIMIT",
            timeInForce="GTC",
            quantity="0.001",
            price="95000",
            stopPrice="94000",
        ),
    )
    call(
        "test_order",
        lambda: client.new_order_test(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
        ),
    )
    call("get_order", lambda: client.get_order("BTCUSDT", orderId=limit["orderId"]))
    call(
        "get_order_by_client_id",
        lambda: client.get_order("BTCUSDT", origClientOrderId=limit["clientOrderId"]),
    )
    call("open_orders", lambda: client.get_open_orders("BTCUSDT"))
    call("all_orders", lambda: client.get_orders("BTCUSDT"))
    call("cancel", lambda: client.cancel_order("BTCUSDT", orderId=limit["orderId"]))
    call("cancel_all", lambda: client.cancel_open_orders("BTCUSDT"))
    call("listen_key", client.new_listen_key)
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
