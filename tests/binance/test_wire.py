"""The Binance JSON mapping: parse_order for every answer shape, and request parameters."""

from __future__ import annotations

import pickle
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from toolkit.binance._wire import (
    ORDER_FIELDS,
    element_error,
    order_from_request,
    order_params,
    parse_order,
)
from toolkit.core._models import Market, Order, OrderStatus, OrderType, Outcome, Side, TimeInForce

from .conftest import req

SPOT_RESULT = {
    "symbol": "BTCUSDT",
    "orderId": 28,
    "orderListId": -1,
    "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP",
    "transactTime": 1507725176595,
    "price": "0.00000000",
    "origQty": "10.00000000",
    "executedQty": "10.00000000",
    "origQuoteOrderQty": "0.000000",
    "cummulativeQuoteQty": "10.00000000",
    "status": "FILLED",
    "timeInForce": "GTC",
    "type": "MARKET",
    "side": "SELL",
    "workingTime": 1507725176595,
    "selfTradePreventionMode": "NONE",
}

FUTURES_ORDER = {
    "clientOrderId": "testOrder",
    "cumQty": "0.010",
    "cumQuote": "500.50000",
    "executedQty": "0.010",
    "orderId": 22542179,
    "avgPrice": "50050.00",
    "origQty": "0.020",
    "price": "50050.00",
    "reduceOnly": True,
    "side": "BUY",
    "positionSide": "BOTH",
    "status": "PARTIALLY_FILLED",
    "stopPrice": "0.00",
    "closePosition": False,
    "symbol": "BTCUSDT",
    "timeInForce": "GTX",
    "type": "LIMIT",
    "origType": "LIMIT",
    "updateTime": 1566818724722,
    "workingType": "CONTRACT_PRICE",
    "priceProtect": False,
}


def test_spot_result_answer() -> None:
    order = parse_order(SPOT_RESULT, market=Market.SPOT, exchange="binance")
    assert order.client_order_id == "6gCrw2kRUAF9CvJDGP16IP"
    assert order.order_id == "28"  # ids are strings, always under order_id
    assert order.exchange == "binance"
    assert order.market == "spot"
    assert (order.side, order.type, order.time_in_force) == ("sell", "market", "GTC")
    assert order.status is OrderStatus.FILLED
    assert order.price is None  # "0.00000000" means no price
    assert order.qty == 10.0
    assert order.filled_qty == 10.0
    assert order.avg_price == 1.0  # cummulativeQuoteQty / executedQty
    assert order.reduce_only is None
    assert order.created_at == pd.Timestamp(1507725176595, unit="ms", tz="UTC")
    assert order.updated_at == order.created_at
    assert order.raw == SPOT_RESULT


def test_futures_order_answer() -> None:
    order = parse_order(FUTURES_ORDER, market=Market.USDM, exchange="paper")
    assert order.order_id == "22542179"
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.avg_price == 50050.0
    assert order.price == 50050.0
    assert order.stop_price is None
    assert order.qty == 0.02
    assert order.filled_qty == 0.01
    assert order.reduce_only is True
    assert order.time_in_force == "GTX"
    assert order.updated_at == pd.Timestamp(1566818724722, unit="ms", tz="UTC")


def test_futures_avg_price_falls_back_to_cum_quote() -> None:
    payload = dict(FUTURES_ORDER, avgPrice="0.00000")
    order = parse_order(payload, market=Market.USDM, exchange="paper")
    assert order.avg_price == pytest.approx(50050.0)


def test_spot_query_answer_uses_time_and_update_time() -> None:
    payload = dict(SPOT_RESULT, time=1000, updateTime=2000, status="NEW", executedQty="0")
    del payload["transactTime"]
    order = parse_order(payload, market=Market.SPOT, exchange="binance")
    assert order.created_at == pd.Timestamp(1000, unit="ms", tz="UTC")
    assert order.updated_at == pd.Timestamp(2000, unit="ms", tz="UTC")
    assert order.avg_price is None  # nothing filled


def test_spot_cancel_answer_keeps_the_original_client_order_id() -> None:
    payload = dict(SPOT_RESULT, origClientOrderId="mine-1", clientOrderId="cancel-xyz")
    payload["status"] = "CANCELED"
    order = parse_order(payload, market=Market.SPOT, exchange="binance")
    assert order.client_order_id == "mine-1"
    assert order.status is OrderStatus.CANCELED


@pytest.mark.parametrize(
    ("wire", "filled", "ours"),
    [
        ("NEW", "0", OrderStatus.NEW),
        ("PENDING_NEW", "0", OrderStatus.NEW),
        ("PARTIALLY_FILLED", "1", OrderStatus.PARTIALLY_FILLED),
        ("FILLED", "10", OrderStatus.FILLED),
        ("CANCELED", "0", OrderStatus.CANCELED),
        ("REJECTED", "0", OrderStatus.REJECTED),
        ("EXPIRED", "0", OrderStatus.EXPIRED),
        ("EXPIRED_IN_MATCH", "0", OrderStatus.EXPIRED),
        ("PENDING_CANCEL", "0", OrderStatus.NEW),
        ("PENDING_CANCEL", "1", OrderStatus.PARTIALLY_FILLED),
        ("SOMETHING_NEW", "0", OrderStatus.PENDING),
    ],
)
def test_status_mapping(wire: str, filled: str, ours: OrderStatus) -> None:
    payload = dict(SPOT_RESULT, status=wire, executedQty=filled)
    assert parse_order(payload, market=Market.SPOT, exchange="x").status is ours


