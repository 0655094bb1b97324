"""Regressions: a client's broken request is its error, never an "unexpected error" of the server.

Before the fix the paper exchange answered a body over aiohttp's 1 MiB limit with a 500, and
logged "unexpected error" with a traceback for each one of those and for each client that left
in the middle of its body -- any client could fill its log.
"""

from __future__ import annotations

import asyncio
import io
import logging

import aiohttp
import pytest

from toolkit.paper import PaperExchange


async def test_an_oversized_body_is_a_413_and_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="toolkit.paper")
    ex = PaperExchange(price_mode="fixed")
    await ex.start()
    try:
        key, _ = ex.create_key()
        async with aiohttp.ClientSession() as http:
            async with http.post(
                ex.url + "/api/v3/order",
                data=io.BytesIO(b"a=" + b"x" * (2 * 1024 * 1024)),
                headers={"X-MBX-APIKEY": key,
                         "Content-Type": "application/x-www-form-urlencoded"},
            ) as resp:  # fmt: skip
                status, body = resp.status, await resp.json(content_type=None)
            async with http.get(ex.url + "/api/v3/time") as resp:  # still serving
                assert resp.status == 200
        assert status == 413
        assert body["code"] == -1000
        assert "too large" in body["msg"]
        assert [r.getMessage() for r in caplog.records] == []
    finally:
        await ex.stop()


async def test_a_client_leaving_mid_body_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """Before the fix each such client made the server log an "unexpected error" traceback."""
    caplog.set_level(logging.ERROR, logger="toolkit.paper")
    ex = PaperExchange(price_mode="fixed")
    await ex.start()
    try:
        port = int(ex.url.rsplit(":", 1)[1])
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /api/v3/order HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as http, http.get(ex.url + "/api/v3/time") as resp:
            assert resp.status == 200
        assert [r.getMessage() for r in caplog.records] == []
    finally:
        await ex.stop()


async def test_a_trickled_body_is_a_408_and_its_connection_is_not_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that never finishes its body got its connection held until it gave up (any
    number of them could hold the server); now it is answered 408 after ``body_timeout``."""
    caplog.set_level(logging.ERROR, logger="toolkit.paper")
    ex = PaperExchange(price_mode="fixed", body_timeout=0.3)
    await ex.start()
    try:
        port = int(ex.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /api/v3/order HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
        await writer.drain()  # ... and the rest never comes
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        assert head.startswith(b"HTTP/1.1 408 ")
        assert b"Connection: close" in head
        writer.close()
        await writer.wait_closed()
        assert ex.counters()["responses_by_status"] == {"408": 1}
        assert [r.getMessage() for r in caplog.records] == []
        with pytest.raises(ValueError, match="body_timeout"):
            PaperExchange(body_timeout=0)
    finally:
        await ex.stop()
