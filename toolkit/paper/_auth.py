"""Keys, request parameters and Binance's request security (signature, timestamp).

The signature is checked over the bytes *as received*: the raw query string concatenated with the
raw body, minus the ``signature`` parameter. That single rule accepts every client encoding in the
wild (ccxt's raw JSON, percent-encoded JSON, python-binance's ``+`` spaces), as Binance does.
"""

from __future__ import annotations

import hmac
import secrets
import time
from hashlib import sha256
from urllib.parse import parse_qsl

from ._errors import PaperError, mandatory

__all__ = [
    "KeyStore",
    "check_timestamp",
    "parse_params",
    "split_signature",
]

_DUPLICATE = PaperError(-1101, "Duplicate values for a parameter detected.")
_BAD_SIGNATURE = PaperError(-1022, "Signature for this request is not valid.")
_BAD_KEY = PaperError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
_KEY_FORMAT = PaperError(-2014, "API-key format invalid.", 401)
_AHEAD = PaperError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
_OUTSIDE = PaperError(-1021, "Timestamp for this request is outside of the recvWindow.")
_RECV_WINDOW = PaperError(-1131, "recvWindow must be less than 60000")


class KeyStore:
    """API key -> secret. Keys are case sensitive; secrets are kept as bytes for HMAC."""

    def __init__(self) -> None:
        self._secrets: dict[str, bytes] = {}

    def __contains__(self, api_key: object) -> bool:
        return api_key in self._secrets

    def __len__(self) -> int:
        return len(self._secrets)

    def keys(self) -> list[str]:
        """Every registered API key (never the secrets)."""
        return list(self._secrets)

    def add(self, api_key: str, api_secret: str) -> None:
        """Register (or replace) a pair."""
        if not api_key or not api_secret:
            raise ValueError("api_key and api_secret must be non-empty")
        self._secrets[api_key] = api_secret.encode()

    def create(self) -> tuple[str, str]:
        """A new random pair, registered; 64 alphanumeric characters each, like Binance's."""
        api_key = secrets.token_hex(32)
        api_secret = secrets.token_hex(32)
        self.add(api_key, api_secret)
        return api_key, api_secret

    def authenticate(self, api_key: str | None) -> bytes:
        """The secret of ``api_key``; ``-2014``/``-2015`` when missing or unknown."""
        if not api_key:
            raise _KEY_FORMAT
        secret = self._secrets.get(api_key)
        if secret is None:
            raise _BAD_KEY
        return secret

    def verify(self, secret: bytes, payload: bytes, signature: str) -> None:
        """``-1022`` unless ``signature`` is the HMAC-SHA256 hex of ``payload`` (any case)."""
        expected = hmac.new(secret, payload, sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise _BAD_SIGNATURE


def parse_params(query: str, body: str) -> dict[str, str]:
    """Query and form-body parameters; the query-string value wins over the body.

    A parameter repeated within the query or within the body is ``-1101``.
    """
    params: dict[str, str] = {}
    if body:
        for name, value in parse_qsl(body, keep_blank_values=True):
            if name in params:
                raise _DUPLICATE
            params[name] = value
    if query:
        seen: set[str] = set()
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name in seen:
                raise _DUPLICATE
            seen.add(name)
            params[name] = value
    return params


def _strip(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=`` parameter, and that parameter's raw value."""
    start = 0 if raw.startswith("signature=") else raw.rfind("&signature=")
    if start < 0:
        return raw, None
    value_at = raw.index("=", start) + 1
    end = raw.find("&", value_at)
    value = raw[value_at:] if end < 0 else raw[value_at:end]
    if start == 0:
        rest = "" if end < 0 else raw[end + 1 :]
    else:
        rest = raw[:start] + ("" if end < 0 else raw[end:])
    return rest, value


def split_signature(query: str, body: str) -> tuple[bytes, str]:
    """The signed payload (query + body without ``signature``) and the signature sent."""
    query_rest, signature = _strip(query)
    body_rest = body
    if signature is None:
        body_rest, signature = _strip(body)
    if not signature:
        raise mandatory("signature")
    # the query arrives as text (non-ASCII kept as surrogates); the body was decoded as latin-1,
    # so both encode back to exactly the bytes received.
    payload = query_rest.encode("utf-8", "surrogateescape") + body_rest.encode("latin-1")
    return payload, signature


def check_timestamp(params: dict[str, str], skew_ms: float = 0.0) -> None:
    """Binance's timing rule: ``-1021`` when ahead by 1000 ms or older than ``recvWindow``."""
    raw = params.get("timestamp")
    if not raw:
        raise mandatory("timestamp")
    try:
        timestamp = int(raw)
    except ValueError:
        raise mandatory("timestamp") from None
    if timestamp > 10**14:  # microseconds, accepted by spot
        timestamp //= 1000
    window = 5000.0
    raw_window = params.get("recvWindow")
    if raw_window:
        try:
            window = float(raw_window)
        except ValueError:
            raise mandatory("recvWindow") from None
        if window > 60000 or window < 0:
            raise _RECV_WINDOW
    now = time.time() * 1000.0 + skew_ms
    if timestamp >= now + 1000:
        raise _AHEAD
    if now - timestamp > window:
        raise _OUTSIDE
