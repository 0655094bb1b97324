"""Binance's HTTP header names: the API key header and the usage counters of every answer.

Example::

    >>> counter_header("X-MBX-USED-WEIGHT-1M")
    ('weight', 60)
    >>> counter_header("x-mbx-order-count-10s")
    ('orders', 10)
    >>> counter_header("Content-Type") is None
    True
"""

from __future__ import annotations

import functools

__all__ = ["API_KEY_HEADER", "ORDER_COUNT_HEADER", "WEIGHT_HEADER", "counter_header"]

#: The header that carries the API key of keyed and signed requests.
API_KEY_HEADER = "X-MBX-APIKEY"
#: Prefix of the request-weight counters (``X-MBX-USED-WEIGHT-1M``).
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-"
#: Prefix of the order counters (``X-MBX-ORDER-COUNT-10S``).
ORDER_COUNT_HEADER = "X-MBX-ORDER-COUNT-"
_LETTER_SECONDS = {"S": 1, "M": 60, "H": 3600, "D": 86400}


@functools.lru_cache(maxsize=256)
def counter_header(name: str) -> tuple[str, int] | None:
    """``(kind, seconds)`` of a counter header name (``X-MBX-USED-WEIGHT-1M``), else ``None``.

    Cached: every answer carries the same few header names, and this runs for each of them.
    """
    upper = name.upper()
    if upper.startswith(WEIGHT_HEADER):
        kind, spec = "weight", upper[len(WEIGHT_HEADER) :]
    elif upper.startswith(ORDER_COUNT_HEADER):
        kind, spec = "orders", upper[len(ORDER_COUNT_HEADER) :]
    else:
        return None
    try:
        return kind, int(spec[:-1]) * _LETTER_SECONDS[spec[-1]]
    except (KeyError, ValueError, IndexError):
        return None
