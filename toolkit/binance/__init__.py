"""Binance's protocol, in one place: error codes and the order-outcome rule
(:mod:`toolkit.binance._codes`), venues, hosts and user-data paths
(:mod:`toolkit.binance._venues`), and header names (:mod:`toolkit.binance._headers`).

The package's face imports nothing, so the transport, the rate limiter and the adapter can all
read these tables without an import cycle.
"""

from __future__ import annotations

__all__: list[str] = []
