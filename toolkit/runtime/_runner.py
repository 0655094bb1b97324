"""The I/O loop: one daemon thread running one asyncio loop for the life of the process.

Every network and store operation of toolkit runs on this loop. The aiohttp ``ClientSession`` of
each :class:`~toolkit.Session` and the embedded paper exchange are created on it and never leave
it. Callers reach it in one of two ways:

* ``await call(coro)`` from any running loop (a notebook cell, papermill, ``asyncio.run``, a widget
  callback): the coroutine is handed over with ``asyncio.run_coroutine_threadsafe`` and awaited on
  the caller's loop with ``asyncio.wrap_future``. Cancelling the caller cancels the I/O-side task.
* ``run(awaitable)`` from sync code in any thread, including a thread whose own loop is running
  (a sync call inside a notebook cell): it blocks that thread until the I/O loop is done.
  It refuses to run on the I/O thread itself, where it could only deadlock.

Why a dedicated loop thread and not nest-asyncio2
-------------------------------------------------
Nesting (``nest_asyncio``/``nest-asyncio2``) patches asyncio so that ``run_until_complete`` can
re-enter a loop that is already running. It lets everything run on the caller's loop, but:
the original package is archived and breaks ``asyncio.current_task()`` on Python 3.14 (which
breaks aiohttp timeouts); it patches asyncio process-wide, for every library in the kernel; it
only works with pure-asyncio loops (not uvloop); and resources stay bound to whichever loop first
used them, so repeated ``asyncio.run()`` calls still die with "Event loop is closed" or "attached
to a different loop". The thread design (what fsspec and ``jupyter_core.utils.run_sync`` do) needs
no patching, works the same on 3.10-3.14, and makes "a session bound to a dead loop" impossible:
the one loop that owns the sessions lives as long as the process. The costs: a hop between threads
per public call (tens of microseconds, not the 10-15 ms of a new loop per call); events reach
subscribers on another thread, so UI updates (widgets, tqdm) must be marshalled back to the
caller's loop or thread (see :func:`ui_dispatcher`); and a sync ``run()`` made on the I/O thread
itself cannot work (it raises instead of deadlocking). A forked child process gets its own loop
thread on first use; the parent's is never touched.

Example::

    import toolkit as tk
    frame = tk.run(tk.batch(df))      # from a script, a thread, or a sync function in a notebook
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import inspect
import logging
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ..core._exceptions import UsageError

__all__ = [
    "call",
    "generation",
    "get_loop",
    "in_io_thread",
    "outcome",
    "register_closer",
    "run",
    "shutdown",
    "spawn",
    "ui_dispatcher",
    "unregister_closer",
]

_log = logging.getLogger("toolkit")

T = TypeVar("T")
#: Schedules ``fn(*args)`` on the caller's side (its loop or its blocked thread).
Dispatch = Callable[..., None]
Closer = Callable[[], Awaitable[None]]

#: The shutdown budget, in seconds. Closers run in groups of ascending ``order`` (sessions 0, then
#: servers 10); the closers of one group run concurrently and **each** gets at most
#: ``CLOSE_TIMEOUT`` seconds, after which it is cancelled (and awaited at most ``CLOSE_TIMEOUT``
#: more with the other leftovers) while the next group still runs. One slow or stuck closer can
#: therefore never keep the others from closing. A closer that must finish its own work (e.g. a
#: session's ``_aclose`` waiting for in-flight batches, then closing its transport and store) has
#: to fit in ``CLOSE_TIMEOUT`` including that cleanup: keep its own waits at most
#: ``CLOSE_TIMEOUT - 3`` seconds.
CLOSE_TIMEOUT = 10.0

# Where UI work (progress bars, callbacks) of the current call must run. It is set around the
# hand-over to the I/O loop; the task created there copies the context, so code on the I/O loop
# finds the caller's dispatcher here.
_UI: contextvars.ContextVar[Dispatch | None] = contextvars.ContextVar("toolkit_ui", default=None)


class _IOThread:
    """The loop and its thread, plus the async closers to run at shutdown."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        # (order, seq) -> closer; lower order closes first (sessions before the servers they use)
        self.closers: dict[int, tuple[int, Closer]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._main, args=(ready,), name="toolkit-io", daemon=True
        )
        self.thread.start()
        ready.wait()

    def _main(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()


_lock = threading.Lock()
_io: _IOThread | None = None
_generation = 0
_closer_seq = 0
# Loops inherited through fork: they cannot be closed in the child (their thread does not exist
# there), so they are only kept referenced, never used.
_forked: list[_IOThread] = []
_atexit_registered = False


def _get() -> _IOThread:
    global _io, _generation, _atexit_registered
    io = _io
    if io is not None and io.pid == os.getpid():
        return io
    with _lock:
        if _io is not None and _io.pid != os.getpid():  # forked without the at-fork hook
            _forked.append(_io)
            _io = None
        if _io is None:
            _generation += 1
            _io = _IOThread(_generation)
            if not _atexit_registered:
                atexit.register(shutdown)
                _atexit_registered = True
        return _io


def _after_fork_in_child() -> None:
    global _io
    if _io is not None:
        _forked.append(_io)
        _io = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_loop() -> asyncio.AbstractEventLoop:
    """The I/O loop (started on first use).

    Example::

        loop = toolkit.runtime._runner.get_loop()
    """
    return _get().loop


def generation() -> int:
    """A number that changes whenever a new I/O loop is started (after shutdown or fork)."""
    return _get().generation


def in_io_thread() -> bool:
    """True when called on the I/O thread itself."""
    io = _io
    return io is not None and io.pid == os.getpid() and threading.get_ident() == io.thread.ident


def _discard(aw: Awaitable[Any]) -> None:
    # An awaitable we refuse to run must not trigger "coroutine ... was never awaited".
    if inspect.iscoroutine(aw):
        aw.close()


async def _await(aw: Awaitable[T]) -> T:
    return await aw


def _as_coro(aw: Awaitable[T]) -> Coroutine[Any, Any, T]:
    if inspect.iscoroutine(aw):
        return aw
    return _await(aw)


def run(awaitable: Awaitable[T], *, timeout: float | None = None) -> T:
    """Run ``awaitable`` on the I/O loop and block the calling thread until it is done.

    Works from plain scripts, worker threads, and sync code called inside a running loop (a
    notebook cell): the caller's loop is blocked meanwhile, but never re-entered. UI work of the
    call (a progress bar) runs on this thread while it waits. ``timeout`` (seconds) cancels the
    work and raises ``TimeoutError``.

    Example::

        frame = tk.run(tk.batch(df))
    """
    io = _get()
    if in_io_thread():
        _discard(awaitable)
        raise UsageError(
            "toolkit.run() was called on toolkit's I/O thread, where it would deadlock; "
            "use `await` there instead (e.g. in a subscriber callback, schedule a task)"
        )
    inbox: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = (
        queue.SimpleQueue()
    )

    def dispatch(fn: Callable[..., Any], *args: Any) -> None:
        inbox.put((fn, args))

    token = _UI.set(dispatch)
    try:
        fut, cancel = _start(_as_coro(awaitable), io.loop)
    finally:
        _UI.reset(token)
    fut.add_done_callback(lambda _: inbox.put(None))
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = inbox.get(timeout=wait)
            except queue.Empty:
                cancel()
                raise TimeoutError(f"toolkit.run() timed out after {timeout} s") from None
            if item is None:
                break
            fn, args = item
            _safe_call(fn, args)
        return fut.result()
    except KeyboardInterrupt:  # Ctrl-C: stop the work; a batch stops cleanly and says how
        cancel()
        concurrent.futures.wait([fut])  # a second Ctrl-C gives up waiting
        report = _report_of(fut)
        if report is not None:
            raise report from None
        raise
    except BaseException:  # do not leave the work running
        cancel()
        raise


def _safe_call(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except Exception:
        _log.exception("toolkit: UI callback %r failed", fn)


async def call(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` executed on the I/O loop, from whichever loop the caller runs on.

    On the I/O loop itself the coroutine is simply awaited. Cancelling the caller cancels the
    I/O-side task.

    Example::

        result = await toolkit.runtime._runner.call(session._do_something())
    """
    io = _get()
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is io.loop:
        return await coro
    if running is None:  # pragma: no cover - an `async def` always has a running loop
        coro.close()
        raise UsageError("toolkit.runtime._runner.call() needs a running event loop")
    loop = running

    def dispatch(fn: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody to show
            loop.call_soon_threadsafe(_safe_call, fn, args)

    token = _UI.set(dispatch)
    try:
        cfut, cancel = _start(coro, io.loop)
    finally:
        _UI.reset(token)
    try:
        await _settled(cfut)
    except asyncio.CancelledError:
        cancel()
        # Work that stops cleanly when cancelled (a batch: what is on the wire finishes and is
        # recorded) reports how it stopped; wait for that report, unless cancelled again.
        report = await _stop_report(cfut)
        if report is not None:
            raise report from None
        raise
    if cfut.cancelled():  # the work was cancelled on the I/O loop (a session closing, shutdown)
        raise asyncio.CancelledError("the work was cancelled on toolkit's I/O loop")
    return cfut.result()


def _start(
    coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop
) -> tuple[concurrent.futures.Future[T], Callable[[], None]]:
    """Run ``coro`` as a task on ``loop`` (from another thread): its outcome, and a function
    that cancels the task. Unlike ``run_coroutine_threadsafe``'s future, cancelling does not
    settle the outcome at once: it stays the task's own (a batch stopped by a cancel reports
    :class:`~toolkit.BatchInterrupted`)."""
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
    started: list[asyncio.Task[T]] = []
    context = contextvars.copy_context()  # the caller's (the UI dispatcher travels in it)

    def settle(task: asyncio.Task[T]) -> None:
        if task.cancelled():
            outcome.cancel()
        elif (exc := task.exception()) is not None:
            outcome.set_exception(exc)
        else:
            outcome.set_result(task.result())

    def begin() -> None:
        if outcome.cancelled():  # cancelled before it started
            coro.close()
            return
        task = context.run(loop.create_task, coro)  # the task copies the caller's context
        task.add_done_callback(settle)
        started.append(task)

    def cancel() -> None:
        def now() -> None:
            if started:
                started[0].cancel()
            elif not outcome.done():
                outcome.cancel()

        with contextlib.suppress(RuntimeError):  # the loop is gone: nothing runs any more
            loop.call_soon_threadsafe(now)

    loop.call_soon_threadsafe(begin)
    return outcome, cancel


async def outcome(fut: concurrent.futures.Future[T]) -> T:
    """The outcome of ``fut`` (work of another thread), awaited on the running loop; at once,
    without a round through the loop, when it is already done (a journal write committed
    inline).

    Example::

        await toolkit.runtime._runner.outcome(store.submit_apply(orders, source="response"))
    """
    if fut.done():
        return fut.result()
    return await asyncio.wrap_future(fut)


async def _settled(cfut: concurrent.futures.Future[Any]) -> None:
    """Wait until ``cfut`` is done, on the caller's loop, without ever cancelling it (a
    cancelled caller decides itself what happens to the work)."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wake(_: object) -> None:
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed
            loop.call_soon_threadsafe(done.set)

    cfut.add_done_callback(wake)
    await done.wait()


async def _stop_report(cfut: concurrent.futures.Future[Any]) -> BaseException | None:
    """After cancelling the work of ``cfut``: the error it ended with instead of being cancelled
    (a batch stops cleanly and raises :class:`~toolkit.BatchInterrupted`), or ``None``."""
    await _settled(cfut)  # a second cancel gives up waiting (CancelledError)
    return _report_of(cfut)


def _report_of(fut: concurrent.futures.Future[Any]) -> BaseException | None:
    if fut.cancelled():
        return None
    exc = fut.exception()
    return exc if isinstance(exc, Exception) else None


def ui_dispatcher() -> Dispatch | None:
    """The caller's dispatcher for the current call, or None when nobody waits on another side.

    Code on the I/O loop uses it to run UI work (tqdm, widget updates) on the caller's loop or
    blocked thread: ``dispatch(bar.update, 5)``.
    """
    return _UI.get()


def spawn(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Start a background task on the I/O loop (must be called there); keeps a strong reference.

    Unfinished background tasks are cancelled at shutdown.
    """
    io = _get()
    task = io.loop.create_task(coro)
    io.tasks.add(task)
    task.add_done_callback(io.tasks.discard)
    return task


def register_closer(closer: Closer, *, order: int = 0) -> int:
    """Register an async closer to run on the I/O loop at shutdown; returns a handle.

    Closers run in ascending ``order`` (sessions use 0, servers they talk to use 10); those of one
    ``order`` run concurrently, each bounded by :data:`CLOSE_TIMEOUT` (see there).
    """
    global _closer_seq
    io = _get()
    with _lock:
        _closer_seq += 1
        io.closers[_closer_seq] = (order, closer)
        return _closer_seq


def unregister_closer(handle: int) -> None:
    """Forget a closer registered with :func:`register_closer` (it already ran, or is moot)."""
    io = _io
    if io is not None:
        with _lock:
            io.closers.pop(handle, None)


async def _run_closer(closer: Closer) -> None:
    try:
        await closer()
    except Exception:
        _log.exception("toolkit: closer %r failed at shutdown", closer)


async def _close_group(closers: list[Closer]) -> None:
    """Run ``closers`` concurrently, each in its own task bounded by :data:`CLOSE_TIMEOUT`."""
    tasks = {asyncio.ensure_future(_run_closer(closer)): closer for closer in closers}
    _, late = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
    for task in late:  # awaited (bounded) with the other leftovers below
        _log.error("toolkit: closer %r did not finish within %s s", tasks[task], CLOSE_TIMEOUT)
        task.cancel()


def _shutdown_budget(groups: int) -> float:
    """Seconds :func:`shutdown` waits for :func:`_close_all`: one budget per group + leftovers."""
    return (groups + 2) * CLOSE_TIMEOUT


async def _close_all(io: _IOThread, closers: list[tuple[int, Closer]]) -> None:
    for order in sorted({order for order, _ in closers}):
        await _close_group([closer for o, closer in closers if o == order])
    me = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.wait(leftovers, timeout=CLOSE_TIMEOUT)
    await io.loop.shutdown_asyncgens()
    await io.loop.shutdown_default_executor()


def shutdown() -> None:
    """Close every registered session/server on the I/O loop, then stop and join the loop.

    Runs automatically at exit. Calling it earlier is allowed (tests do): the next use of
    toolkit starts a fresh loop. Must not be called on the I/O thread.

    Example::

        toolkit.runtime._runner.shutdown()
    """
    global _io
    with _lock:
        io = _io
        if io is None or io.pid != os.getpid():
            return
        _io = None
    if threading.get_ident() == io.thread.ident:  # pragma: no cover - misuse
        raise UsageError("toolkit.runtime._runner.shutdown() cannot run on the I/O thread")
    if io.thread.is_alive():
        with _lock:
            closers = [entry for _, entry in sorted(io.closers.items())]  # by registration
            io.closers.clear()
        groups = len({order for order, _ in closers})
        fut = asyncio.run_coroutine_threadsafe(_close_all(io, closers), io.loop)
        try:
            fut.result(timeout=_shutdown_budget(groups))
        except (concurrent.futures.TimeoutError, Exception):
            _log.exception("toolkit: shutdown of the I/O loop did not finish cleanly")
        io.loop.call_soon_threadsafe(io.loop.stop)
        io.thread.join(timeout=CLOSE_TIMEOUT)
    if not io.thread.is_alive():
        io.loop.close()