def test_short_answer_is_completed_from_the_request() -> None:
    ack = {"symbol": "BTCUSDT", "orderId": 3, "clientOrderId": "c1", "transactTime": 5}
    request = req(1, Market.SPOT)
    order = parse_order(ack, market=Market.SPOT, exchange="x", request=request)
    assert order.status is OrderStatus.PENDING  # no status in an ACK: still to be resolved
    assert (order.side, order.type, order.price, order.qty) == ("buy", "limit", 50000.1, 0.01)


def test_payload_without_ids_is_refused() -> None:
    with pytest.raises(ValueError, match="clientOrderId"):
        parse_order({"orderId": 1}, market=Market.SPOT, exchange="x")


def test_no_raw_binance_key_escapes_the_table() -> None:
    order = parse_order(FUTURES_ORDER, market=Market.USDM, exchange="paper")
    assert set(ORDER_FIELDS) <= set(order.__dataclass_fields__)
    assert not hasattr(order, "id")


def test_order_params_spot_limit() -> None:
    params = order_params(req(7, Market.SPOT, reduce_only=True))
    assert params == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": "50000.10",
        "newClientOrderId": "c7",
        "newOrderRespType": "RESULT",
    }  # reduceOnly never goes to spot


def test_order_params_usdm_reduce_only_and_market_quote() -> None:
    params = order_params(
        req(
            8,
            Market.USDM,
            side=Side.SELL,
            type=OrderType.STOP_MARKET,
            price=None,
            time_in_force=None,
            stop_price=Decimal("4.2E+4"),
            reduce_only=True,
        )
    )
    assert params == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "quantity": "0.010",
        "stopPrice": "42000",
        "reduceOnly": "true",
        "newClientOrderId": "c8",
        "newOrderRespType": "RESULT",
    }
    spot_market = order_params(
        req(9, Market.SPOT, type=OrderType.MARKET, qty=None, price=None, time_in_force=None,
            quote_qty=Decimal("100.5"))
    )  # fmt: skip
    assert spot_market["quoteOrderQty"] == "100.5"
    assert "quantity" not in spot_market
    assert all(isinstance(v, str) for v in spot_market.values())


def test_order_from_request_for_rejected_and_pending_rows() -> None:
    request = req(3, Market.USDM, time_in_force=TimeInForce.IOC)
    rejected = order_from_request(
        request,
        exchange="paper",
        status=OrderStatus.REJECTED,
        error_code=-2019,
        error_msg="Margin is insufficient.",
    )
    assert rejected.client_order_id == "c3"
    assert rejected.market == "usdm"
    assert rejected.time_in_force == "IOC"
    assert rejected.reduce_only is False
    assert (rejected.error_code, rejected.error_msg) == (-2019, "Margin is insufficient.")
    assert rejected.order_id is None
    assert order_from_request(request, exchange="paper").status is OrderStatus.PENDING


def test_element_error() -> None:
    assert element_error({"code": -2022, "msg": "ReduceOnly Order is rejected."}) == (
        -2022,
        "ReduceOnly Order is rejected.",
    )
    assert element_error(FUTURES_ORDER) is None
    assert element_error({"code": 200, "msg": "ok"}) is None
    assert element_error("garbage") == (None, "unexpected batch element: garbage")


def test_side_type_and_market_are_the_request_enums_that_read_as_text() -> None:
    order = parse_order(SPOT_RESULT, market=Market.SPOT, exchange="binance")
    # text enums: they compare, hash, print and format as the text users saw before
    assert (order.side == "sell", order.type == "market", order.market == "spot") == (
        True, True, True,
    )  # fmt: skip
    assert order.side in {"sell"}  # hashes as its text
    assert (str(order.side), f"{order.type}", f"{order.market:>5}") == ("sell", "market", " spot")
    assert "market='spot', symbol='BTCUSDT', side='sell', type='market'" in repr(order)
    assert order.market is Market.SPOT
    assert order.side is Side.SELL
    assert order.type is OrderType.MARKET
    pending = order_from_request(req(1, Market.USDM), exchange="paper")
    assert (pending.market, pending.side, pending.type) == (Market.USDM, Side.BUY, OrderType.LIMIT)


def test_an_order_type_the_exchange_adds_later_stays_readable() -> None:
    order = parse_order(dict(SPOT_RESULT, type="NEW_KIND"), market=Market.SPOT, exchange="x")
    assert isinstance(order.type, OrderType)
    assert order.type == "new_kind"
    assert order.type is OrderType.from_exchange("new_kind")  # made once, then found
    assert "new_kind" not in [t.value for t in OrderType]  # not a member of the vocabulary
    with pytest.raises(ValueError, match="not a valid OrderType"):
        OrderType("new_kind")  # what a user may ask for: members only
    assert pickle.loads(pickle.dumps(order)) == order


def test_order_from_fields_is_the_dataclass_init_with_defaults() -> None:
    fields: dict[str, Any] = {"client_order_id": "c1", "exchange": "paper", "market": Market.SPOT,
              "symbol": "BTCUSDT", "side": Side.BUY, "qty": 1.0}  # fmt: skip
    built = Order.from_fields(fields)
    assert built == Order(**fields)
    assert repr(built) == repr(Order(**fields))
    assert (built.status, built.outcome, built.raw) == (OrderStatus.PENDING, Outcome.PLACED, None)
    with pytest.raises(TypeError, match=r"unknown \['colour'\], missing \[\]"):
        Order.from_fields({**fields, "colour": "red"})
    with pytest.raises(TypeError, match=r"missing \['symbol'\]"):
        Order.from_fields({k: v for k, v in fields.items() if k != "symbol"})
