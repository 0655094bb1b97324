"""Binance requests built and signed by hand: the floor needs nothing but bytes to send.

Independent of the toolkit's own request code on purpose, so that the floor measures the wire
and the server, not our implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from ._orders import BenchOrder

__all__ = ["SignedRequest", "batch_requests", "new_run_id", "spot_requests"]

RECV_WINDOW = 60_000
#: Spot: ``RESULT`` (status, quantities, no fills list) — what the toolkit's adapter asks for.
SPOT_RESP_TYPE = "RESULT"
USDM_BATCH = 5
_runs = itertools.count()


@dataclass(frozen=True)
class SignedRequest:
    """One ready-to-send POST: path and form body (signature included)."""

    path: str
    body: bytes
    orders: int


def new_run_id() -> str:
    """A short id that makes client order ids unique across runs of one process."""
    return f"b{int(time.time() * 1000) % 10**9:09d}{next(_runs):03d}"


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _leg(order: BenchOrder, client_id: str) -> dict[str, str]:
    params = {
        "symbol": order.symbol,
        "side": order.side.upper(),
        "type": order.type.upper(),
        "quantity": order.qty,
        "newClientOrderId": client_id,
    }
    if order.price is not None:
        params["price"] = order.price
        params["timeInForce"] = "GTC"
    return params


def spot_requests(orders: list[BenchOrder], secret: str, run_id: str) -> list[SignedRequest]:
    """One signed ``POST /api/v3/order`` per order."""
    ts = int(time.time() * 1000)
    out = []
    for i, order in enumerate(orders):
        params = _leg(order, f"{run_id}-{i}")
        params["newOrderRespType"] = SPOT_RESP_TYPE
        params["recvWindow"] = str(RECV_WINDOW)
        params["timestamp"] = str(ts)
        payload = urlencode(params)
        body = f"{payload}&signature={_sign(secret, payload)}"
        out.append(SignedRequest("/api/v3/order", body.encode(), 1))
    return out


def batch_requests(orders: list[BenchOrder], secret: str, run_id: str) -> list[SignedRequest]:
    """Signed ``POST /fapi/v1/batchOrders`` requests of at most 5 orders each."""
    ts = int(time.time() * 1000)
    out = []
    for start in range(0, len(orders), USDM_BATCH):
        chunk = orders[start : start + USDM_BATCH]
        legs = [_leg(o, f"{run_id}-{start + j}") for j, o in enumerate(chunk)]
        encoded = quote(json.dumps(legs, separators=(",", ":")), safe="")
        payload = f"batchOrders={encoded}&recvWindow={RECV_WINDOW}&timestamp={ts}"
        body = f"{payload}&signature={_sign(secret, payload)}"
        out.append(SignedRequest("/fapi/v1/batchOrders", body.encode(), len(chunk)))
    return out
