"""Section 6: 100 consecutive batches on one session.

Counted: aiohttp ``ClientSession`` objects created (every instance in the process, by wrapping
``ClientSession.__init__``, and the toolkit transport's own counter where it has one), peak open
TCP sockets of this process (sampled every few ms by a thread), open file descriptors before
and after, and resident memory (before, peak, after).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import psutil

__all__ = ["Sampler", "count_client_sessions", "measure_stability"]


@contextlib.contextmanager
def count_client_sessions() -> Iterator[list[int]]:
    """Count ``aiohttp.ClientSession`` instances created inside the block (``box[0]``)."""
    box = [0]
    orig = aiohttp.ClientSession.__init__

    def init(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        box[0] += 1
        orig(self, *args, **kwargs)

    aiohttp.ClientSession.__init__ = init  # type: ignore[method-assign]
    try:
        yield box
    finally:
        aiohttp.ClientSession.__init__ = orig  # type: ignore[method-assign]


class Sampler:
    """A thread sampling this process's TCP sockets and RSS every ``interval`` seconds."""

    def __init__(self, interval: float = 0.005) -> None:
        self.proc = psutil.Process()
        self.interval = interval
        self.peak_sockets = 0
        self.peak_rss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def sample(self) -> None:
        socks = len(self.proc.net_connections(kind="tcp"))
        rss = self.proc.memory_info().rss
        self.peak_sockets = max(self.peak_sockets, socks)
        self.peak_rss = max(self.peak_rss, rss)
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _transport_sessions(session: Any) -> int | None:
    """The toolkit transport's ``sessions_created`` counter, if the session exposes one."""
    for path in ("transport", "_transport", "adapter.transport", "_adapter.transport"):
        obj = session
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        stats = getattr(obj, "stats", None) if obj is not None else None
        if stats is not None and hasattr(stats, "sessions_created"):
            return int(stats.sessions_created)
    return None


def measure_stability(
    make_session: Any, batch_df: Any, batches: int, concurrency: int, budget_s: float = 60.0
) -> dict[str, Any]:
    """Run ``batches`` consecutive ``tk.run(session.batch(df, progress=False))`` on one new session.

    ``make_session`` is a zero-argument callable returning an awaitable of a connected session.
    """
    import toolkit as tk

    from .clients import ACCEPTED

    proc = psutil.Process()
    with count_client_sessions() as created:
        session = tk.run(make_session())
        try:
            tk.run(session.batch(batch_df, progress=False))  # warm: connections open, rules cached
            fds_before = proc.num_fds()
            rss_before = proc.memory_info().rss
            socks_before = len(proc.net_connections(kind="tcp"))
            accepted = 0
            start = time.perf_counter()
            done = 0
            deadline = time.perf_counter() + budget_s
            with Sampler() as sampler:
                for _ in range(batches):
                    if time.perf_counter() > deadline:
                        break
                    done += 1
                    out = tk.run(session.batch(batch_df, progress=False))
                    accepted += int(out["status"].astype(str).isin(ACCEPTED).sum())
                    sampler.sample()
            seconds = time.perf_counter() - start
            fds_after = proc.num_fds()
            rss_after = proc.memory_info().rss
            socks_after = len(proc.net_connections(kind="tcp"))
            transport_sessions = _transport_sessions(session)
        finally:
            tk.run(session.close())
    return {
        "batches": done,
        "batches_planned": batches,
        "orders_per_batch": len(batch_df),
        "accepted": accepted,
        "seconds": round(seconds, 3),
        "client_sessions_created": created[0],
        "transport_sessions_created": transport_sessions,
        "concurrency": concurrency,
        "sockets_before": socks_before,
        "peak_sockets": sampler.peak_sockets,
        "sockets_after": socks_after,
        "fds_before": fds_before,
        "fds_after": fds_after,
        "rss_before_mib": round(rss_before / 2**20, 1),
        "peak_rss_mib": round(sampler.peak_rss / 2**20, 1),
        "rss_after_mib": round(rss_after / 2**20, 1),
        "sampler_samples": sampler.samples,
    }
