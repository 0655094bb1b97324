"""Every fill the engine makes, kept as a trade: the record behind ``myTrades`` / ``userTrades``.

A trade is written once, when the engine fills part of an order, and never changes. The log keeps
them in id order per market, indexed by ``(api_key, symbol)`` so a query reads only one account's
trades of one symbol. Views render them as Binance shows them (spot pads numbers to 8 decimals;
USD-M uses the symbol's precision and adds ``realizedPnl``/``side``/``positionSide``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ._market import SPOT, SymbolSpec, fmt

__all__ = ["Trade", "TradeLog"]


@dataclass(frozen=True)
class Trade:
    """One fill of one order (the account's side of it)."""

    id: int
    market: str
    api_key: str
    spec: SymbolSpec
    order_id: int
    client_order_id: str
    side: str  # BUY | SELL
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    maker: bool
    realized_pnl: Decimal
    time: int

    @property
    def symbol(self) -> str:
        """The exchange symbol."""
        return self.spec.symbol

    @property
    def quote_qty(self) -> Decimal:
        """``price * qty``."""
        return self.price * self.qty

    def view(self) -> dict[str, Any]:
        """The trade as ``GET /api/v3/myTrades`` or ``GET /fapi/v1/userTrades`` shows it."""
        if self.market == SPOT:
            return {
                "symbol": self.symbol, "id": self.id, "orderId": self.order_id,
                "orderListId": -1, "price": fmt(self.price, 8), "qty": fmt(self.qty, 8),
                "quoteQty": fmt(self.quote_qty, 8), "commission": fmt(self.commission, 8),
                "commissionAsset": self.commission_asset, "time": self.time,
                "isBuyer": self.side == "BUY", "isMaker": self.maker, "isBestMatch": True,
            }
        pp, qp = self.spec.price_places, self.spec.qty_places
        return {
            "buyer": self.side == "BUY", "commission": fmt(self.commission, 8),
            "commissionAsset": self.commission_asset, "id": self.id, "maker": self.maker,
            "orderId": self.order_id, "price": fmt(self.price, pp), "qty": fmt(self.qty, qp),
            "quoteQty": fmt(self.quote_qty, pp + qp), "marginAsset": self.spec.quote,
            "realizedPnl": fmt(self.realized_pnl, 8) if self.realized_pnl else "0",
            "side": self.side, "positionSide": "BOTH", "symbol": self.symbol, "time": self.time,
        }


class TradeLog:
    """All trades of one exchange, in id order per ``(market, api_key, symbol)``."""

    def __init__(self) -> None:
        self._by_account: dict[tuple[str, str, str], list[Trade]] = {}
        self._by_order: dict[tuple[str, int], list[Trade]] = {}
        self.count = 0

    def add(self, trade: Trade) -> None:
        """Record one trade (ids are increasing, so each list stays sorted)."""
        key = (trade.market, trade.api_key, trade.symbol)
        self._by_account.setdefault(key, []).append(trade)
        self._by_order.setdefault((trade.market, trade.order_id), []).append(trade)
        self.count += 1

    def of(self, market: str, api_key: str, symbol: str) -> list[Trade]:
        """The trades of one account on one symbol, oldest first (do not mutate)."""
        return self._by_account.get((market, api_key, symbol), [])

    def of_order(self, market: str, order_id: int) -> list[Trade]:
        """The trades of one order, oldest first (do not mutate)."""
        return self._by_order.get((market, order_id), [])

    def all(self, api_key: str | None = None, market: str | None = None) -> list[Trade]:
        """Every trade (optionally of one key / market), ordered by id."""
        out = [
            t for (m, key, _s), trades in self._by_account.items()
            if (api_key is None or key == api_key) and (market is None or m == market)
            for t in trades
        ]
        out.sort(key=lambda t: (t.market, t.id))
        return out
