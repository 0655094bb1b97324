"""The benchmark orders: the same list for every client, built from the server's own filters.

Market orders, alternating buy and sell of the same small quantity per symbol, spread over the
listed symbols: every order is accepted and filled by the matching engine (the server does real
work: filters, balances, fills), nothing rests, so balances and open-order limits stay flat
across repetitions and the run can be repeated on one server.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

import aiohttp
import pandas as pd

__all__ = [
    "SYMBOLS",
    "BenchOrder",
    "Market",
    "build_orders",
    "fetch_market",
    "orders_frame",
]

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
#: Each order's notional is this multiple of the symbol's minimum notional.
NOTIONAL_MULTIPLE = Decimal("1.5")


@dataclass(frozen=True)
class BenchOrder:
    """One order, in the form every client is given (exact decimal strings)."""

    symbol: str
    side: str  # "buy" / "sell"
    type: str  # "market" / "limit"
    qty: str
    price: str | None = None

    @property
    def ccxt_symbol(self) -> str:
        base = self.symbol.removesuffix("USDT")
        return f"{base}/USDT"


@dataclass(frozen=True)
class Market:
    """What the benchmark needs to know about one market of the server."""

    market: str  # "spot" / "usdm"
    filters: dict[str, dict[str, dict[str, Any]]]  # symbol -> filterType -> filter
    prices: dict[str, Decimal]


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _prefix(market: str) -> str:
    return "/api/v3" if market == "spot" else "/fapi/v1"


async def fetch_market(url: str, market: str) -> Market:
    """Read exchangeInfo and prices of ``SYMBOLS`` from the running server."""
    prefix = _prefix(market)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}{prefix}/exchangeInfo") as resp:
            resp.raise_for_status()
            info = await resp.json()
        async with http.get(f"{url}{prefix}/ticker/price") as resp:
            resp.raise_for_status()
            tickers = await resp.json()
    filters = {
        s["symbol"]: {f["filterType"]: f for f in s.get("filters", [])}
        for s in info["symbols"]
        if s["symbol"] in SYMBOLS
    }
    missing = set(SYMBOLS) - set(filters)
    if missing:
        raise RuntimeError(f"paper exchange lacks symbols {sorted(missing)} on {market}")
    prices = {t["symbol"]: Decimal(str(t["price"])) for t in tickers if t["symbol"] in SYMBOLS}
    return Market(market=market, filters=filters, prices=prices)


def _min_qty(filters: dict[str, dict[str, Any]], price: Decimal) -> Decimal:
    lot = filters.get("LOT_SIZE", {})
    mlot = filters.get("MARKET_LOT_SIZE", {})
    step = Decimal(str(lot.get("stepSize", "0.001")))
    mstep = Decimal(str(mlot.get("stepSize", "0") or "0"))
    step = max(step, mstep) if mstep > 0 else step
    min_qty = max(Decimal(str(lot.get("minQty", "0"))), Decimal(str(mlot.get("minQty", "0"))))
    min_notional = Decimal("0")
    for name in ("NOTIONAL", "MIN_NOTIONAL"):
        f = filters.get(name)
        if f is not None:
            min_notional = max(
                min_notional, Decimal(str(f.get("minNotional", f.get("notional", "0"))))
            )
    need = max(min_qty, min_notional * NOTIONAL_MULTIPLE / price)
    steps = (need / step).to_integral_value(rounding=ROUND_CEILING)
    return max(steps, Decimal(1)) * step


def build_orders(market: Market, n: int) -> list[BenchOrder]:
    """``n`` market orders: symbols round-robin, buy/sell alternating per symbol."""
    qty = {sym: _plain(_min_qty(market.filters[sym], market.prices[sym])) for sym in SYMBOLS}
    orders = []
    for i in range(n):
        sym = SYMBOLS[i % len(SYMBOLS)]
        side = "buy" if (i // len(SYMBOLS)) % 2 == 0 else "sell"
        orders.append(BenchOrder(symbol=sym, side=side, type="market", qty=qty[sym]))
    return orders


def orders_frame(orders: list[BenchOrder]) -> pd.DataFrame:
    """The orders as the DataFrame a notebook user would pass to ``tk.batch``."""
    frame: pd.DataFrame = pd.DataFrame(
        {
            "symbol": [o.symbol for o in orders],
            "side": [o.side for o in orders],
            "type": [o.type for o in orders],
            "qty": [o.qty for o in orders],
        }
    )
    return frame
