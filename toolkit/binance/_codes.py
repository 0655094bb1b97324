"""Binance's error codes and the one rule of what an answer means for an order request.

:func:`order_outcome` decides, from the HTTP status and Binance's ``code``/``msg``, whether an
order was refused, may or may not exist, already exists, or was provably not sent; the adapter
and the transport apply it, nobody else reads codes.

Example::

    >>> order_outcome(503, None)
    'unknown'
    >>> order_outcome(400, -2010, "Duplicate order sent.")
    'exists'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "AUTH_CODES",
    "DUPLICATE_CODES",
    "FILTER_FAILURE",
    "NO_STREAM_CODES",
    "ORDER_ARCHIVED",
    "SEND_WINDOW_CLOSED",
    "SPOT_DUPLICATE",
    "TIMESTAMP_CODE",
    "UNKNOWN_OUTCOME_CODES",
    "OrderOutcome",
    "error_parts",
    "is_duplicate",
    "is_filter_failure",
    "order_outcome",
]

#: Exchange codes that mean "your credentials or clock are wrong".
AUTH_CODES = frozenset({-1021, -1022, -2015, -2014})
#: Exchange codes whose execution status is unknown (like a 5xx): -1006 unexpected, -1007 timeout.
UNKNOWN_OUTCOME_CODES = frozenset({-1006, -1007})
#: A user-data subscription refused for these (bad key, no permission, unauthorized): poll.
NO_STREAM_CODES = frozenset({-2014, -2015, -1002})
#: USD-M "ClientOrderId is duplicated": an order with this client order id already exists.
DUPLICATE_CODES = frozenset({-4116})
#: Spot says "duplicate" with the generic new-order-rejected code and this message.
SPOT_DUPLICATE = (-2010, "duplicate order sent")
#: "Timestamp for this request is outside of the recvWindow": resync the clock, send once more.
TIMESTAMP_CODE = -1021
#: Message of :class:`SendWindowClosed` (and, after "not placed: ", of the adapter's order).
SEND_WINDOW_CLOSED = "the send window closed before it was sent"

#: What an answer means for an order request (see :func:`order_outcome`).
OrderOutcome = Literal["rejected", "unknown", "exists", "not_sent"]


def is_duplicate(code: int | None, msg: str = "") -> bool:
    """True if ``(code, msg)`` says an order with the request's client order id already exists."""
    if code in DUPLICATE_CODES:
        return True
    return (code, msg.strip().rstrip(".").lower()) == SPOT_DUPLICATE


def order_outcome(status: int, code: int | None, msg: str = "") -> OrderOutcome:
    """The one rule: what an error answer (HTTP ``status``, Binance ``code``/``msg``) means for an
    order request, or for one element of a USD-M batch answer (``status`` of the whole answer).

    * ``"not_sent"``: 429/418, the exchange refused it before execution (safe to send again);
    * ``"unknown"``: 5xx, 408, -1006/-1007, or a 2xx answer without a readable code (not JSON, an
      unexpected element): the order may or may not exist, resolve it by client order id;
    * ``"exists"``: a duplicate client order id (spot -2010 "Duplicate order sent.", USD-M -4116):
      an order with this id is already at the exchange; resolve it by client order id;
    * ``"rejected"``: any other refusal; the order does not exist.
    """
    if status in (418, 429):
        return "not_sent"
    if status >= 500 or status == 408 or code in UNKNOWN_OUTCOME_CODES:
        return "unknown"
    if is_duplicate(code, msg):
        return "exists"
    if code is None and status < 400:
        return "unknown"
    return "rejected"


#: An order refused by one of the symbol's filters ("Filter failure: ...").
FILTER_FAILURE = -1013
#: Spot's "order archived": the order existed (canceled/expired without fills long ago).
ORDER_ARCHIVED = -2026


def is_filter_failure(code: int | None, msg: str | None) -> bool:
    """True if an order was refused for one of the symbol's filters (-1013 "Filter failure")."""
    return code == FILTER_FAILURE or "Filter failure" in (msg or "")


def error_parts(data: Any, text: str = "") -> tuple[int | None, str]:
    """``(code, msg)`` of a Binance error body ``{"code": -1013, "msg": "..."}``."""
    if isinstance(data, Mapping) and "code" in data:
        try:
            code: int | None = int(data["code"])
        except (TypeError, ValueError):
            code = None
        return code, str(data.get("msg", ""))
    return None, text.strip()[:200]
