"""Calls the deprecated ``binance-futures-connector`` (USD-M) makes against a paper exchange.

Run in its own environment (it installs ``binance/api.py``, as ``binance-connector`` does):
``python connector_usdm_calls.py <url> <api_key> <api_secret>``; prints every raw answer, or
``{"error": {"status", "code", "message"}}``. The connector predates the Algo Order API, so
those calls go through its generic ``sign_request``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from binance.error import ClientError
from binance.um_futures import UMFutures


def main(url: str, key: str, secret: str) -> None:
    client = UMFutures(key=key, secret=secret, base_url=url)
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
    call("account_v3", client.account)
    call("leverage", lambda: client.change_leverage(symbol="BTCUSDT", leverage=5))
    limit = call(
        "limit",
        lambda: client.new_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.002",
            price="88000",
        ),
    )
    call(
        "test_order",
        lambda: client.new_order_test(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002"
        ),
    )
    call("query", lambda: client.query_order(symbol="BTCUSDT", orderId=limit["orderId"]))
    call("open_order", lambda: client.get_open_orders(symbol="BTCUSDT", orderId=limit["orderId"]))
    call("open_orders", lambda: client.get_orders(symbol="BTCUSDT"))
    batch = call(
        "batch",
        lambda: client.new_batch_order(
            [
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "0.002",
                    "price": p,
                }
                for p in ("87000", "86000")
            ]
        ),
    )
    call(
        "batch_cancel",
        lambda: client.cancel_batch_order(
            symbol="BTCUSDT", orderIdList=[o["orderId"] for o in batch], origClientOrderIdList=None
        ),
    )
    call(
        "market",
        lambda: client.new_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.004"),
    )
    call(
        "stop_market_old_endpoint",
        lambda: client.new_order(
            symbol="BTCUSDT", side="SELL", type="STOP_MARKET", quantity="0.002", stopPrice="89000"
        ),
    )
    algo = call(
        "algo_new",
        lambda: client.sign_request(
            "POST",
            "/fapi/v1/algoOrder",
            {
                "algoType": "CONDITIONAL",
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "quantity": "0.002",
                "triggerPrice": "89000",
                "clientAlgoId": "conn-sl-1",
            },
        ),
    )
    call(
        "algo_query",
        lambda: client.sign_request("GET", "/fapi/v1/algoOrder", {"algoId": algo["algoId"]}),
    )
    call(
        "algo_cancel",
        lambda: client.sign_request("DELETE", "/fapi/v1/algoOrder", {"clientAlgoId": "conn-sl-1"}),
    )
    call("positions_v3", lambda: client.get_position_risk(symbol="BTCUSDT"))
    call("cancel", lambda: client.cancel_order(symbol="BTCUSDT", orderId=limit["orderId"]))
    call("cancel_all", lambda: client.cancel_open_orders(symbol="BTCUSDT"))
    call("listen_key", client.new_listen_key)
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
