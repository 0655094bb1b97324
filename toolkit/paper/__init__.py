"""The embedded paper exchange: a real aiohttp server speaking the Binance REST protocol.

Spot ``/api/v3/...`` and USD-M futures ``/fapi/...`` with signed requests, filters, balances,
matching against a price feed, Binance error codes, rate limits and fault injection; account
trade lists and market data (klines for any past range, depth, 24h tickers, average price) from
its own seeded price path; admin endpoints under ``/paper/``. Run it embedded
(``await PaperExchange().start()``) or standalone (``python -m toolkit paper``).
"""

from __future__ import annotations

from . import _cli as _cli  # the `paper` sub-command of `python -m toolkit`
from ._errors import PaperError
from ._exchange import PaperExchange
from ._faults import FaultConfig
from ._limits import RateLimits

__all__ = ["FaultConfig", "PaperError", "PaperExchange", "RateLimits"]
