"""Exchange adapters: the exchange-specific layer between the transport and the session.

Only :mod:`toolkit.adapters._wire` knows Binance's JSON; :class:`BinanceAdapter` speaks Binance
REST (spot and USD-M) to Binance, its testnets and the embedded paper exchange alike.
"""

from __future__ import annotations

from .binance import BinanceAdapter

__all__ = ["BinanceAdapter"]
