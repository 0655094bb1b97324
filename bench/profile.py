"""Where the toolkit's time goes: pyinstrument on the toolkit's I/O thread during one batch.

The toolkit does its network work on one dedicated I/O loop thread (``toolkit.runtime._runner``), so
the profiler is started and stopped *on that thread* (pyinstrument samples the thread that
starts it). Store work runs in a worker thread and is measured separately (section 5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["hotspots", "profile_io_thread"]


def profile_io_thread(work: Callable[[], Any], html: Path | None = None) -> Any:
    """Run ``work()`` (sync, e.g. ``tk.run(session.batch(df))``) with the I/O thread profiled.

    Returns the pyinstrument ``Session``.
    """
    from pyinstrument import Profiler

    from toolkit.runtime import _runner

    loop = _runner.get_loop()
    profiler = Profiler(interval=0.0005, async_mode="disabled")

    async def start() -> None:
        profiler.start()

    async def stop() -> Any:
        return profiler.stop()

    asyncio.run_coroutine_threadsafe(start(), loop).result()
    try:
        work()
    finally:
        session = asyncio.run_coroutine_threadsafe(stop(), loop).result()
    if html is not None:
        html.write_text(profiler.output_html())
    return session


def _walk(frame: Any, out: dict[tuple[str, str], list[float]]) -> None:
    key = (frame.function or "?", f"{frame.file_path_short or '?'}:{frame.line_no or 0}")
    own = sum(c.time for c in frame.children if c.is_synthetic_leaf) + (
        frame.time - sum(c.time for c in frame.children)
    )
    acc = out.setdefault(key, [0.0, 0.0])
    acc[0] += max(own, 0.0)
    if not any(
        a.function == frame.function and a.file_path == frame.file_path for a in _ancestors(frame)
    ):
        acc[1] += frame.time  # inclusive time, counted once per call chain
    for child in frame.children:
        if not child.is_synthetic_leaf:
            _walk(child, out)


def _ancestors(frame: Any) -> list[Any]:
    out = []
    parent = frame.parent
    while parent is not None:
        out.append(parent)
        parent = parent.parent
    return out


def hotspots(session: Any, top: int = 15) -> dict[str, Any]:
    """Top functions by own (self) time and by inclusive time, as fractions of the profile."""
    root = session.root_frame()
    if root is None:
        return {"duration_s": 0.0, "self": [], "inclusive": []}
    table: dict[tuple[str, str], list[float]] = {}
    _walk(root, table)
    total = root.time or 1.0

    def rows(index: int) -> list[dict[str, Any]]:
        ranked = sorted(table.items(), key=lambda kv: kv[1][index], reverse=True)[:top]
        return [
            {"function": fn, "where": where, "seconds": round(v[index], 4),
             "share": round(v[index] / total, 3)}
            for (fn, where), v in ranked
        ]  # fmt: skip

    return {"duration_s": round(session.duration, 4), "sampled_s": round(total, 4),
            "self": rows(0), "inclusive": rows(1)}  # fmt: skip
