"""read_orders: what input is accepted, how it is normalized, what raises InputError."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from toolkit.core._exceptions import InputError
from toolkit.core._input import read_orders, to_decimal
from toolkit.core._models import Market, OrderType, Side, TimeInForce

ORIGIN = {
    "symbol": "BTC/USDT",
    "order_type": "LIMIT",
    "side": "buy",
    "price": "90000",
    "qty_per": 5,
}


def one(**values: Any) -> Any:
    return read_orders([values])[0]


# --------------------------------------------------------------------------- unreadable input


@pytest.mark.parametrize(
    ("orders", "message"),
    [
        (42, "not int"),
        ("BTCUSDT", "not str"),
        (b"x", "not bytes"),
        (None, "not NoneType"),
        ({"symbol": "BTCUSDT", "side": "buy", "qty": 1}, "single dict"),
        ([1, 2], "item 0 is a int"),
        ([{"symbol": "BTCUSDT"}, "x"], "item 1 is a str"),
        (pd.Series([1, 2]), "not Series"),
        ([{"side": "buy", "qty": 1}], "no symbol column"),
        (pd.DataFrame({"side": ["buy"], "qty": [1]}), "no symbol column"),
    ],
)
def test_unreadable_input_raises_one_clear_input_error(orders: Any, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        read_orders(orders)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "orders",
    [
        [],
        (),
        pd.DataFrame(),
        pd.DataFrame({"symbol": pd.Series([], dtype=object)}),
        pd.DataFrame(columns=["side", "qty"]),
    ],
)
def test_empty_input_is_zero_rows(orders: Any) -> None:
    rows = read_orders(orders)
    assert len(rows) == 0
    assert list(rows) == []
    assert len(rows.index) == 0


# --------------------------------------------------------------------------- normalization


def test_origin_webhook_payload() -> None:
    row = read_orders([ORIGIN])[0]
    assert row.symbol == "BTCUSDT"
    assert row.symbol_market is Market.SPOT
    assert row.side is Side.BUY
    assert row.type is OrderType.LIMIT
    assert row.price == Decimal("90000")
    assert row.qty_pct == Decimal("5")
    assert row.qty is None
    assert row.problems == ()


@pytest.mark.parametrize(
    ("column", "field"),
    [
        ("qty", "qty"),
        ("quantity", "qty"),
        ("amount", "qty"),
        ("Qty", "qty"),
        ("quote_qty", "quote_qty"),
        ("quoteOrderQty", "quote_qty"),
        ("qty_pct", "qty_pct"),
        ("qty_per", "qty_pct"),
        ("qty-pct", "qty_pct"),
        ("price", "price"),
        ("stop_price", "stop_price"),
        ("trigger_price", "stop_price"),
        ("stopPrice", "stop_price"),
    ],
)
def test_numeric_column_aliases(column: str, field: str) -> None:
    row = read_orders([{"symbol": "BTCUSDT", column: "1.5"}])[0]
    assert getattr(row, field) == Decimal("1.5")
    assert row.problems == ()


@pytest.mark.parametrize(
    ("column", "value", "field", "expected"),
    [
        ("type", "LIMIT", "type", OrderType.LIMIT),
        ("order_type", "limit", "type", OrderType.LIMIT),
        ("Order Type", "Stop-Loss-Limit", "type", OrderType.STOP_LOSS_LIMIT),
        ("type", "limit maker", "type", OrderType.LIMIT_MAKER),
        ("type", "MARKET", "type", OrderType.MARKET),
        ("time_in_force", "ioc", "time_in_force", TimeInForce.IOC),
        ("tif", "Gtx", "time_in_force", TimeInForce.GTX),
        ("timeInForce", "FOK", "time_in_force", TimeInForce.FOK),
        ("reduce_only", True, "reduce_only", True),
        ("reduceOnly", "false", "reduce_only", False),
        ("reduce_only", np.bool_(True), "reduce_only", True),
        ("reduce_only", 0, "reduce_only", False),
        ("client_order_id", "my-id_1", "client_order_id", "my-id_1"),
        ("newClientOrderId", 1001, "client_order_id", "1001"),
        ("client_order_id", 1001.0, "client_order_id", "1001"),
        ("market", "USDM", "market", Market.USDM),
        ("side", "BUY", "side", Side.BUY),
        ("side", "Sell", "side", Side.SELL),
        ("side", " buy ", "side", Side.BUY),
    ],
)
def test_text_columns_and_aliases(column: str, value: Any, field: str, expected: Any) -> None:
    row = read_orders([{"symbol": "BTCUSDT", column: value}])[0]
    assert getattr(row, field) == expected
    assert row.problems == ()


@pytest.mark.parametrize(
    ("symbol", "expected", "implied"),
    [
        ("BTCUSDT", "BTCUSDT", None),
        (" btcusdt ", "BTCUSDT", None),
        ("BTC/USDT", "BTCUSDT", Market.SPOT),
        ("eth/usdt", "ETHUSDT", Market.SPOT),
        ("BTC/USDT:USDT", "BTCUSDT", Market.USDM),
        ("BTC/USDT:USDT-250328", "BTCUSDT_250328", Market.USDM),
        ("1000PEPE/USDT:USDT", "1000PEPEUSDT", Market.USDM),
    ],
)
def test_symbols(symbol: str, expected: str, implied: Market | None) -> None:
    row = one(symbol=symbol)
    assert (row.symbol, row.symbol_market, row.problems) == (expected, implied, ())


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"price": 1}, OrderType.LIMIT),
        ({"price": "90000", "qty": 1}, OrderType.LIMIT),
        ({"qty": 1}, OrderType.MARKET),
        ({"qty": 1, "price": None}, OrderType.MARKET),
        ({"qty": 1, "price": float("nan")}, OrderType.MARKET),
        ({"qty": 1, "price": ""}, OrderType.MARKET),
        ({"price": 1, "type": "market"}, OrderType.MARKET),
    ],
)
def test_default_type_comes_from_price(values: dict[str, Any], expected: OrderType) -> None:
    assert one(symbol="BTCUSDT", **values).type is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, Decimal("0.1")),
        (np.float64(0.1), Decimal("0.1")),
        (np.float32(0.1), Decimal("0.1")),
        (1e-7, Decimal("1E-7")),
        (3, Decimal("3")),
        (np.int64(3), Decimal("3")),
        ("0.10", Decimal("0.10")),
        (" 2.5 ", Decimal("2.5")),
        ("1e1", Decimal("10")),
        (Decimal("0.00001"), Decimal("0.00001")),
        (123456789.123456789, Decimal("123456789.12345679")),
    ],
)
def test_numbers_are_exact_decimals(value: Any, expected: Decimal) -> None:
    assert to_decimal(value) == expected
    row = one(symbol="BTCUSDT", qty=value)
    assert row.qty == expected
    assert row.problems == ()


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, pd.NA, pd.NaT, "", "  "])
def test_missing_values(value: Any) -> None:
    row = one(symbol="BTCUSDT", qty=value)
    assert row.qty is None
    assert row.problems == ()


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("qty", float("inf"), "qty inf is not a finite number"),
        ("qty", -np.inf, "qty -inf is not a finite number"),
        ("qty", "NaN", "qty 'NaN' is not a finite number"),
        ("qty", "Infinity", "is not a finite number"),
        ("price", "abc", "price 'abc' is not a number"),
        ("price", "1,000", "price '1,000' is not a number"),
        ("qty", True, "qty True is a boolean, not a number"),
        ("qty", [1], "is not a number"),
        ("qty", 1e31, "is too large"),
        ("qty", "1e-40", "more than 30 decimals"),
        ("qty", complex(1, 1), "(complex) is not a number"),
        ("side", "long", "side 'long' is not buy or sell (long/short name position sides"),
        ("side", 1, "side 1 is not text"),
        ("type", "foo", "type 'foo' is not an order type; known types: limit, market"),
        ("time_in_force", "day", "time_in_force 'day' is not one of GTC, IOC, FOK, GTX, GTD"),
        ("reduce_only", "maybe", "reduce_only 'maybe' is not true or false"),
        ("market", "coinm", "market 'coinm' is not spot or usdm"),
        ("client_order_id", 1.5, "client_order_id 1.5 is not text"),
        ("symbol", 123, "symbol 123 is not text"),
        ("symbol", "/USDT", "is not BASE/QUOTE"),
    ],
)
def test_unreadable_values_are_row_problems(column: str, value: Any, problem: str) -> None:
    values: dict[str, Any] = {"symbol": "BTCUSDT", column: value}
    row = read_orders([values])[0]
    assert any(problem in p for p in row.problems), row.problems
    assert column in row.unreadable


def test_missing_symbol_in_one_row() -> None:
    rows = read_orders([{"symbol": "BTCUSDT", "qty": 1}, {"qty": 1}])
    assert rows[0].problems == ()
    assert rows[1].problems == ("missing symbol",)


def test_one_field_given_twice_is_a_row_problem() -> None:
    rows = read_orders(
        pd.DataFrame({"symbol": ["BTCUSDT", "BTCUSDT"], "qty": [1, None], "quantity": [2, 3]})
    )
    assert rows[0].problems == ("'qty' and 'quantity' both give qty; use one",)
    assert rows[1].problems == ()
    assert rows[1].qty == Decimal("3")


def test_unknown_column_makes_every_row_invalid() -> None:
    rows = read_orders(pd.DataFrame({"symbol": ["BTCUSDT"] * 2, "qty": [1, 2], "prcie": [1, 2]}))
    assert rows.unknown_columns == ("prcie",)
    for row in rows:
        assert len(row.problems) == 1
        assert row.problems[0].startswith("unknown column 'prcie'; known columns: symbol, side")
        assert "qty (quantity, amount)" in row.problems[0]
        assert "qty_pct (qty_per)" in row.problems[0]


def test_index_is_kept() -> None:
    df = pd.DataFrame(
        {"symbol": ["BTCUSDT", "ETHUSDT", "BTCUSDT"], "qty": [1, 2, 3]}, index=["a", "b", "a"]
    )
    rows = read_orders(df)
    assert rows.index.equals(df.index)
    assert [r.label for r in rows] == ["a", "b", "a"]
    assert [r.position for r in rows] == [0, 1, 2]


def test_list_gets_a_range_index() -> None:
    rows = read_orders([{"symbol": "BTCUSDT"}] * 3)
    assert isinstance(rows.index, pd.RangeIndex)
    assert list(rows.index) == [0, 1, 2]


def test_dict_of_columns_reads_like_the_dataframe_it_describes() -> None:
    columns = {
        "symbol": ["BTCUSDT", "ETH/USDT", "BTCUSDT"],
        "side": ["buy", "sell", "buy"],
        "qty": [0.001, 0.5, None],
        "quote_qty": [None, None, "25"],
    }
    rows = read_orders(columns)
    same = read_orders(pd.DataFrame(columns))
    assert rows.rows == same.rows
    assert rows.fingerprint == same.fingerprint  # hence the same client order ids
    assert list(rows.index) == [0, 1, 2]
    assert [(r.symbol, r.side, r.qty, r.quote_qty) for r in rows] == [
        ("BTCUSDT", Side.BUY, Decimal("0.001"), None),
        ("ETHUSDT", Side.SELL, Decimal("0.5"), None),
        ("BTCUSDT", Side.BUY, None, Decimal("25")),
    ]
    assert all(r.problems == () for r in rows)


def test_dict_of_columns_repeats_a_single_value_like_a_dataframe() -> None:
    rows = read_orders({"symbol": ["BTCUSDT", "ETHUSDT"], "side": "sell", "qty": (1, 2)})
    assert [r.side for r in rows] == [Side.SELL, Side.SELL]
    assert [r.qty for r in rows] == [Decimal("1"), Decimal("2")]


def test_dict_of_columns_of_different_lengths_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"same length.*'symbol': 2, 'side': 1"):
        read_orders({"symbol": ["BTCUSDT", "ETHUSDT"], "side": ["buy"], "qty": [1, 2]})


def test_dict_of_one_order_still_asks_for_a_list() -> None:
    with pytest.raises(InputError, match=r"wrap one order in a list: \[order\]"):
        read_orders({"symbol": "BTCUSDT", "side": "buy", "qty": 1})


def test_pandas_extension_dtypes() -> None:
    df = pd.DataFrame(
        {
            "symbol": pd.array(["BTCUSDT", "ETH/USDT"], dtype=pd.StringDtype()),
            "side": pd.array(["buy", pd.NA], dtype=pd.StringDtype()),
            "qty": pd.array([0.1, pd.NA], dtype="Float64"),
            "quote_qty": pd.array([pd.NA, 100], dtype="Int64"),
            "reduce_only": pd.array([pd.NA, False], dtype="boolean"),
        }
    )
    a, b = read_orders(df)
    assert (a.symbol, a.side, a.qty, a.quote_qty, a.reduce_only) == (
        "BTCUSDT",
        Side.BUY,
        Decimal("0.1"),
        None,
        None,
    )
    assert (b.symbol, b.side, b.qty, b.quote_qty, b.reduce_only) == (
        "ETHUSDT",
        None,
        None,
        Decimal("100"),
        False,
    )


# --------------------------------------------------------------------------- fingerprints


def test_fingerprint_is_of_the_normalized_input() -> None:
    same: list[dict[str, Any]] = [
        {"symbol": "BTC/USDT", "side": "buy", "qty": 0.1, "price": 90000},
        {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.10", "price": "90000.00"},
        {
            "symbol": "btcusdt",
            "side": "Buy",
            "amount": Decimal("0.1"),
            "price": np.int64(90000),
            "type": "limit",
        },
    ]
    fps = {r.fingerprint for r in read_orders(same)}
    # BTC/USDT also records the implied market, so compare the exchange-symbol spellings.
    assert len({r.fingerprint for r in read_orders(same[1:])}) == 1
    assert len(fps) == 2
    different = read_orders([{"symbol": "BTCUSDT", "side": "buy", "qty": "0.2", "price": 90000}])
    assert different[0].fingerprint not in fps


def test_qty_pct_fingerprint_does_not_depend_on_anything_but_the_row() -> None:
    a = read_orders([{"symbol": "BTCUSDT", "side": "buy", "qty_pct": 5}])
    b = read_orders([{"symbol": "BTCUSDT", "side": "buy", "qty_per": "5.0"}])
    assert a[0].fingerprint == b[0].fingerprint
    assert a.fingerprint == b.fingerprint


def test_batch_fingerprint_depends_on_rows_and_order_not_index() -> None:
    rows = [{"symbol": "BTCUSDT", "qty": 1}, {"symbol": "ETHUSDT", "qty": 2}]
    a = read_orders(rows)
    b = read_orders(pd.DataFrame(rows, index=["x", "y"]))
    c = read_orders(rows[::-1])
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint
    assert read_orders([]).fingerprint == read_orders(pd.DataFrame()).fingerprint


def test_unreadable_values_change_the_fingerprint() -> None:
    a = read_orders([{"symbol": "BTCUSDT", "qty": "abc"}])[0]
    b = read_orders([{"symbol": "BTCUSDT", "qty": "abd"}])[0]
    c = read_orders([{"symbol": "BTCUSDT"}])[0]
    assert len({a.fingerprint, b.fingerprint, c.fingerprint}) == 3
