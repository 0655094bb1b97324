"""prepare(): sizing, every invalid-row case with its message, exact wire decimals, Order fields."""
# ruff: noqa: E501  (expected error messages stay whole, as the user reads them)

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from toolkit.core._frame import orders_to_frame
from toolkit.core._models import Market, OrderStatus, OrderType, Side, TimeInForce
from toolkit.core._validation import Prepared, to_wire, wire_decimal

ORIGIN = {
    "symbol": "BTC/USDT",
    "order_type": "LIMIT",
    "side": "buy",
    "price": "90000",
    "qty_per": 5,
}


def only(prepared: list[Prepared]) -> Prepared:
    assert len(prepared) == 1
    return prepared[0]


def error_of(
    kit: SimpleNamespace, row: dict[str, Any], market: Market = Market.SPOT, **kw: Any
) -> str:
    p = only(kit.run([row], market, **kw))
    assert p.request is None, f"expected INVALID, got {p.request}"
    assert p.order.status is OrderStatus.INVALID
    assert p.order.error_msg
    return p.order.error_msg


def valid(
    kit: SimpleNamespace, row: dict[str, Any], market: Market = Market.SPOT, **kw: Any
) -> Prepared:
    p = only(kit.run([row], market, **kw))
    assert p.request is not None, p.order.error_msg
    assert p.order.status is OrderStatus.PENDING
    assert p.order.error_msg is None
    return p


BUY = {"symbol": "BTCUSDT", "side": "buy"}

