"""Request security: Binance's published signature vectors, keys, timestamps."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest

from toolkit.paper import FaultConfig, PaperExchange
from toolkit.paper._auth import split_signature

SPOT_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
V1 = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
V1_SIG = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
V2 = (
    "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT"
    "&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)
V2_SIG = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
V3_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
V3_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
V3_SIG = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
FUT_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
FUT_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
FUT = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
FUT_SIG = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
FUT_MIXED_SIG = "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"


def _hmac(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("secret", "payload", "expected"),
    [
        (SPOT_SECRET, V1, V1_SIG),
        (SPOT_SECRET, V2, V2_SIG),
        (SPOT_SECRET, V3_QUERY + V3_BODY, V3_SIG),
        (
            SPOT_SECRET,
            "timestamp=1578963600000",
            "d84e6641b1e328e7b418fff030caed655c266299c9355e36ce801ed14631eed4",
        ),
        (FUT_SECRET, FUT, FUT_SIG),
    ],
)
def test_vectors_of_the_docs(secret: str, payload: str, expected: str) -> None:
    assert _hmac(secret, payload) == expected


def test_server_payload_is_query_plus_body_without_signature() -> None:
    payload, sig = split_signature(V3_QUERY, V3_BODY + "&signature=" + V3_SIG)
    assert payload == (V3_QUERY + V3_BODY).encode()
    assert sig == V3_SIG
    payload, sig = split_signature(V1 + "&signature=" + V1_SIG, "")
    assert (payload, sig) == (V1.encode(), V1_SIG)


def _at(ts: int) -> FaultConfig:
    """Fault config whose clock skew puts the server clock at ``ts``."""
    return FaultConfig(clock_skew_ms=ts - time.time() * 1000 + 100)


async def test_spot_vectors_are_accepted_over_http(paper: PaperExchange, make_client: Any) -> None:
    paper.add_key(SPOT_KEY, SPOT_SECRET)
    paper.configure_faults(_at(1499827319559))
    c = make_client(SPOT_KEY, SPOT_SECRET)
    # the signature passes; LTCBTC / the fullwidth symbol are not listed here -> -1121
    for query, body in (
        (V1 + "&signature=" + V1_SIG, ""),
        (V2 + "&signature=" + V2_SIG, ""),
        (V3_QUERY, V3_BODY + "&signature=" + V3_SIG),
    ):
        r = await c.raw("POST", "/api/v3/order", query=query, body=body)
        assert (r.status, r.code) == (400, -1121), r.body
    r = await c.raw("POST", "/api/v3/order", query=V1 + "&signature=" + V2_SIG)
    assert (r.status, r.code, r.body["msg"]) == (
        400,
        -1022,
        "Signature for this request is not valid.",
    )


async def test_futures_vector_places_an_order(paper: PaperExchange, make_client: Any) -> None:
    paper.add_key(FUT_KEY, FUT_SECRET)
    paper.configure_faults(_at(1591702613943))
    c = make_client(FUT_KEY, FUT_SECRET)
    r = await c.raw("POST", "/fapi/v1/order", body=FUT + "&signature=" + FUT_SIG)
    assert r.status == 200, r.body
    assert (r.body["status"], r.body["price"], r.body["origQty"]) == ("NEW", "9000.00", "1.000")
    # mixed: query + body, the corrected doc example
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
    r = await c.raw(
        "POST", "/fapi/v1/order", query=query, body=body + "&signature=" + FUT_MIXED_SIG.upper()
    )  # hex digits are not case sensitive
    assert r.status == 200, r.body


async def test_key_errors(client: Any, make_client: Any) -> None:
    stranger = make_client("nobody", "secret")
    r = await stranger.get("/api/v3/account")
    assert (r.status, r.code, r.body["msg"]) == (
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action.",
    )
    r = await client.raw(
        "GET", "/fapi/v2/balance", query="timestamp=1", headers={"X-MBX-APIKEY": ""}
    )
    assert (r.status, r.code) == (401, -2014)
    r = await client.get("/api/v3/account", secret="wrong")
    assert (r.status, r.code) == (400, -1022)
    r = await client.raw("GET", "/api/v3/account", query=f"timestamp={int(time.time() * 1000)}")
    assert (r.status, r.code) == (400, -1102)
    assert "'signature'" in r.body["msg"]


async def test_timestamp_window(client: Any) -> None:
    now = int(time.time() * 1000)
    r = await client.get("/api/v3/account", timestamp=now - 6000)
    assert (r.status, r.code, r.body["msg"]) == (
        400,
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    )
    r = await client.get("/api/v3/account", timestamp=now - 6000, recv_window=10000)
    assert r.status == 200
    # 3 s ahead of a clock read just now (1 s ahead is refused; no earlier request counts)
    r = await client.get("/fapi/v2/balance", timestamp=int(time.time() * 1000) + 3000)
    assert (r.code, r.body["msg"]) == (
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )
    r = await client.get("/api/v3/account", recv_window=70000)
    assert r.code == -1131
    r = await client.get("/api/v3/account", timestamp=now * 1000)  # microseconds (spot)
    assert r.status == 200


async def test_query_string_wins_over_body(client: Any, limit_order: Any) -> None:
    ts = int(time.time() * 1000)
    query = "symbol=BTCUSDT&quantity=0.002"
    body = (
        f"symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=89000"
        f"&timestamp={ts}"
    )
    body += "&signature=" + _hmac(client.secret, query + body)
    r = await client.raw("POST", "/api/v3/order", query=query, body=body)
    assert r.status == 200, r.body
    assert (r.body["symbol"], r.body["origQty"]) == ("BTCUSDT", "0.00200000")
