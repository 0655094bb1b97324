"""Calls Binance's official spot SDK (``binance-sdk-spot``) makes against a paper exchange.

Run in its own environment: ``python sdk_spot_calls.py <url> <api_key> <api_secret>``. REST
answers are printed raw, as the SDK received them (after checking that it parses them); the
WebSocket API part subscribes to the user-data stream with
``user_data_stream_subscribe_signature`` and records the first ``executionReport`` it receives.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import requests
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketAPI
from binance_sdk_spot.rest_api.models import (
    NewOrderNewOrderRespTypeEnum,
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
    OrderTestSideEnum,
    OrderTestTypeEnum,
)
from binance_sdk_spot.spot import Spot

#: The last HTTP answer the SDK received: recorded raw, so the shapes compared are the
#: server's, not what the SDK's models keep of them.
_LAST: list[Any] = [None]
_request = requests.Session.request


def _capture(self: requests.Session, *args: Any, **kwargs: Any) -> Any:
    _LAST[0] = response = _request(self, *args, **kwargs)
    return response


requests.Session.request = _capture  # type: ignore[method-assign]


def dump(value: Any) -> Any:
    """A model (or list of models) as the JSON it was parsed from."""
    if isinstance(value, list):
        return [dump(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


async def main(url: str, key: str, secret: str) -> None:
    out: dict[str, Any] = {}
    rest = Spot(
        config_rest_api=ConfigurationRestAPI(api_key=key, api_secret=secret, base_path=url)
    ).rest_api

    def call(name: str, fn: Any) -> Any:
        try:
            fn().data()  # the SDK must be able to parse it
            out[name] = _LAST[0].json()
        except Exception as exc:  # record the library's error instead of stopping
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return out[name]

    call("time", rest.time)
    call("account", rest.get_account)
    limit = call(
        "limit",
        lambda: rest.new_order(
            symbol="BTCUSDT",
            side=NewOrderSideEnum.BUY,
            type=NewOrderTypeEnum.LIMIT,
            time_in_force=NewOrderTimeInForceEnum.GTC,
            quantity=0.001,
            price=89000.0,
            new_order_resp_type=NewOrderNewOrderRespTypeEnum.FULL,
        ),
    )
    call(
        "market_quote",
        lambda: rest.new_order(
            symbol="BTCUSDT",
            side=NewOrderSideEnum.BUY,
            type=NewOrderTypeEnum.MARKET,
            quote_order_qty=100.0,
            new_order_resp_type=NewOrderNewOrderRespTypeEnum.FULL,
        ),
    )
    call(
        "test_order",
        lambda: rest.order_test(
            symbol="BTCUSDT",
            side=OrderTestSideEnum.BUY,
            type=OrderTestTypeEnum.MARKET,
            quantity=0.001,
        ),
    )
    call("get_order", lambda: rest.get_order(symbol="BTCUSDT", order_id=limit["orderId"]))
    call("open_orders", lambda: rest.get_open_orders(symbol="BTCUSDT"))
    call("all_orders", lambda: rest.all_orders(symbol="BTCUSDT"))
    call("cancel", lambda: rest.delete_order(symbol="BTCUSDT", order_id=limit["orderId"]))

    ws_url = url.replace("http", "ws", 1) + "/ws-api/v3"
    client = Spot(
        config_ws_api=ConfigurationWebSocketAPI(api_key=key, api_secret=secret, stream_url=ws_url)
    )
    connection = await client.websocket_api.create_connection()
    events: asyncio.Queue[Any] = asyncio.Queue()
    try:
        subscribed = await connection.user_data_stream_subscribe_signature()
        out["ws_subscribe"] = dump(subscribed.response.data())
        subscribed.stream.on("message", lambda data: events.put_nowait(dump(data)))
        await asyncio.to_thread(
            lambda: rest.new_order(
                symbol="BTCUSDT",
                side=NewOrderSideEnum.BUY,
                type=NewOrderTypeEnum.LIMIT,
                time_in_force=NewOrderTimeInForceEnum.GTC,
                quantity=0.001,
                price=88000.0,
                new_client_order_id="sdk-ws-1",
            )
        )
        out["ws_event"] = await asyncio.wait_for(events.get(), 30)
    finally:
        await connection.close_connection(close_session=True)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
