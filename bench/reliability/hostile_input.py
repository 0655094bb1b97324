"""Scenario "hostile input": property-based order frames through ``tk.batch``, end to end.

Hypothesis draws order frames -- random columns (known, aliases and junk, unicode names), dtypes
(object, string, category, float32, nullable), NaN/inf, negative and huge numbers, unicode and
malformed symbols, duplicated client order ids, duplicated index labels, spot and USD-M -- and
other inputs that are not frames at all. Each goes through ``session.batch`` against the embedded
paper exchange. What must hold for every example:

* nothing but ``InputError`` is raised, and only when the input cannot be read as rows at all;
* the result has one row per input row, the input's index, and the order frame's columns;
* no row the toolkit marked ``INVALID`` reached the exchange, every order the exchange took is a
  non-INVALID row of the result, and no sent row was refused for a reason the toolkit checks
  itself (filters, precision, symbol, side, type, quantity; counted by the exchange's codes).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

__all__ = ["LOCALLY_CHECKED_CODES", "run_hostile_input"]

#: Exchange codes for what toolkit validates before sending: a sent row refused with one of these
#: is a validation gap. (-1013 "MAX_NUM_ORDERS" depends on the account's open orders: excluded.)
LOCALLY_CHECKED_CODES = frozenset(
    {
        -1013,
        -1100,
        -1102,
        -1106,
        -1111,
        -1115,
        -1116,
        -1117,
        -1121,
        -1130,
        -4002,
        -4003,
        -4004,
        -4005,
        -4013,
        -4014,
        -4015,
        -4023,
    }
)

_missing = st.sampled_from([None, float("nan"), np.nan, pd.NA, "", pd.NaT])
_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-6, max_value=1e5),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=1, max_value=50),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "0.001",
            "0.01",
            "1",
            "-1",
            "1e99",
            "1e-99",
            "90000",
            "3000.5",
            "abc",
            "٣",
            "１０",
            "0x10",
            " 5 ",
            "NaN",
            "-inf",
        ]
    ),
    st.sampled_from([np.float32(0.1), np.int64(3), Decimal("0.00100"), True, 10**400 // 10**390]),
    _missing,
)
_text = st.text(max_size=12)
_COLUMNS: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.one_of(
        st.sampled_from(
            [
                "BTCUSDT",
                "btcusdt",
                "BTC/USDT",
                "ETH/USDT:USDT",
                "SOLUSDT",
                " XRPUSDT ",
                "币安人生USDT",
                "ÉTHUSDT",
                "BTC/",
                "/",
                "🚀USDT",
                "BTCUSDT\x00",
                "BTC USDT",
            ]
        ),
        _text,
        _missing,
        st.integers(),
    ),
    "side": st.one_of(st.sampled_from(["buy", "SELL", "Buy ", "long", "短", "b"]), _missing, _text),
    "type": st.one_of(
        st.sampled_from(
            [
                "limit",
                "MARKET",
                "limit_maker",
                "stop_limit",
                "stop-loss",
                "take_profit",
                "stop_market",
            ]
        ),
        _missing,
        _text,
    ),
    "order_type": st.one_of(st.sampled_from(["LIMIT", "market"]), _missing),
    "qty": _numbers,
    "quantity": _numbers,
    "quote_qty": _numbers,
    "qty_pct": _numbers,
    "qty_per": _numbers,
    "price": st.one_of(
        st.sampled_from(["90000", "89000.01", "3000", "1.505", "0.000001"]), _numbers
    ),
    "stop_price": _numbers,
    "time_in_force": st.one_of(st.sampled_from(["GTC", "ioc", "FOK", "GTX", "day"]), _missing),
    "reduce_only": st.one_of(
        st.booleans(), st.sampled_from(["true", "no", 1, 0, "maybe"]), _missing
    ),
    "client_order_id": st.one_of(
        st.sampled_from(["dup", "dup", "ok-1", "a b", "x" * 40, "ü", "tk" + "0" * 30]),
        _text,
        _missing,
        st.integers(0, 3),
    ),
    "market": st.one_of(st.sampled_from(["spot", "usdm", "coinm"]), _missing),
}


# What a user would write: most of these rows are valid, so the "never sends an invalid row"
# property has something to bite on.
_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(["BTCUSDT", "ETHUSDT", "btc/usdt", "SOL/USDT:USDT", "XRPUSDT"]),
    "side": st.sampled_from(["buy", "sell", "BUY", "Sell"]),
    "type": st.one_of(st.sampled_from(["limit", "market", "LIMIT"]), _missing),
    "qty": st.one_of(
        st.sampled_from(["0.001", "0.01", "0.1", "1", "10", 0.002, 5]),
        st.floats(min_value=0.0001, max_value=20),
        _numbers,
    ),
    "quote_qty": st.one_of(st.integers(1, 500), st.floats(min_value=1, max_value=300)),
    "qty_pct": st.one_of(st.integers(1, 3), st.floats(min_value=0.01, max_value=2)),
    "price": st.one_of(
        st.sampled_from(
            ["89000", "90000.01", "2999.99", "149.5", "2.1", "3000", 89500.123, 151, "1", "1000000"]
        ),
        _missing,
    ),
    "client_order_id": st.one_of(
        _missing, st.sampled_from(["dup", "mine-1"]), st.uuids().map(lambda u: u.hex[:20])
    ),
    "reduce_only": st.one_of(_missing, st.booleans()),
    "time_in_force": st.one_of(_missing, st.sampled_from(["GTC", "IOC", "FOK"])),
}


def _cast(values: list[Any], how: str) -> Any:
    if how == "string":
        return pd.array(
            [
                None
                if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                else _str(v)
                for v in values
            ],
            dtype="string",
        )
    if how == "category":
        try:
            return pd.Categorical([_str(v) for v in values])
        except (TypeError, ValueError):
            return values
    if how in ("float32", "Float64"):
        numeric = pd.to_numeric(pd.Series([_num(v) for v in values], dtype=object), errors="coerce")
        with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # float32 overflow -> inf: wanted
            return numeric.astype("float32" if how == "float32" else "Float64").to_numpy()
    return values


def _str(value: Any) -> str:
    try:
        return str(value)
    except ArithmeticError:  # Decimal("sNaN") cannot even be printed
        return "sNaN"


def _num(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError, ArithmeticError):
        return None


@st.composite
def order_inputs(draw: Callable[..., Any]) -> Any:
    """A frame (or list of dicts, or something else entirely) of hostile orders."""
    kind = draw(st.sampled_from(["frame"] * 6 + ["records", "other"]))
    if kind == "other":
        return draw(
            st.sampled_from(
                [
                    None,
                    5,
                    "BTCUSDT",
                    [1, 2],
                    {"symbol": "BTCUSDT"},
                    b"\x00",
                    pd.Series([1, 2]),
                    [{"symbol": "BTCUSDT"}, "x"],
                    pd.DataFrame([[1, 2]], columns=["qty", "qty"]),
                ]
            )
        )
    n = draw(st.integers(0, 6))
    plausible = draw(st.booleans())
    if plausible:
        sizing = draw(st.sampled_from(["qty", "quote_qty", "qty_pct"]))
        optional = draw(
            st.lists(
                st.sampled_from(
                    ["type", "price", "client_order_id", "reduce_only", "time_in_force"]
                ),
                max_size=3,
                unique=True,
            )
        )
        names = ["symbol", "side", sizing, *optional]
    else:
        names = draw(st.lists(st.sampled_from(sorted(_COLUMNS)), max_size=7, unique=True))
        if draw(st.booleans()):
            names = ["symbol", "side", *(c for c in names if c not in ("symbol", "side"))]
    extra: list[str] = []
    if not plausible:  # an unknown column makes every row INVALID: only in the junk frames
        extra = draw(st.lists(st.text(min_size=1, max_size=6), max_size=2, unique=True))
    data: dict[str, Any] = {}
    for name in names:
        pool = _PLAUSIBLE if plausible and draw(st.integers(0, 9)) else _COLUMNS
        data[name] = draw(st.lists(pool.get(name, _COLUMNS[name]), min_size=n, max_size=n))
    for name in extra:
        if name not in data:
            data[name] = draw(st.lists(_numbers, min_size=n, max_size=n))
    if kind == "records":
        records = [{k: v[i] for k, v in data.items() if draw(st.booleans())} for i in range(n)]
        return records
    for name in list(data):
        how = draw(
            st.sampled_from(["object", "object", "string", "category", "float32", "Float64"])
        )
        data[name] = _cast(data[name], how)
    index: Any = None
    style = draw(st.sampled_from(["range", "labels", "duplicates", "reversed"]))
    if style == "labels":
        index = draw(st.lists(_text, min_size=n, max_size=n))
    elif style == "duplicates":
        index = [7] * n
    elif style == "reversed":
        index = list(range(n, 0, -1))
    return pd.DataFrame(data, index=index)


class _Stats:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.gaps: list[str] = []


def _check(
    stats: _Stats,
    orders: Any,
    result: Any,
    placed_before: dict[str, int],
    placed_after: dict[str, int],
) -> None:
    import toolkit as tk

    n = len(orders)
    assert len(result) == n, f"{len(result)} result rows for {n} input rows"
    assert list(result.columns) == list(tk.COLUMNS)
    if isinstance(orders, pd.DataFrame):
        assert result.index.equals(orders.index), "the result's index differs from the input's"
    new = {cid for cid, k in placed_after.items() if k != placed_before.get(cid, 0)}
    statuses = dict(zip(result["client_order_id"].astype(object), result["status"], strict=True))
    for cid in new:
        assert statuses.get(cid) not in (None, "INVALID"), (
            f"{cid} was sent but is {statuses.get(cid)}"
        )
    stats.counts["rows"] += n
    stats.counts["sent_accepted"] += len(new)
    for status, code, msg in zip(
        result["status"], result["error_code"], result["error_msg"], strict=True
    ):
        stats.counts[f"rows_{status}"] += 1
        if status == "REJECTED":
            stats.rejected[f"{code}"] += 1
            if code in LOCALLY_CHECKED_CODES and "MAX_NUM_ORDERS" not in str(msg):
                stats.gaps.append(f"sent and refused {code}: {msg}")


def _describe(exc: BaseException) -> str:
    subs = getattr(exc, "exceptions", None) or [exc]
    parts = []
    for sub in subs:
        notes = " ".join(getattr(sub, "__notes__", []))
        parts.append(f"{type(sub).__name__}: {sub} [{notes}]")
    return "; ".join(parts)


def run_hostile_input(store: Path, *, examples: int = 50, seed: int = 0) -> dict[str, Any]:
    """Run the property for ``examples`` inputs (module docstring); figures and ``violations``.

    Uses the embedded paper exchange (fixed prices, generous limits) of this process, and the
    blocking bridge ``tk.run`` (hypothesis drives a sync test function).
    """
    import toolkit as tk
    from toolkit.runtime import _embedded

    from ._serve import GENEROUS

    saved = _embedded.configure({"price_mode": "fixed", "rate_limits": GENEROUS})
    stats = _Stats()
    failure: str | None = None
    try:
        sessions = {
            m: tk.run(tk.connect(market=m, store=str(store), stream=False))
            for m in ("spot", "usdm")
        }
        paper = _embedded.paper_exchange()

        @hypothesis_seed(seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(order_inputs(), st.sampled_from(["spot", "usdm"]))
        def prop(orders: Any, market: str) -> None:
            stats.counts["examples"] += 1
            before = dict(paper.counters()["orders_by_client_id"])
            try:
                result = tk.run(sessions[market].batch(orders, progress=False))
            except tk.InputError:
                stats.counts["input_error"] += 1
                after = paper.counters()["orders_by_client_id"]
                assert after == before, "an unreadable input sent orders"
                return
            _check(stats, orders, result, before, dict(paper.counters()["orders_by_client_id"]))

        try:
            prop()
        except Exception as exc:  # the shrunk counterexample(s), reported
            failure = _describe(exc)
        for session in sessions.values():
            tk.run(session.close())
    finally:
        _embedded.configure(saved)
    violations = list(dict.fromkeys(stats.gaps))
    if failure:
        violations.append(failure)
    return {
        "examples": stats.counts.pop("examples", 0),
        "seed": seed,
        "counts": dict(sorted(stats.counts.items())),
        "rejected_by_code": dict(stats.rejected),
        "violations": violations,
    }
