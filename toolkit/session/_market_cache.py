"""What a session remembers of the market: symbol rules (exchangeInfo) and recent prices.

Rules are kept for ``rules_ttl`` seconds, prices for ``price_ttl`` seconds; an order refused for
a filter makes both be fetched again (:meth:`MarketCache.forget`).

Example::

    cache = MarketCache(adapter, Market.SPOT, rules_ttl=3600.0, price_ttl=2.0)
    rules = await cache.rules()
    prices = await cache.prices(["BTCUSDT"])
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from decimal import Decimal

from ..core._adapter import ExchangeAdapter
from ..core._models import Market
from ..core._rules import SymbolRules, parse_rules
from ..runtime import _runner

__all__ = ["MarketCache"]


class MarketCache:
    """Symbol rules and prices of one exchange market, fetched through ``adapter`` on demand.

    Use it on the I/O loop (its clock is the running loop's).
    """

    def __init__(
        self, adapter: ExchangeAdapter, market: Market, *, rules_ttl: float, price_ttl: float
    ) -> None:
        self.adapter = adapter
        self.market = market
        self.rules_ttl = rules_ttl
        self.price_ttl = price_ttl
        self.symbol_rules: dict[str, SymbolRules] | None = None
        self._rules_at = 0.0
        self._prices: dict[str, Decimal] = {}
        self._prices_at: dict[str, float] = {}

    async def rules(self) -> dict[str, SymbolRules]:
        """Symbol rules from exchangeInfo, cached for ``rules_ttl`` seconds."""
        now = asyncio.get_running_loop().time()
        if self.symbol_rules is None or now - self._rules_at > self.rules_ttl:
            info = await self.adapter.exchange_info()
            self.symbol_rules = parse_rules(info, self.market)
            self._rules_at = now
        return self.symbol_rules

    async def prices(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """Prices of ``symbols``, fetched when the last fetch of any of them is older than
        ``price_ttl`` seconds (one request for all of them then)."""
        now = asyncio.get_running_loop().time()
        ttl = self.price_ttl
        stale = [s for s in symbols if now - self._prices_at.get(s, -math.inf) > ttl]
        if stale:
            fresh = await self.adapter.prices(sorted(stale))
            for symbol, price in fresh.items():
                self._prices[symbol] = price
                self._prices_at[symbol] = now
        return {s: self._prices[s] for s in symbols if s in self._prices}

    def known_prices(self, symbols: Sequence[str]) -> dict[str, tuple[Decimal, float]]:
        """The prices held for ``symbols`` with their age in seconds, without a request (a
        batch records them as its arrival prices); symbols never priced are left out."""
        now = _runner.get_loop().time()
        return {
            s: (self._prices[s], max(0.0, now - self._prices_at[s]))
            for s in symbols
            if s in self._prices and s in self._prices_at
        }

    def forget(self) -> None:
        """The exchange refused an order for a filter: rules and prices are fetched again."""
        self.symbol_rules = None
        self._prices_at.clear()