# (row, expected part of error_msg) -- spot session, BTCUSDT at 90000, 100000 USDT / 2 BTC free.
SPOT_INVALID: list[tuple[dict[str, Any], str]] = [
    (
        {"symbol": "BTCUSD", "side": "buy", "qty": 1},
        "unknown symbol 'BTCUSD' on spot; did you mean BTCUSDT or ETHUSDT?",
    ),
    ({"symbol": "XYZ", "side": "buy", "qty": 1}, "unknown symbol 'XYZ' on spot"),
    (
        {"symbol": "HALTUSDT", "side": "buy", "qty": 1},
        "symbol HALTUSDT is not trading (status HALT)",
    ),
    (
        {**BUY, "type": "stop_market", "qty": 1, "stop_price": 1},
        "type stop_market is not supported on spot; use one of limit, limit_maker, market",
    ),
    (
        {"symbol": "LIMUSDT", "side": "buy", "qty": 1},
        "type market is not allowed for LIMUSDT; allowed: limit",
    ),
    ({**BUY, "qty": float("inf")}, "qty inf is not a finite number"),
    ({**BUY, "qty": float("nan")}, "missing quantity: give one of qty, quote_qty or qty_pct"),
    ({**BUY}, "missing quantity: give one of qty, quote_qty or qty_pct"),
    ({**BUY, "qty": -1}, "qty must be positive, got -1"),
    ({**BUY, "qty": 0}, "qty must be positive, got 0"),
    ({**BUY, "qty": 1, "price": 0}, "price must be positive, got 0"),
    ({**BUY, "quote_qty": "-5"}, "quote_qty must be positive, got -5"),
    ({**BUY, "qty_pct": 150}, "qty_pct is a percent of the free balance (0 to 100), got 150"),
    (
        {**BUY, "qty": 1, "qty_pct": 5},
        "give exactly one of qty, quote_qty or qty_pct (this row has qty and qty_pct)",
    ),
    ({**BUY, "type": "limit", "qty": 1}, "type limit needs a price"),
    ({**BUY, "type": "limit_maker", "qty": 1}, "type limit_maker needs a price"),
    (
        {**BUY, "type": "stop_loss_limit", "qty": 1, "price": 90000},
        "type stop_loss_limit needs a stop_price",
    ),
    (
        {**BUY, "type": "market", "qty": 1, "price": 90000},
        "type market takes no price (got 90000); leave price empty or use a limit type",
    ),
    (
        {**BUY, "qty": 1, "price": 90000, "stop_price": 89000},
        "type limit takes no stop_price (got 89000)",
    ),
    (
        {**BUY, "qty": 0.001, "price": "90000.005"},
        "price 90000.005 is not a multiple of tick size 0.01; nearest valid prices: 90000.00 or 90000.01",
    ),
    (
        {**BUY, "type": "stop_loss_limit", "qty": 0.001, "price": 90000, "stop_price": "89999.999"},
        "stop_price 89999.999 is not a multiple of tick size 0.01; nearest valid prices: 89999.99 or 90000.00",
    ),
    (
        {**BUY, "qty": 1, "price": "0.001"},
        "price 0.001 is below the minimum price 0.01 for BTCUSDT",
    ),
    (
        {**BUY, "qty": 1, "price": "1000000.01"},
        "price 1000000.01 is above the maximum price 1000000 for BTCUSDT",
    ),
    (
        {**BUY, "qty": "0.000015", "price": 90000},
        "qty 0.000015 is not a multiple of step size 0.00001 (LOT_SIZE); nearest valid quantities: 0.00001 or 0.00002",
    ),
    (
        {"symbol": "ETHUSDT", "side": "buy", "qty": "0.0005", "price": 3000},
        "qty 0.0005 is below the minimum quantity 0.001 for ETHUSDT (LOT_SIZE)",
    ),
    (
        {**BUY, "qty": 9001, "price": 90000},
        "qty 9001 is above the maximum quantity 9000 for BTCUSDT (LOT_SIZE)",
    ),
    (
        {**BUY, "qty": 98},
        "qty 98 is above the maximum quantity 97.9283642 for BTCUSDT (MARKET_LOT_SIZE)",
    ),
    (
        {**BUY, "qty": "0.00005", "price": 90000},
        "notional 4.5 USDT (qty 0.00005 × price 90000) is below the minimum 5 USDT for BTCUSDT; at price 90000 that is qty 0.00006 or more",
    ),
    (
        {**BUY, "qty": "0.00001"},
        "notional 0.9 USDT (qty 0.00001 × price 90000) is below the minimum 5 USDT for BTCUSDT",
    ),
    (
        {**BUY, "type": "market", "quote_qty": "4.99"},
        "notional 4.99 USDT (quote_qty 4.99) is below the minimum 5 USDT",
    ),
    (
        {**BUY, "qty": 0.001, "price": 500000},
        "price 500000 is outside the allowed range for a buy on BTCUSDT: 18000 to 450000 (percent-price filter around the reference price 90000)",
    ),
    (
        {"symbol": "BTCUSDT", "side": "sell", "qty": 0.001, "price": 17000},
        "price 17000 is outside the allowed range for a sell on BTCUSDT: 18000 to 450000",
    ),
    (
        {**BUY, "qty": 0.001, "reduce_only": True},
        "reduce_only is for usdm futures; spot has no positions to reduce",
    ),
    (
        {**BUY, "qty": 0.001, "client_order_id": "a.b"},
        "client_order_id 'a.b' is not valid on spot: use 1 to 36 characters from A-Z a-z 0-9 _ -",
    ),
    ({**BUY, "qty": 0.001, "client_order_id": "x" * 37}, "is not valid on spot"),
    ({**BUY, "qty": 0.001, "client_order_id": "has space"}, "is not valid on spot"),
    (
        {**BUY, "qty": 0.001, "market": "usdm"},
        "row market 'usdm' differs from the session market 'spot'; use a session connected with market='usdm'",
    ),
    (
        {"symbol": "BTC/USDT:USDT", "side": "buy", "qty": 0.001},
        "symbol BTCUSDT was written as a USD-M futures symbol (ccxt style) but the session market is 'spot'",
    ),
    (
        {**BUY, "qty": 0.001, "price": 90000, "tif": "GTX"},
        "time_in_force GTX is not available on spot; use one of GTC, IOC, FOK (for post-only on spot use type limit_maker)",
    ),
    ({**BUY, "qty": 0.001, "price": 90000, "tif": "GTD"}, "GTD needs an expiry time"),
    (
        {"symbol": "BTCUSDT", "side": "long", "qty": 0.001},
        "side 'long' is not buy or sell (long/short name position sides; use buy or sell)",
    ),
    ({"symbol": "BTCUSDT", "qty": 0.001}, "missing side: give buy or sell"),
    ({**BUY, "type": "foo", "qty": 0.001}, "type 'foo' is not an order type"),
    ({**BUY, "qty": "abc"}, "qty 'abc' is not a number"),
    ({**BUY, "qty": True}, "qty True is a boolean, not a number"),
    ({**BUY, "qty_pct": 5, "price": 90000, "_note": 1}, "unknown column '_note'; known columns:"),
    (
        {"symbol": "ETHUSDT", "side": "buy", "qty_pct": "0.001", "price": 3000},
        "qty 0.0003 (from qty_pct 0.001% of free USDT 100000 at price 3000) is below the minimum quantity 0.001 for ETHUSDT (LOT_SIZE)",
    ),
    (
        {"symbol": "ETHUSDT", "side": "buy", "qty_pct": "0.0001", "price": 3000},
        "qty_pct 0.0001% of free USDT 100000 at price 3000 is qty 0.000033333333, which rounds down to 0 at step size 0.0001",
    ),
    (
        {**BUY, "type": "limit", "quote_qty": 0.5, "price": 90000},
        "quote_qty 0.5 at price 90000 is qty 0.00000555555",
    ),
    (
        {**BUY, "qty": "100.1", "price": 90000},
        "notional 9009000 USDT (qty 100.1 × price 90000) is above the maximum 9000000 USDT for BTCUSDT",
    ),
]


