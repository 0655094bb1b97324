"""Calls python-binance makes against a paper exchange; prints every raw answer as one JSON object.

Run in its own environment (``python-binance`` only; it never imports toolkit):
``python pybinance_calls.py <url> <api_key> <api_secret>``. Each entry is the library's return
value, or ``{"error": {"status", "code", "message"}}`` when it raised.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from binance.client import Client
from binance.exceptions import BinanceAPIException


def main(url: str, key: str, secret: str) -> None:
    client = Client(key, secret, ping=False)
    client.API_URL = url + "/api"
    client.FUTURES_URL = url + "/fapi"
    out: dict[str, Any] = {}

    def call(name: str, fn: Callable[[], Any]) -> Any:
        try:
            out[name] = fn()
        except BinanceAPIException as exc:
            out[name] = {
                "error": {"status": exc.status_code, "code": exc.code, "message": exc.message}
            }
        except Exception as exc:  # a library-side failure is a result too
            out[name] = {
                "error": {"status": None, "code": None, "message": f"{type(exc).__name__}: {exc}"}
            }
        return out[name]

    call("time", client.get_server_time)
    call("exchange_info", lambda: len(client.get_exchange_info()["symbols"]))
    call("account", client.get_account)
    limit = call(
        "limit", lambda: client.order_limit_buy(symbol="BTCUSDT", quantity="0.001", price="89000")
    )
    call("market", lambda: client.order_market_buy(symbol="BTCUSDT", quantity="0.001"))
    call("market_quote", lambda: client.order_market_buy(symbol="BTCUSDT", quoteOrderQty="100"))
    call(
        "ioc",
        lambda: client.create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="IOC",
            quantity="0.001",
            price="80000",
        ),
    )
    call(
        "stop_loss_limit",
        lambda: client.create_order(
            symbol="BTCUSDT",
            side="SELL",
            type="STOP_LOSS_LIMIT",
            timeInForce="GTC",
            quantity="0.001",
            price="85000",
            stopPrice="86000",
        ),
    )
    call(
        "test_order",
        lambda: client.create_test_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
        ),
    )
    call("get_order", lambda: client.get_order(symbol="BTCUSDT", orderId=limit["orderId"]))
    call(
        "get_order_by_client_id",
        lambda: client.get_order(symbol="BTCUSDT", origClientOrderId=limit["clientOrderId"]),
    )
    call("open_orders", lambda: client.get_open_orders(symbol="BTCUSDT"))
    call("all_orders", lambda: client.get_all_orders(symbol="BTCUSDT"))
    call("cancel", lambda: client.cancel_order(symbol="BTCUSDT", orderId=limit["orderId"]))
    call("cancel_all", lambda: client._delete("openOrders", True, data={"symbol": "BTCUSDT"}))
    call("spot_listen_key", client.stream_get_listen_key)

    call("f_time", client.futures_time)
    call("f_exchange_info", lambda: len(client.futures_exchange_info()["symbols"]))
    call("f_account", client.futures_account)
    call("f_leverage", lambda: client.futures_change_leverage(symbol="BTCUSDT", leverage=5))
    f_limit = call(
        "f_limit",
        lambda: client.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.002",
            price="88000",
        ),
    )
    call(
        "f_test",
        lambda: client.futures_create_test_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002"
        ),
    )
    call(
        "f_get_order",
        lambda: client.futures_get_order(symbol="BTCUSDT", orderId=f_limit["orderId"]),
    )
    # python-binance 1.0.37 has no wrapper for GET /fapi/v1/openOrder: its request method
    call(
        "f_open_order",
        lambda: client._request_futures_api(
            "get", "openOrder", True, data={"symbol": "BTCUSDT", "orderId": f_limit["orderId"]}
        ),
    )
    call("f_open_orders", lambda: client.futures_get_open_orders(symbol="BTCUSDT"))
    call(
        "f_batch",
        lambda: client.futures_place_batch_order(
            batchOrders=[
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "0.002",
                    "price": "87000",
                },
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "0.002",
                    "price": "86000",
                },
            ]
        ),
    )
    ids = [o["orderId"] for o in out["f_batch"] if "orderId" in o]
    # python-binance takes the lower-case list name (as ccxt sends it) and encodes the JSON
    call("f_batch_cancel", lambda: client.futures_cancel_orders(symbol="BTCUSDT", orderidlist=ids))
    call(
        "f_market",
        lambda: client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.004"
        ),
    )
    stop = call(
        "f_stop_market",
        lambda: client.futures_create_order(
            symbol="BTCUSDT",
            side="SELL",
            type="STOP_MARKET",
            quantity="0.002",
            stopPrice="89000",
            reduceOnly="true",
        ),
    )
    call(
        "f_take_profit",
        lambda: client.futures_create_order(
            symbol="BTCUSDT",
            side="SELL",
            type="TAKE_PROFIT",
            timeInForce="GTC",
            quantity="0.002",
            price="91000",
            stopPrice="91000",
        ),
    )
    call("f_algo_get", lambda: client.futures_get_algo_order(algoId=stop["algoId"]))
    call("f_algo_open", lambda: client.futures_get_open_algo_orders(symbol="BTCUSDT"))
    call("f_algo_cancel", lambda: client.futures_cancel_algo_order(algoId=stop["algoId"]))
    call("f_algo_all", lambda: client.futures_get_all_algo_orders(symbol="BTCUSDT"))
    call("f_position_risk", lambda: client.futures_position_information(symbol="BTCUSDT"))
    call(
        "f_cancel",
        lambda: client.futures_cancel_order(symbol="BTCUSDT", orderId=f_limit["orderId"]),
    )
    call("f_cancel_all", lambda: client.futures_cancel_all_open_orders(symbol="BTCUSDT"))
    call("f_listen_key", client.futures_stream_get_listen_key)
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
