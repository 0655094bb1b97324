"""Pre-trade guards (issue 14): order and batch caps and the price band, through the real
session and paper exchange. BTC is fixed at 90,000 on the paper exchange."""

from __future__ import annotations

from typing import Any

import pytest

import toolkit as tk
from toolkit.core._exceptions import ConfigError

pytestmark = pytest.mark.loop


async def test_max_order_notional_just_inside_and_just_outside(tkh: Any) -> None:
    session = await tk.connect(stream=False, limits=tk.Limits(max_order_notional=90.0))
    frame = await session.batch([tkh.limit(qty="0.001", price="90000"),  # 90: at the cap
                                 tkh.limit(qty="0.001", price="90010")])  # fmt: skip
    assert frame["status"].tolist() == ["FILLED", "INVALID"]  # (a buy at the price fills)
    assert (
        frame["error_msg"]
        .iloc[1]
        .startswith("notional 90.01 USDT exceeds max_order_notional 90 USDT")
    )
    market = await session.batch([tkh.market(qty="0.001"), tkh.market(qty="0.00101")])
    assert market["status"].tolist() == ["FILLED", "INVALID"]  # valued at the known price


async def test_price_band_guards_the_aggressive_side_only(tkh: Any) -> None:
    session = await tk.connect(stream=False)  # default: price_band 5%
    frame = await session.batch([
        tkh.limit(side="buy", price="94500"),   # 5% above: just inside
        tkh.limit(side="buy", price="94510"),   # just outside
        tkh.limit(side="sell", price="85500"),  # 5% below: just inside
        tkh.limit(side="sell", price="85490"),  # just outside
        tkh.limit(side="buy", price="50000"),   # resting far below: a ladder, allowed
        tkh.limit(side="sell", price="150000"),  # resting far above: allowed
    ])  # fmt: skip
    assert frame["status"].tolist() == ["FILLED", "INVALID", "FILLED", "INVALID", "NEW", "NEW"]
    assert "5.01% above the last price 90,000: beyond price_band 5.00%" in frame["error_msg"][1]
    assert "5.01% below" in frame["error_msg"][3]
    loose = await session.batch([tkh.limit(side="buy", price="94510")],
                                limits=tk.Limits(price_band=0.10))  # fmt: skip
    assert loose["status"].tolist() == ["FILLED"]


async def test_a_batch_over_its_caps_is_refused_whole_with_its_key_unspent(tkh: Any) -> None:
    session = await tk.connect(stream=False, limits=tk.Limits(max_orders=2))
    rows = [tkh.limit(price=str(88000 - i)) for i in range(3)]
    before = dict(tkh.placed())
    frame = await session.batch(rows, key="capped")
    assert frame["status"].tolist() == ["INVALID"] * 3
    assert frame["error_msg"].str.contains("refused whole: 3 orders exceed max_orders 2").all()
    assert tkh.placed() == before
    ok = await session.batch(rows[:2], key="capped")  # the key is still free
    assert ok["status"].tolist() == ["NEW", "NEW"]
    notional = await session.batch(rows[:2], limits=tk.Limits(max_batch_notional=175.0))
    assert notional["error_msg"].str.contains("exceeds max_batch_notional 175").all()
    inside = await session.batch(rows[:2], limits=tk.Limits(max_batch_notional=176.0))
    assert inside["status"].tolist() == ["NEW", "NEW"]


def test_limits_are_checked_when_made() -> None:
    with pytest.raises(ConfigError, match="max_orders must be a positive number"):
        tk.Limits(max_orders=0)
    assert tk.Limits().price_band == 0.05