@pytest.mark.parametrize(("row", "expected"), SPOT_INVALID)
def test_spot_invalid_rows(kit: SimpleNamespace, row: dict[str, Any], expected: str) -> None:
    message = error_of(kit, row)
    assert expected in message


def test_spot_invalid_row_with_reason_pointing_at_balance(kit: SimpleNamespace) -> None:
    msg = error_of(kit, {**BUY, "qty_pct": 5, "price": 90000}, balances={})
    assert msg == "qty_pct 5% of the free USDT balance is nothing: no free USDT"


def test_quote_qty_market_needs_a_price_on_usdm(kit: SimpleNamespace) -> None:
    msg = error_of(kit, {**BUY, "quote_qty": 500}, Market.USDM, prices={})
    assert msg == "quote_qty needs a price to compute the quantity; no price known for BTCUSDT"


def test_several_problems_are_all_reported(kit: SimpleNamespace) -> None:
    msg = error_of(kit, {"symbol": "BTCUSDT", "side": "up", "qty": "x", "reduce_only": True})
    assert "side 'up' is not buy or sell" in msg
    assert "qty 'x' is not a number" in msg
    assert "reduce_only is for usdm futures" in msg
    assert "missing side" not in msg  # it was given, just unreadable


# (row, expected part of error_msg) -- usdm session, BTCUSDT mark 50000, notional min 100.
USDM_INVALID: list[tuple[dict[str, Any], str]] = [
    (
        {**BUY, "type": "trailing_stop_market", "qty": 1, "stop_price": 49000},
        "type trailing_stop_market is not supported on usdm (trailing stops are not)",
    ),
    ({**BUY, "type": "stop_market", "qty": 1}, "type stop_market needs a stop_price"),
    (
        {**BUY, "type": "limit_maker", "qty": 1, "price": 1},
        "type limit_maker is not supported on usdm; use one of limit, market, stop, stop_market, "
        "take_profit, take_profit_market",
    ),
    (
        {**BUY, "qty": "0.001", "price": 50000},
        "notional 50 USDT (qty 0.001 × price 50000) is below the minimum 100 USDT for BTCUSDT; at price 50000 that is qty 0.002 or more",
    ),
    (
        {**BUY, "qty": "0.001"},
        "notional 50 USDT (qty 0.001 × price 50000) is below the minimum 100 USDT",
    ),
    (
        {**BUY, "qty": "0.0015", "price": 50000},
        "qty 0.0015 is not a multiple of step size 0.001 (LOT_SIZE); nearest valid quantities: 0.001 or 0.002",
    ),
    (
        {**BUY, "qty": 121},
        "qty 121 is above the maximum quantity 120 for BTCUSDT (MARKET_LOT_SIZE)",
    ),
    (
        {**BUY, "qty": 1, "price": "50000.05"},
        "price 50000.05 is not a multiple of tick size 0.1; nearest valid prices: 50000.0 or 50000.1",
    ),
    ({**BUY, "qty": 1, "price": "556.7"}, "price 556.7 is below the minimum price 556.8"),
    (
        {**BUY, "qty": 1, "price": 52600},
        "price 52600 is outside the allowed range for a buy on BTCUSDT: 0 to 52500",
    ),
    (
        {"symbol": "BTCUSDT", "side": "sell", "qty": 1, "price": 47400},
        "price 47400 is outside the allowed range for a sell on BTCUSDT: 47500 to any",
    ),
    (
        {"symbol": "ODDUSDT", "side": "buy", "qty": 10, "price": "1.5"},
        "price 1.5 is not a multiple of tick size 0.01; nearest valid prices: 1.495 or 1.505",
    ),
    (
        {**BUY, "qty": 1, "price": 50000, "tif": "GTD"},
        "time_in_force GTD is not available on usdm; use one of GTC, IOC, FOK, GTX",
    ),
    (
        {**BUY, "qty": 1, "client_order_id": "bad id!"},
        "client_order_id 'bad id!' is not valid on usdm: use 1 to 36 characters from A-Z a-z 0-9 _ - . : /",
    ),
    (
        {**BUY, "qty": 1, "market": "spot"},
        "row market 'spot' differs from the session market 'usdm'",
    ),
    (
        {"symbol": "BTC/USDT", "side": "buy", "qty": 1},
        "symbol BTCUSDT was written as a spot symbol (ccxt style) but the session market is 'usdm'",
    ),
    (
        {**BUY, "qty_pct": 5},
        "qty_pct needs a price to compute the quantity; no price known for BTCUSDT",
    ),
]


