"""The I/O loop runner: run() from anywhere, call() from any loop, shutdown, fork."""

from __future__ import annotations

import asyncio
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from toolkit.runtime import _runner

pytestmark = pytest.mark.loop


async def _where() -> tuple[int, asyncio.AbstractEventLoop]:
    await asyncio.sleep(0)
    return threading.get_ident(), asyncio.get_running_loop()


def test_run_uses_one_loop_on_its_own_thread() -> None:
    ident1, loop1 = _runner.run(_where())
    ident2, loop2 = _runner.run(_where())
    assert loop1 is loop2 is _runner.get_loop()
    assert ident1 == ident2 != threading.get_ident()


def test_run_from_many_threads() -> None:
    with ThreadPoolExecutor(8) as pool:
        loops = list(pool.map(lambda _: _runner.run(_where())[1], range(40)))
    assert all(loop is loops[0] for loop in loops)


async def test_sync_run_inside_a_running_loop() -> None:
    def legacy_sync_code() -> int:  # e.g. a sync helper called from a notebook cell
        return _runner.run(asyncio.sleep(0.01, result=42))

    assert legacy_sync_code() == 42


def test_repeated_asyncio_run_calls_share_the_io_loop() -> None:
    async def main() -> asyncio.AbstractEventLoop:
        return (await _runner.call(_where()))[1]

    first = asyncio.run(main())
    second = asyncio.run(main())
    assert first is second is _runner.get_loop()


def test_run_on_the_io_thread_raises() -> None:
    async def nested() -> None:
        _runner.run(asyncio.sleep(0))  # the coroutine is closed, not leaked

    with pytest.raises(RuntimeError, match="I/O thread"):
        _runner.run(nested())


async def test_call_on_the_io_loop_awaits_directly() -> None:
    async def inner() -> asyncio.AbstractEventLoop:
        return await _runner.call(_where()) and asyncio.get_running_loop()

    assert await _runner.call(inner()) is _runner.get_loop()


async def test_cancelling_the_caller_cancels_the_io_task() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.ensure_future(_runner.call(slow()))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.get_running_loop().run_in_executor(None, cancelled.wait, 5)


def test_run_timeout_cancels() -> None:
    with pytest.raises(TimeoutError):
        _runner.run(asyncio.sleep(10), timeout=0.05)


def test_exceptions_propagate() -> None:
    async def boom() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        _runner.run(boom())


def test_ui_dispatch_runs_on_the_blocked_callers_thread() -> None:
    seen: list[int] = []

    async def work() -> None:
        dispatch = _runner.ui_dispatcher()
        assert dispatch is not None
        dispatch(lambda: seen.append(threading.get_ident()))

    _runner.run(work())
    assert seen == [threading.get_ident()]


async def test_ui_dispatch_runs_on_the_callers_loop() -> None:
    seen: list[int] = []

    async def work() -> None:
        dispatch = _runner.ui_dispatcher()
        assert dispatch is not None
        dispatch(lambda: seen.append(threading.get_ident()))

    await _runner.call(work())
    await asyncio.sleep(0)
    assert seen == [threading.get_ident()]


def test_shutdown_runs_closers_in_order_then_restarts() -> None:
    order: list[str] = []

    async def server() -> None:
        order.append("server")

    async def session() -> None:
        order.append("session")

    first = _runner.generation()
    _runner.register_closer(server, order=10)
    _runner.register_closer(session, order=0)
    old_loop = _runner.get_loop()
    _runner.shutdown()
    assert order == ["session", "server"]
    assert old_loop.is_closed()
    assert _runner.generation() == first + 1
    assert _runner.run(asyncio.sleep(0, result="again")) == "again"


def test_shutdown_cancels_leftover_tasks() -> None:
    async def start() -> asyncio.Task[None]:
        return _runner.spawn(asyncio.sleep(60))

    task = _runner.run(start())
    _runner.shutdown()
    assert task.cancelled()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_its_own_loop() -> None:
    parent_loop = _runner.get_loop()
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() of a threaded process
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            ok = (
                _runner.get_loop() is not parent_loop
                and _runner.run(asyncio.sleep(0, result=7)) == 7
            )
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert _runner.get_loop() is parent_loop
