"""Shutdown closes every registered closer, each within its own bounded wait."""

from __future__ import annotations

import asyncio
import time

import pytest

from toolkit.runtime import _runner

pytestmark = pytest.mark.loop


def test_stuck_closers_do_not_keep_the_others_from_closing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_runner, "CLOSE_TIMEOUT", 0.2)
    closed: list[str] = []

    async def stuck() -> None:
        await asyncio.sleep(30)

    async def stubborn() -> None:  # ignores the first cancellation
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(30)

    async def failing() -> None:
        raise asyncio.CancelledError  # a closer whose own work was cancelled

    async def session() -> None:
        closed.append("session")

    async def server() -> None:
        closed.append("server")

    _runner.register_closer(server, order=10)
    for closer in (stubborn, stuck, stuck, stuck, failing, stuck):
        _runner.register_closer(closer, order=0)
    _runner.register_closer(session, order=0)
    started = time.monotonic()
    _runner.shutdown()
    assert closed == ["session", "server"]
    # each group waits 0.2 s for its stuck closers (~0.6 s in all), never their 30 s sleeps;
    # the bound leaves a loaded machine ample room
    assert time.monotonic() - started < 15.0
    assert _runner.run(asyncio.sleep(0, result="again")) == "again"
