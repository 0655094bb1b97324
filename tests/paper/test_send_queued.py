"""The paper exchange's one socket writer (``send_queued``): in order, and a gone key or a failed
send closes the socket at once (a client stops hearing instead of waiting for a timeout)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiohttp import web

from toolkit.paper._userstream import send_queued


class _Socket:
    """What ``send_queued`` uses of a ``WebSocketResponse``: ``send_str``, ``close``, ``closed``;
    the send number ``fail_at`` (1-based) raises as a dropped connection does."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[str] = []
        self.closes = 0
        self.fail_at = fail_at

    @property
    def closed(self) -> bool:
        return self.closes > 0

    async def send_str(self, text: str) -> None:
        if self.fail_at is not None and len(self.sent) + 1 == self.fail_at:
            raise ConnectionResetError("peer gone")
        self.sent.append(text)

    async def close(self) -> None:
        self.closes += 1


async def _run(ws: _Socket, items: list[str | None]) -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    # ends by itself (nothing more is queued: a hang is the bug; 60 s is a bound, not a window)
    await asyncio.wait_for(send_queued(cast(web.WebSocketResponse, ws), queue), 60)


async def test_messages_go_in_order_until_none_closes_the_socket() -> None:
    ws = _Socket()
    await _run(ws, ["a", "b", None, "after"])
    assert ws.sent == ["a", "b"]
    assert ws.closes == 1


async def test_a_failed_send_closes_the_socket_and_sends_nothing_more() -> None:
    ws = _Socket(fail_at=2)
    await _run(ws, ["a", "b", "c"])  # no None: only the failure can end it
    assert ws.sent == ["a"]
    assert ws.closes == 1


async def test_a_socket_closed_by_its_handler_is_not_closed_again() -> None:
    ws: Any = _Socket()
    await ws.close()  # the reading side saw the client leave
    await _run(ws, ["a"])
    assert ws.sent == []
    assert ws.closes == 1
