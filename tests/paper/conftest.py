"""A tiny, independent Binance REST client for the paper-exchange tests.

It signs exactly the bytes it sends (HMAC-SHA256 over query + body) and does not use toolkit's
own client code, so these tests check the server against the protocol, not against ourselves.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from yarl import URL

from toolkit.paper import PaperExchange


def sign(secret: str, payload: str | bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``payload``."""
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


@dataclass
class Reply:
    """One answer: HTTP status, parsed JSON body, headers."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def code(self) -> int | None:
        """Binance error code, if the body is an error."""
        return self.body.get("code") if isinstance(self.body, dict) else None


class Client:
    """Sends (optionally signed) requests to a paper exchange."""

    def __init__(self, session: aiohttp.ClientSession, url: str, key: str, secret: str) -> None:
        self.session = session
        self.url = url
        self.key = key
        self.secret = secret

    async def raw(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send exactly ``query`` and ``body``."""
        url = self.url + path + ("?" + query if query else "")
        hdrs = {"X-MBX-APIKEY": self.key}
        if body:
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        hdrs.update(headers or {})
        async with self.session.request(
            method,
            URL(url, encoded=True),
            data=body.encode() if body else None,
            headers=hdrs,
        ) as resp:
            text = await resp.text()
            try:
                parsed: Any = await resp.json(content_type=None)
            except ValueError:
                parsed = text
            return Reply(resp.status, parsed, resp.headers)

    async def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        signed: bool = True,
        in_body: bool | None = None,
        recv_window: int | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Reply:
        """Encode ``params`` (form encoding), add timestamp and signature, send."""
        items = {k: v for k, v in (params or {}).items() if v is not None}
        if signed:
            if recv_window is not None:
                items["recvWindow"] = recv_window
            items["timestamp"] = timestamp if timestamp is not None else int(time.time() * 1000)
        encoded = urlencode([(k, str(v)) for k, v in items.items()])
        if signed:
            encoded += "&signature=" + sign(secret or self.secret, encoded)
        body_side = in_body if in_body is not None else method in ("POST", "PUT")
        if body_side:
            return await self.raw(method, path, body=encoded)
        return await self.raw(method, path, query=encoded)

    def get(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        """GET."""
        return self.call("GET", path, params, **kw)

    def post(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        """POST."""
        return self.call("POST", path, params, **kw)

    def delete(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        """DELETE."""
        return self.call("DELETE", path, params, **kw)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One client session per test."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def client(paper: PaperExchange, session: aiohttp.ClientSession) -> Client:
    """A client with a fresh key on the ``paper`` exchange."""
    key, secret = paper.create_key()
    return Client(session, paper.url, key, secret)


def limit(
    symbol: str = "BTCUSDT",
    side: str = "BUY",
    qty: str = "0.001",
    price: str = "89000",
    **extra: Any,
) -> dict[str, Any]:
    """Parameters of a GTC LIMIT order."""
    return {
        "symbol": symbol,
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": price,
        **extra,
    }


@pytest.fixture
def limit_order() -> Any:
    """The :func:`limit` parameter builder."""
    return limit


@pytest.fixture
def make_client(paper: PaperExchange, session: aiohttp.ClientSession) -> Any:
    """``make_client(key=None, secret=None)``: a client for a given (or a new) key pair."""

    def make(key: str | None = None, secret: str | None = None) -> Client:
        if key is None or secret is None:
            key, secret = paper.create_key()
        return Client(session, paper.url, key, secret)

    return make


# -- the spot WebSocket API (user-data subscription) ----------------------------------------------

#: Generous bound for an answer that should arrive in milliseconds (never decides an outcome).
WAIT = 10.0


def signed(params: dict[str, Any], secret: str) -> dict[str, Any]:
    """``params`` plus the WebSocket API signature (sorted ``k=v&...``, HMAC-SHA256 hex)."""
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    return {
        **params,
        "signature": hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest(),
    }


async def receive(ws: Any, predicate: Any) -> dict[str, Any]:
    """The next JSON message matching ``predicate`` (others are skipped)."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), WAIT)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        body: dict[str, Any] = json.loads(msg.data)
        if predicate(body):
            return body


async def subscribe(ws: Any, key: str, secret: str, ident: str = "s1") -> dict[str, Any]:
    params = signed({"apiKey": key, "timestamp": int(time.time() * 1000)}, secret)
    await ws.send_json(
        {"id": ident, "method": "userDataStream.subscribe.signature", "params": params}
    )
    return await receive(ws, lambda b: b.get("id") == ident)