@pytest.mark.parametrize(("row", "expected"), USDM_INVALID)
def test_usdm_invalid_rows(kit: SimpleNamespace, row: dict[str, Any], expected: str) -> None:
    prices: dict[str, Decimal] | None = {} if "qty_pct" in row else None
    assert expected in error_of(kit, row, Market.USDM, prices=prices)


def test_duplicate_client_order_ids_make_every_sharing_row_invalid(kit: SimpleNamespace) -> None:
    rows = [
        {**BUY, "qty": 0.001, "client_order_id": "same"},
        {**BUY, "qty": 0.001, "client_order_id": "other"},
        {**BUY, "qty": 0.001, "client_order_id": "same"},
    ]
    a, b, c = kit.run(pd.DataFrame(rows, index=["x", "y", "z"]))
    assert b.request is not None
    assert b.order.client_order_id == "other"
    for p in (a, c):
        assert p.request is None
        assert p.order.error_msg == (
            "client_order_id 'same' is used by rows x, z; ids must be unique within a batch"
        )
        assert p.order.client_order_id.startswith("tk")  # unique in the store all the same
    assert a.order.client_order_id != c.order.client_order_id


def test_max_num_orders_caps_resting_orders_per_symbol(kit: SimpleNamespace) -> None:
    rows = [{"symbol": "FEWUSDT", "side": "buy", "qty": 1, "price": 10 + i} for i in range(3)]
    rows.append({"symbol": "FEWUSDT", "side": "buy", "qty": 1})  # market: never rests
    prepared = kit.run(rows, prices={"FEWUSDT": Decimal(10)})
    assert [p.valid for p in prepared] == [True, True, False, True]
    assert prepared[2].order.error_msg == (
        "the batch has 3 resting orders on FEWUSDT; the exchange holds at most 2 open orders "
        "per symbol (MAX_NUM_ORDERS)"
    )


# --------------------------------------------------------------------------- valid rows, sizing


def test_origin_webhook_payload_sizes_from_the_quote_balance(kit: SimpleNamespace) -> None:
    p = valid(kit, ORIGIN)
    req = p.request
    assert req is not None
    # 5% of 100000 USDT = 5000 USDT at 90000 = 0.0555555... BTC, floored to the 0.00001 step.
    assert req.qty == Decimal("0.05555")
    assert str(req.qty) == "0.05555"
    assert (req.symbol, req.side, req.type) == ("BTCUSDT", Side.BUY, OrderType.LIMIT)
    assert (req.price, str(req.price)) == (Decimal("90000"), "90000")
    assert req.time_in_force is TimeInForce.GTC
    assert req.quote_qty is None
    assert req.stop_price is None
    assert req.reduce_only is False
    assert req.market is Market.SPOT


