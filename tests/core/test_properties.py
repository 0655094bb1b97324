"""Property: any frame either raises InputError or yields one Prepared per row, and every request
that would be sent passes the symbol's filters (checked here independently of
toolkit.core._rules)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.core._exceptions import InputError
from toolkit.core._ids import is_valid_client_order_id
from toolkit.core._input import read_orders
from toolkit.core._models import Market, OrderRequest, OrderStatus, OrderType
from toolkit.core._rules import SymbolRules
from toolkit.core._validation import MARKET_TYPES, prepare, to_wire

missing = st.sampled_from([None, float("nan"), np.nan, pd.NA, ""])
junk = st.one_of(
    st.text(max_size=6),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.just(complex(1, 2)),
    st.just(pd.Timestamp("2026-01-01")),
)
numbers = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.decimals(min_value=Decimal("0.00001"), max_value=Decimal(100), places=5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-6, max_value=1e6),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=1, max_value=100),
    st.sampled_from(
        ["0.001", "0.01", "1", "90000", "90000.005", "3000", "1e1", "-1", "abc", "1e99"]
    ),
    st.sampled_from([np.float32(0.1), np.float64(0.001), np.int64(5), Decimal("1E+1")]),
    missing,
    junk,
)
prices = st.one_of(
    st.sampled_from(["90000", "90000.01", "3000", "50000", "50000.1", "1.505", "0.5", 90000, 3000]),
    numbers,
)


def cased(words: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(words).flatmap(
        lambda w: st.sampled_from([w, w.upper(), w.lower(), w.title(), f" {w} "])
    )


COLUMNS: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.one_of(
        cased(
            ["BTCUSDT", "ETHUSDT", "BTC/USDT", "BTC/USDT:USDT", "HALTUSDT", "FEWUSDT", "ODDUSDT"]
        ),
        st.sampled_from(["币安人生USDT", "ÉTHUSDT", "BTC/", "/"]),
        st.text(max_size=8),
        missing,
        junk,
    ),
    "side": st.one_of(cased(["buy", "sell", "long"]), missing, junk),
    "type": st.one_of(cased([t.value for t in OrderType] + ["stop-loss-limit"]), missing, junk),
    "order_type": st.one_of(cased(["limit", "market"]), missing),
    "qty": numbers,
    "quantity": numbers,
    "quote_qty": numbers,
    "qty_pct": numbers,
    "qty_per": numbers,
    "price": prices,
    "stop_price": prices,
    "tif": st.one_of(cased(["GTC", "IOC", "FOK", "GTX", "GTD"]), missing, junk),
    "reduce_only": st.one_of(st.booleans(), st.sampled_from(["true", "no", 1, 0]), missing, junk),
    "client_order_id": st.one_of(
        st.sampled_from(["dup", "dup", "ok-1", "a.b", "x" * 37, "tk" + "0" * 30, 7, 7.0]),
        st.text(max_size=40),
        missing,
    ),
    "market": st.one_of(cased(["spot", "usdm"]), missing, junk),
    "foo": numbers,
    "Prïce": numbers,
}
# Values a real user would write: these rows are often valid, so the filter property has teeth.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(["BTCUSDT", "ETHUSDT", "btc/usdt", "BTC/USDT:USDT", "ODDUSDT"]),
    "side": cased(["buy", "sell"]),
    "type": st.one_of(
        st.sampled_from(["limit", "MARKET", "limit_maker", "stop_loss_limit"]), missing
    ),
    "order_type": st.one_of(st.sampled_from(["limit", "market"]), missing),
    "qty": st.one_of(
        st.decimals(min_value=Decimal("0.00001"), max_value=Decimal(3), places=5),
        st.floats(min_value=0.0001, max_value=3).map(lambda f: round(f, 4)),
        st.integers(1, 20),
    ),
    "quote_qty": st.one_of(st.integers(1, 20000), st.floats(min_value=1, max_value=5000)),
    "qty_pct": st.one_of(st.integers(1, 100), st.floats(min_value=0.01, max_value=100)),
    "price": st.sampled_from(
        [
            "90000",
            "90000.01",
            "89999.5",
            "90000.005",
            "50000",
            "50000.1",
            "50010",
            "3000",
            "3000.55",
            "1.505",
            "1.5",
            90000.0,
            3000,
            missing,
        ]
    ).flatmap(lambda v: v if isinstance(v, st.SearchStrategy) else st.just(v)),
    "stop_price": st.one_of(missing, st.sampled_from(["89000", "3100", "49000.5"])),
    "tif": st.one_of(missing, st.sampled_from(["GTC", "ioc", "GTX"])),
    "reduce_only": st.one_of(missing, st.booleans()),
    "client_order_id": st.one_of(missing, missing, st.sampled_from(["dup", "ok-1", "a.b"])),
    "market": st.one_of(missing, missing, st.sampled_from(["spot", "usdm"])),
}
PLAUSIBLE.update({"qty_per": PLAUSIBLE["qty_pct"], "quantity": PLAUSIBLE["qty"]})
SIZES = ["qty", "quote_qty", "qty_pct", "qty_per", "quantity"]
OPTIONAL = [
    "price",
    "type",
    "order_type",
    "stop_price",
    "tif",
    "reduce_only",
    "client_order_id",
    "market",
]


@st.composite
def frames(draw: st.DrawFn) -> Any:
    n = draw(st.integers(min_value=0, max_value=6))
    names = {"symbol", "side", draw(st.sampled_from(SIZES))}
    names |= set(draw(st.lists(st.sampled_from(OPTIONAL), max_size=3)))
    if draw(st.integers(0, 3)) == 0:  # sometimes anything goes, unknown columns included
        names |= set(draw(st.lists(st.sampled_from(sorted(COLUMNS)), max_size=4)))
    if draw(st.integers(0, 19)) == 0:
        names.discard("symbol")
    ordered = sorted(names)
    records = []
    for _ in range(n):
        chaos = draw(st.integers(0, 3)) == 0
        records.append(
            {c: draw(COLUMNS[c] if chaos or c not in PLAUSIBLE else PLAUSIBLE[c]) for c in ordered}
        )
    kind = draw(st.sampled_from(["list", "frame", "typed", "sparse"]))
    if kind == "list":
        return records
    if kind == "sparse":  # dicts with different keys
        return [
            {k: v for k, v in r.items() if draw(st.booleans()) or k == "symbol"} for r in records
        ]
    index = draw(
        st.one_of(
            st.just(None),
            st.lists(st.text(max_size=3), min_size=n, max_size=n),
            st.lists(st.integers(-5, 5), min_size=n, max_size=n),
        )
    )
    frame = pd.DataFrame(
        {c: pd.Series([r[c] for r in records], dtype=object) for c in ordered},
        index=index,
        columns=ordered,
    )
    if kind == "typed":
        frame = frame.infer_objects()
    return frame


def on_grid(value: Decimal, step: Decimal, origin: Decimal) -> bool:
    return step == 0 or (value - origin) % step == 0


def assert_passes_filters(
    req: OrderRequest, rules: SymbolRules, market: Market, ref: Decimal | None
) -> None:
    assert rules.status == "TRADING"
    usdm = market is Market.USDM
    for px in (req.price, req.stop_price):
        if px is None:
            continue
        assert px > 0
        assert to_wire(px) == format(px, "f")
        assert "E" not in to_wire(px)
        assert on_grid(px, rules.tick_size, rules.min_price if usdm else Decimal(0)), px
        assert not rules.min_price or px >= rules.min_price
        assert not rules.max_price or px <= rules.max_price
    is_market = req.type in MARKET_TYPES
    if req.qty is not None:
        assert req.quote_qty is None
        assert req.qty > 0
        assert "E" not in to_wire(req.qty)
        lots = [rules.lot] + ([rules.market_lot] if is_market else [])
        for lot in lots:
            if lot is None:
                continue
            assert on_grid(req.qty, lot.step_size, lot.min_qty if usdm else Decimal(0)), req.qty
            assert not lot.min_qty or req.qty >= lot.min_qty
            assert not lot.max_qty or req.qty <= lot.max_qty
    else:
        assert market is Market.SPOT
        assert req.type is OrderType.MARKET
        assert req.quote_qty is not None
        assert req.quote_qty > 0
    px = req.price or req.stop_price or ref
    notional = req.quote_qty if req.quote_qty is not None else None
    if notional is None and req.qty is not None and px is not None:
        notional = req.qty * px
    applies = (
        (not req.reduce_only) if usdm else (not is_market or rules.min_notional_applies_to_market)
    )
    if applies and notional is not None and rules.min_notional is not None:
        assert notional >= rules.min_notional, (notional, rules.min_notional)
    if not usdm:
        assert not req.reduce_only


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(orders=frames(), market=st.sampled_from(list(Market)), all_or_nothing=st.booleans())
def test_any_frame_is_rejected_or_fully_prepared(
    kit: SimpleNamespace, orders: Any, market: Market, all_or_nothing: bool
) -> None:
    try:
        rows = read_orders(orders)
    except InputError:
        return
    n = len(orders)
    assert len(rows) == n
    rules = kit.SPOT_RULES if market is Market.SPOT else kit.USDM_RULES
    ref_prices = kit.SPOT_PRICES if market is Market.SPOT else kit.USDM_PRICES
    prepared = prepare(
        rows,
        market=market,
        exchange="paper",
        rules=rules,
        prices=ref_prices,
        balances=kit.BALANCES,
        id_seed="prop",
        batch_id="b",
        key=None,
        all_or_nothing=all_or_nothing,
        now=kit.NOW,
    )
    assert len(prepared) == n
    assert [p.position for p in prepared] == list(range(n))
    sent = [p for p in prepared if p.request is not None]
    if all_or_nothing and len(sent) != n:
        assert not sent
    ids = [p.order.client_order_id for p in prepared]
    assert len(set(ids)) == n  # unique per row, valid or not
    for p in prepared:
        assert p.order.position == p.position
        if p.request is None:
            assert p.order.status is OrderStatus.INVALID
            assert p.order.error_msg
            continue
        req = p.request
        assert p.order.status is OrderStatus.PENDING
        assert p.order.client_order_id == req.client_order_id
        assert is_valid_client_order_id(req.client_order_id, market)
        assert req.symbol in rules
        assert_passes_filters(req, rules[req.symbol], market, ref_prices.get(req.symbol))
