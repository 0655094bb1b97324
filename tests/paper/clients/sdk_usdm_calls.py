"""Calls Binance's official USD-M SDK (``binance-sdk-derivatives-trading-usds-futures``) makes.

Run in its own environment: ``python sdk_usdm_calls.py <url> <api_key> <api_secret>``; prints
every answer raw, as the SDK received it (after checking that it parses it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import requests
from binance_common.configuration import ConfigurationRestAPI
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
    DerivativesTradingUsdsFutures,
)
from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
    NewAlgoOrderAlgoTypeEnum,
    NewAlgoOrderReduceOnlyEnum,
    NewAlgoOrderSideEnum,
    NewAlgoOrderTypeEnum,
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
    PlaceMultipleOrdersBatchOrdersParameterInner,
    TestOrderSideEnum,
    TestOrderTypeEnum,
)

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
    if hasattr(value, "actual_instance"):  # oneOf wrappers
        return dump(value.actual_instance)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def main(url: str, key: str, secret: str) -> None:
    out: dict[str, Any] = {}
    rest = DerivativesTradingUsdsFutures(
        config_rest_api=ConfigurationRestAPI(api_key=key, api_secret=secret, base_path=url)
    ).rest_api

    def call(name: str, fn: Any) -> Any:
        try:
            fn().data()  # the SDK must be able to parse it
            out[name] = _LAST[0].json()
        except Exception as exc:  # record the library's error instead of stopping
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return out[name]

    call("time", rest.check_server_time)
    call("account_v3", rest.account_information_v3)
    call("leverage", lambda: rest.change_initial_leverage(symbol="BTCUSDT", leverage=5))
    limit = call(
        "limit",
        lambda: rest.new_order(
            symbol="BTCUSDT",
            side=NewOrderSideEnum.BUY,
            type=NewOrderTypeEnum.LIMIT,
            time_in_force=NewOrderTimeInForceEnum.GTC,
            quantity=0.002,
            price=88000.0,
        ),
    )
    call(
        "test_order",
        lambda: rest.test_order(
            symbol="BTCUSDT",
            side=TestOrderSideEnum.BUY,
            type=TestOrderTypeEnum.MARKET,
            quantity=0.002,
        ),
    )
    call("query", lambda: rest.query_order(symbol="BTCUSDT", order_id=limit["orderId"]))
    call(
        "open_order",
        lambda: rest.query_current_open_order(symbol="BTCUSDT", order_id=limit["orderId"]),
    )
    call("open_orders", lambda: rest.current_all_open_orders(symbol="BTCUSDT"))
    batch = call(
        "batch",
        lambda: rest.place_multiple_orders(
            batch_orders=[
                PlaceMultipleOrdersBatchOrdersParameterInner(
                    symbol="BTCUSDT",
                    side="BUY",
                    type="LIMIT",
                    timeInForce="GTC",
                    quantity=0.002,
                    price=float(p),
                )
                for p in (87000, 86000)
            ]
        ),
    )
    ids = [o["orderId"] for o in batch if isinstance(o, dict) and "orderId" in o]
    call("batch_cancel", lambda: rest.cancel_multiple_orders(symbol="BTCUSDT", order_id_list=ids))
    call(
        "market",
        lambda: rest.new_order(
            symbol="BTCUSDT",
            side=NewOrderSideEnum.BUY,
            type=NewOrderTypeEnum.MARKET,
            quantity=0.004,
        ),
    )
    algo = call(
        "algo_new",
        lambda: rest.new_algo_order(
            algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL,
            symbol="BTCUSDT",
            side=NewAlgoOrderSideEnum.SELL,
            type=NewAlgoOrderTypeEnum.STOP_MARKET,
            quantity=0.002,
            trigger_price=89000.0,
            reduce_only=NewAlgoOrderReduceOnlyEnum.TRUE,
            client_algo_id="sdk-sl-1",
        ),
    )
    call("algo_query", lambda: rest.query_algo_order(algo_id=algo["algoId"]))
    call("algo_open", lambda: rest.current_all_algo_open_orders(symbol="BTCUSDT"))
    call("algo_all", lambda: rest.query_all_algo_orders(symbol="BTCUSDT"))
    call("algo_cancel", lambda: rest.cancel_algo_order(client_algo_id="sdk-sl-1"))
    call("algo_cancel_all", lambda: rest.cancel_all_algo_open_orders(symbol="BTCUSDT"))
    call("positions_v3", lambda: rest.position_information_v3(symbol="BTCUSDT"))
    call("cancel", lambda: rest.cancel_order(symbol="BTCUSDT", order_id=limit["orderId"]))
    call("cancel_all", lambda: rest.cancel_all_open_orders(symbol="BTCUSDT"))
    call("listen_key", rest.start_user_data_stream)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:4])