@pytest.mark.parametrize(
    ("row", "market", "qty", "quote_qty"),
    [
        # spot sell spends the base asset: 5% of 2 BTC
        ({"symbol": "BTCUSDT", "side": "sell", "qty_pct": 5}, Market.SPOT, "0.1", None),
        # spot market buy by percent: 1% of 100000 USDT at the latest price 90000
        ({**BUY, "qty_pct": 1}, Market.SPOT, "0.01111", None),
        # spot market buy by quote amount goes out as quoteOrderQty
        ({**BUY, "quote_qty": 100}, Market.SPOT, None, "100"),
        ({**BUY, "type": "MARKET", "quote_qty": "100.50"}, Market.SPOT, None, "100.5"),
        # spot limit by quote amount: 100 / 90000 floored
        ({**BUY, "quote_qty": 100, "price": 90000}, Market.SPOT, "0.00111", None),
        # usdm: available margin x pct / price (1x), floored to 0.001
        ({**BUY, "qty_pct": 10, "price": 50000}, Market.USDM, "0.2", None),
        ({"symbol": "BTCUSDT", "side": "sell", "qty_pct": "0.3"}, Market.USDM, "0.006", None),
        # usdm market by quote amount uses the mark price
        ({**BUY, "quote_qty": 1000}, Market.USDM, "0.02", None),
        ({**BUY, "quote_qty": 1234, "price": 50000}, Market.USDM, "0.024", None),
    ],
)
def test_sizing(
    kit: SimpleNamespace,
    row: dict[str, Any],
    market: Market,
    qty: str | None,
    quote_qty: str | None,
) -> None:
    req = valid(kit, row, market).request
    assert req is not None
    assert (None if req.qty is None else str(req.qty)) == qty
    assert (None if req.quote_qty is None else str(req.quote_qty)) == quote_qty


def test_usdm_qty_pct_uses_the_margin_asset(kit: SimpleNamespace) -> None:
    row = {**BUY, "qty_pct": 10, "price": 50000}
    req = valid(kit, row, Market.USDM, balances={"USDT": Decimal(1000), "BTC": Decimal(5)}).request
    assert req is not None
    assert req.qty == Decimal("0.002")


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0.1, "0.1"),
        ("0.10000000", "0.1"),
        (Decimal("1E+1"), "10"),
        ("1e1", "10"),
        (np.float64(0.3), "0.3"),
        (np.float32(0.7), "0.7"),
        (1, "1"),
        ("2.00", "2"),
    ],
)
def test_exact_decimal_strings_on_the_wire(kit: SimpleNamespace, value: Any, wire: str) -> None:
    req = valid(kit, {"symbol": "ETHUSDT", "side": "sell", "qty": value}).request
    assert req is not None
    assert req.qty is not None
    assert str(req.qty) == wire
    assert to_wire(req.qty) == wire


def test_price_in_exponent_form_goes_out_plain(kit: SimpleNamespace) -> None:
    req = valid(kit, {**BUY, "qty": "0.001", "price": Decimal("9E+4")}).request
    assert req is not None
    assert str(req.price) == "90000"
    assert wire_decimal(Decimal("1E+1")) == Decimal("10")
    assert to_wire(Decimal("1E-8")) == "0.00000001"


@pytest.mark.parametrize(
    ("row", "market", "tif"),
    [
        ({**BUY, "qty": 0.001, "price": 90000}, Market.SPOT, TimeInForce.GTC),
        ({**BUY, "qty": 0.001, "price": 90000, "tif": "ioc"}, Market.SPOT, TimeInForce.IOC),
        ({**BUY, "qty": 0.001, "tif": "GTC"}, Market.SPOT, None),  # market: dropped
        (
            {**BUY, "type": "limit_maker", "qty": 0.001, "price": 90000, "tif": "GTC"},
            Market.SPOT,
            None,
        ),
        (
            {**BUY, "type": "stop_loss_limit", "qty": 0.001, "price": 90000, "stop_price": 91000},
            Market.SPOT,
            TimeInForce.GTC,
        ),
        ({**BUY, "qty": 0.01, "price": 50000, "tif": "gtx"}, Market.USDM, TimeInForce.GTX),
        ({**BUY, "qty": 0.01, "price": 50000}, Market.USDM, TimeInForce.GTC),
    ],
)
def test_time_in_force_defaults(
    kit: SimpleNamespace, row: dict[str, Any], market: Market, tif: TimeInForce | None
) -> None:
    p = valid(kit, row, market)
    assert p.request is not None
    assert p.request.time_in_force is tif
    assert p.order.time_in_force == (tif.value if tif else None)


def test_usdm_reduce_only_is_sent_and_exempt_from_min_notional(kit: SimpleNamespace) -> None:
    row = {"symbol": "BTCUSDT", "side": "sell", "qty": "0.001", "reduce_only": True}
    req = valid(kit, row, Market.USDM).request
    assert req is not None
    assert req.reduce_only is True
    assert error_of(kit, {**row, "reduce_only": False}, Market.USDM).startswith("notional 50 USDT")


