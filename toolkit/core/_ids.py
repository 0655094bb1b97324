"""Deterministic client order ids, batch ids and the client-order-id patterns of Binance.

Every order carries a client order id chosen *before* it is sent, so that an order whose outcome is
unknown can be found again at the exchange, and a re-run of the same batch ``key`` produces the same
ids (the exchange and the store then recognise the orders instead of placing them twice).

An id is ``"tk"`` + 30 hex characters of ``sha256(id_seed, position, row fingerprint)``:

* ``id_seed`` is the batch ``key`` when one is given (same key, same rows -> same ids) or a random
  batch id from :func:`new_batch_id` (ids unique per call);
* 32 characters from ``[a-z0-9]`` fit both markets' patterns (spot ``^[a-zA-Z0-9-_]{1,36}$``,
  USD-M ``^[\\.A-Z\\:/a-z0-9_-]{1,36}$``) and leave 120 bits against collisions.

Example::

    >>> from toolkit.core._ids import client_order_id, is_valid_client_order_id
    >>> from toolkit.core._models import Market
    >>> cid = client_order_id("rebalance-2026-11-25", 0, "f" * 64)
    >>> cid == client_order_id("rebalance-2026-11-25", 0, "f" * 64), len(cid)
    (True, 32)
    >>> is_valid_client_order_id(cid, Market.SPOT) and is_valid_client_order_id(cid, Market.USDM)
    True
"""

from __future__ import annotations

import hashlib
import re
import uuid

from ._models import Market

__all__ = [
    "CLIENT_ORDER_ID_PATTERNS",
    "ID_PREFIX",
    "client_order_id",
    "is_valid_client_order_id",
    "new_batch_id",
]

#: Every generated client order id starts with this (so toolkit's orders are recognisable).
ID_PREFIX = "tk"
_HASH_CHARS = 30

#: Binance's accepted client order ids per market (the ``newClientOrderId`` docs). The spot docs
#: write ``[a-zA-Z0-9-_]``, where ``9-_`` would literally be a range; the server means
#: ``[A-Za-z0-9_-]``.
CLIENT_ORDER_ID_PATTERNS: dict[Market, re.Pattern[str]] = {
    Market.SPOT: re.compile(r"[A-Za-z0-9_-]{1,36}"),
    Market.USDM: re.compile(r"[.A-Z:/a-z0-9_-]{1,36}"),
}


def new_batch_id() -> str:
    """A fresh random batch id (32 hex characters).

    Example::

        >>> len(new_batch_id())
        32
    """
    return uuid.uuid4().hex


def client_order_id(id_seed: str, position: int, fingerprint: str) -> str:
    """The deterministic client order id of the row at ``position`` with ``fingerprint``.

    ``id_seed`` is the batch key (re-runs reproduce the ids) or a random batch id.

    Example::

        >>> client_order_id("k", 0, "abc") != client_order_id("k", 1, "abc")
        True
    """
    # Unit separators keep ("a", 12) and ("a1", 2) apart.
    material = f"toolkit-cid-v1\x1f{id_seed}\x1f{position}\x1f{fingerprint}".encode()
    return ID_PREFIX + hashlib.sha256(material).hexdigest()[:_HASH_CHARS]


def is_valid_client_order_id(value: str, market: Market) -> bool:
    """True if Binance accepts ``value`` as a client order id on ``market``.

    Example::

        >>> is_valid_client_order_id("my.order:1", Market.USDM), is_valid_client_order_id(
        ...     "my.order:1", Market.SPOT)
        (True, False)
    """
    return CLIENT_ORDER_ID_PATTERNS[market].fullmatch(value) is not None
