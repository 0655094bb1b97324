"""HMAC-SHA256 signing of the exact bytes sent, and the one way parameters become those bytes.

Binance signs ``query string + body`` with the API secret (lower-case hex HMAC-SHA256). Since the
spot change of 2025-12-17 the payload must be percent-encoded *before* it is signed, so this module
both encodes and signs: :func:`encode_params` builds the wire string, :class:`Signer` signs that
very string, and the transport sends it byte for byte. Values are exact strings: decimals through
``format(d, "f")``, booleans as ``true``/``false``, lists and dicts as compact JSON. Floats are
refused, because ``0.1`` is not a decimal.

Example::

    >>> from decimal import Decimal
    >>> from toolkit.binance._signing import Signer, encode_params
    >>> payload = encode_params({"symbol": "BTCUSDT", "quantity": Decimal("0.0010")})
    >>> payload
    'symbol=BTCUSDT&quantity=0.0010'
    >>> len(Signer("secret").sign(payload))
    64
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

__all__ = ["Signer", "encode_params", "wire_value", "ws_api_payload"]


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return wire_value(value)
    raise TypeError(f"cannot put {type(value).__name__} on the wire")


def wire_value(value: Any) -> str:
    """One parameter value as the exact string Binance expects (never a float).

    The one place a value becomes wire text: :func:`encode_params`, the JSON of ``batchOrders``
    and :func:`toolkit.binance._wire.order_params` all use it. Decimals go through
    ``format(d, "f")`` (no exponent); a non-finite decimal raises ``ValueError``.
    """
    kind = type(value)
    if kind is str:  # the common cases first: exact types, so bool never passes for int
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite decimal {value!r} cannot go on the wire")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, float):
                raise TypeError("floats are not exact: pass Decimal or str")
        return json.dumps(value, separators=(",", ":"), default=_json_default)
    if isinstance(value, float):
        raise TypeError("floats are not exact: pass Decimal or str")
    if hasattr(value, "value") and isinstance(value.value, str):  # str enums
        return str(value.value)
    raise TypeError(f"cannot put {type(value).__name__} on the wire")


#: Text ``quote(text, safe="")`` leaves as it is: RFC 3986's unreserved characters only.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quote(text: str) -> str:
    # Nearly every parameter (names, symbols, numbers, ids) needs no escaping; a regex test is a
    # tenth of what quote() costs, and this runs ~15 times per order.
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="")


@functools.lru_cache(maxsize=512)
def _name(key: Any) -> str:
    # parameter names repeat from request to request: each is quoted once
    return _quote(str(key)) + "="


def encode_params(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """Percent-encode ``params`` (in order, ``None`` values dropped) into ``k=v&k=v``.

    Everything outside RFC 3986's unreserved set is escaped (``"`` ``[`` ``:`` ``/`` and non-ASCII
    included), which is what Binance requires before signing and what every server decodes.
    """
    items = params.items() if isinstance(params, Mapping) else params
    return "&".join(
        [_name(key) + _quote(wire_value(value)) for key, value in items if value is not None]
    )


def ws_api_payload(params: Mapping[str, Any]) -> str:
    """What a WebSocket API request signs: every param but ``signature``, sorted by name.

    Binance's spot WebSocket API docs ("SIGNED request security"): ``name=value`` pairs in
    alphabetical order of the names, joined with ``&``, values percent-encoded as for REST.

    Example::

        >>> ws_api_payload({"timestamp": 2, "apiKey": "k"})
        'apiKey=k&timestamp=2'
    """
    return encode_params(sorted((k, v) for k, v in params.items() if k != "signature"))


class Signer:
    """Signs payloads with an API secret; the secret never shows in ``repr`` or ``str``."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("an API secret is required to sign requests")
        self._secret = secret.encode()

    def sign(self, payload: str | bytes) -> str:
        """Lower-case hex HMAC-SHA256 of ``payload`` (query string + body, exactly as sent)."""
        data = payload.encode() if isinstance(payload, str) else payload
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "Signer(secret=***)"

    __str__ = __repr__