def test_usdm_tick_counts_from_min_price(kit: SimpleNamespace) -> None:
    # ODDUSDT: minPrice 0.005, tick 0.01 -> valid prices are 0.005, 0.015, ... (futures rule)
    req = valid(kit, {"symbol": "ODDUSDT", "side": "buy", "qty": 10, "price": "1.505"}, Market.USDM)
    assert req.request is not None
    assert req.request.price == Decimal("1.505")


def test_usdm_client_order_id_may_use_dots_colons_slashes(kit: SimpleNamespace) -> None:
    p = valid(kit, {**BUY, "qty": 1, "client_order_id": "strat.v2:btc/1"}, Market.USDM)
    assert p.request is not None
    assert p.request.client_order_id == "strat.v2:btc/1"
    assert p.order.client_order_id == "strat.v2:btc/1"


def test_market_order_without_a_known_price_is_left_to_the_exchange(kit: SimpleNamespace) -> None:
    p = valid(kit, {**BUY, "qty": "0.00001"}, prices={})
    assert p.request is not None


def test_order_fields_of_valid_and_invalid_rows(kit: SimpleNamespace) -> None:
    rows = pd.DataFrame(
        [
            {"symbol": "BTC/USDT", "side": "Buy", "qty": 0.001, "price": 90000},
            {"symbol": "BTCUSDT", "side": "sell", "qty": -1, "price": None},
        ],
        index=pd.Index([10, 20], name="row"),
    )
    ok, bad = kit.run(rows, key="k1")
    o = ok.order
    assert (ok.position, bad.position) == (0, 1)
    assert o.status is OrderStatus.PENDING
    assert (o.exchange, o.market, o.symbol, o.side, o.type) == (
        "paper",
        "spot",
        "BTCUSDT",
        "buy",
        "limit",
    )
    assert (o.price, o.qty, o.stop_price, o.time_in_force, o.reduce_only) == (
        90000.0,
        0.001,
        None,
        "GTC",
        False,
    )
    assert (o.batch_id, o.key, o.created_at, o.updated_at, o.position) == (
        "batch-1",
        "k1",
        kit.NOW,
        kit.NOW,
        0,
    )
    assert ok.request is not None
    assert o.client_order_id == ok.request.client_order_id
    b = bad.order
    assert b.status is OrderStatus.INVALID
    assert (b.symbol, b.side, b.type, b.qty, b.price, b.position) == (
        "BTCUSDT",
        "sell",
        "market",
        -1.0,
        None,
        1,
    )
    assert b.error_msg == "qty must be positive, got -1"
    # The orders make a proper order frame with the caller's index.
    frame = orders_to_frame([p.order for p in (ok, bad)], index=rows.index)
    assert list(frame.index) == [10, 20]
    assert list(frame["status"]) == ["PENDING", "INVALID"]


def test_one_prepared_per_row_in_order(kit: SimpleNamespace) -> None:
    rows = [{**BUY, "qty": 0.001}, {"symbol": "NOPE"}, {**BUY, "qty": 0.002}]
    prepared = kit.run(rows)
    assert [p.position for p in prepared] == [0, 1, 2]
    assert [p.valid for p in prepared] == [True, False, True]


def test_empty_input_prepares_nothing(kit: SimpleNamespace) -> None:
    assert kit.run([]) == []
    assert kit.run(pd.DataFrame()) == []


# --------------------------------------------------------------------------- all_or_nothing


def test_all_or_nothing(kit: SimpleNamespace) -> None:
    rows = pd.DataFrame(
        [{**BUY, "qty": 0.001}, {**BUY, "qty": -1}, {**BUY, "qty": 0.002}, {"symbol": "NOPE"}],
        index=["a", "b", "c", "d"],
    )
    prepared = kit.run(rows, all_or_nothing=True)
    assert all(p.request is None for p in prepared)
    assert all(p.order.status is OrderStatus.INVALID for p in prepared)
    assert prepared[0].order.error_msg == "not sent: all_or_nothing and rows b, d invalid"
    assert prepared[2].order.error_msg == "not sent: all_or_nothing and rows b, d invalid"
    assert prepared[1].order.error_msg == "qty must be positive, got -1"
    assert prepared[0].order.qty == 0.001  # the row itself is intact

    one_bad = kit.run([{**BUY, "qty": 0.001}, {**BUY, "qty": -1}], all_or_nothing=True)
    assert one_bad[0].order.error_msg == "not sent: all_or_nothing and row 1 invalid"

    all_good = kit.run([{**BUY, "qty": 0.001}, {**BUY, "qty": 0.002}], all_or_nothing=True)
    assert all(p.valid for p in all_good)
