"""The order gate: ``hold_orders(after=n)`` answers n order requests and holds the rest, read but
not processed, until ``release_orders()`` -- so a test sees a client mid-batch without a timer."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp

from toolkit.paper import PaperExchange

ORDER = "/api/v3/order"


async def _until(predicate: Any, what: str) -> None:
    """Wait (bounded, generously) until ``predicate()`` holds; the outcome never depends on it."""
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_hold_answers_n_orders_and_holds_the_rest(
    paper: PaperExchange, client: Any, limit_order: Any
) -> None:
    paper.hold_orders(after=2)
    sends = [
        asyncio.ensure_future(client.post(ORDER, limit_order(newClientOrderId=f"h{i}")))
        for i in range(5)
    ]
    await _until(lambda: paper.counters()["gate"]["held"] == 3, "3 held requests")
    # reads are never held
    assert (await client.get("/api/v3/openOrders", {"symbol": "BTCUSDT"})).status == 200
    assert len(paper.orders(client.key)) == 2  # held requests created no order
    assert sum(s.done() for s in sends) == 2
    assert paper.counters()["gate"] == {"holding": True, "passed": 2, "held": 3, "passes_left": 0}
    paper.release_orders()
    replies = await asyncio.gather(*sends)
    assert [r.status for r in replies] == [200] * 5
    assert len(paper.orders(client.key)) == 5
    assert paper.counters()["gate"]["holding"] is False


async def test_hold_and_release_admin_endpoints(
    paper: PaperExchange, session: aiohttp.ClientSession, client: Any, limit_order: Any
) -> None:
    async def admin(path: str, body: Any) -> tuple[int, Any]:
        async with session.post(paper.url + path, json=body) as r:
            return r.status, await r.json()

    assert (await admin("/paper/hold", {"after": "x"}))[0] == 400
    status, gate = await admin("/paper/hold", {"after": 0})
    assert (status, gate["holding"], gate["passes_left"]) == (200, True, 0)
    send = asyncio.ensure_future(client.post(ORDER, limit_order(newClientOrderId="held")))
    await _until(lambda: paper.counters()["gate"]["held"] == 1, "the held request")
    assert not send.done()
    status, gate = await admin("/paper/release", {})
    assert (status, gate["holding"]) == (200, False)
    assert (await send).status == 200


async def test_stop_releases_held_requests(client: Any, limit_order: Any) -> None:
    ex = PaperExchange(price_mode="fixed")
    await ex.start()
    key, secret = ex.create_key()
    client.url, client.key, client.secret = ex.url, key, secret
    ex.hold_orders()
    send = asyncio.ensure_future(client.post(ORDER, limit_order()))
    await _until(lambda: ex.counters()["gate"]["held"] == 1, "the held request")
    await ex.stop()  # must not wait for the held request forever
    with contextlib.suppress(aiohttp.ClientError):  # either answer is fine: the stop matters
        await send


async def test_a_new_hold_lets_the_longest_held_go_first(
    paper: PaperExchange, client: Any, limit_order: Any
) -> None:
    paper.hold_orders(after=0)
    sends = []
    for i in range(4):  # one after the other: the held order is the arrival order
        sends.append(
            asyncio.ensure_future(client.post(ORDER, limit_order(newClientOrderId=f"s{i}")))
        )
        await _until(lambda i=i: paper.counters()["gate"]["held"] == i + 1, f"{i + 1} held")
    paper.hold_orders(after=2)  # two more: the first two held
    await _until(lambda: sum(s.done() for s in sends) == 2, "two answers")
    assert [s.done() for s in sends] == [True, True, False, False]
    assert paper.counters()["gate"] == {"holding": True, "passed": 2, "held": 2, "passes_left": 0}
    paper.release_orders()
    assert [r.status for r in await asyncio.gather(*sends)] == [200] * 4
