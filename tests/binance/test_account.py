"""Account holdings JSON -> frames: fixed columns and dtypes, also with nothing held."""

from __future__ import annotations

import math
from decimal import Decimal

from toolkit.binance._account import (
    BALANCE_DTYPES,
    POSITION_DTYPES,
    balances_frame,
    positions_frame,
)
from toolkit.store._positions import SPOT_DTYPES, spot_positions


def test_empty_answers_keep_columns_and_dtypes() -> None:
    for frame, dtypes in (
        (balances_frame({}), BALANCE_DTYPES),
        (positions_frame([]), POSITION_DTYPES),
    ):
        assert frame.empty
        assert dict(frame.dtypes) == dtypes
    held = spot_positions(balances_frame({"balances": []}), {})
    assert held.empty
    assert dict(held.dtypes) == SPOT_DTYPES


def test_balances_skip_zeros_and_value_what_has_a_usdt_market() -> None:
    account = {"balances": [
        {"asset": "USDT", "free": "900.00000000", "locked": "100.00000000"},
        {"asset": "BTC", "free": "0.01000000", "locked": "0.00000000"},
        {"asset": "ZZZ", "free": "5.00000000", "locked": "0.00000000"},
        {"asset": "ETH", "free": "0.00000000", "locked": "0.00000000"},
    ]}  # fmt: skip
    frame = spot_positions(balances_frame(account), {"BTCUSDT": Decimal("90000")})
    assert frame["asset"].tolist() == ["BTC", "USDT", "ZZZ"]
    by = frame.set_index("asset")
    assert by.loc["USDT", "total"] == 1000
    assert by.loc["BTC", "value"] == 900
    assert by.loc["BTC", "weight"] == 900 / 1900
    assert math.isnan(by.loc["ZZZ", "price"])
    assert math.isnan(by.loc["ZZZ", "weight"])


def test_positions_keep_open_ones_with_their_side() -> None:
    risk = [
        {"symbol": "ETHUSDT", "positionAmt": "0.500", "entryPrice": "3000", "markPrice": "3010",
         "unRealizedProfit": "5", "liquidationPrice": "0", "leverage": "10", "notional": "1505"},
        {"symbol": "BTCUSDT", "positionAmt": "0.000", "entryPrice": "0", "markPrice": "90000",
         "unRealizedProfit": "0", "liquidationPrice": "0", "leverage": "20", "notional": "0"},
    ]  # fmt: skip
    frame = positions_frame(risk)
    assert frame["symbol"].tolist() == ["ETHUSDT"]
    row = frame.iloc[0]
    assert (row["side"], row["qty"], row["leverage"], row["notional"]) == ("long", 0.5, 10, 1505)
