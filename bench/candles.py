"""Section 9: research data -- 30 days of 1-minute candles for 3 symbols into the store.

A paper exchange process of its own, **with Binance's rate limits on** (the toolkit's client-side
limiter on too, as a user has it), and a fresh store. Measured: the first ``tk.candles`` call
(about 130,000 candles in about 130 requests of 1,000, each written into DuckDB as it comes) --
seconds, rows, requests; then a second identical call, which must fetch only the latest page of
each symbol (one request per symbol). Requests are counted by the paper exchange; the session's
exchangeInfo is fetched before the clock starts.

Run alone: ``python -m bench.candles [--days N]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from ._server import PaperServer

__all__ = ["SYMBOLS", "measure_candles"]

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def _admin(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    method = "POST" if data else "GET"
    request = urllib.request.Request(f"{url}/paper/{path}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def _requests(url: str) -> int:
    """Requests the paper exchange has served (this look included)."""
    return int(_admin(url, "counters")["requests"])


def measure_candles(days: int = 30, interval: str = "1m") -> dict[str, Any]:
    """Load ``days`` of ``interval`` candles for :data:`SYMBOLS` twice; the figures."""
    import pandas as pd

    import toolkit as tk

    with PaperServer(rate_limits=True) as server, tempfile.TemporaryDirectory() as tmp:
        session = tk.run(tk.connect(
            "paper", base_url=server.url, api_key=server.api_key, api_secret=server.api_secret,
            store=str(Path(tmp) / "candles.duckdb"), stream=False, sync_fills=False,
        ))  # fmt: skip
        try:
            tk.run(session.symbol_rules())  # exchangeInfo: not part of the figure
            end = pd.Timestamp.now(tz="UTC")
            start = end - pd.Timedelta(days=days)
            base = _requests(server.url)
            began = time.perf_counter()
            first = tk.run(session.candles(list(SYMBOLS), interval, start=start))
            seconds = time.perf_counter() - began
            requests = _requests(server.url) - base - 1  # (less the look at the counter)
            base = _requests(server.url)
            began = time.perf_counter()
            again = tk.run(session.candles(list(SYMBOLS), interval, start=start))
            again_seconds = time.perf_counter() - began
            again_requests = _requests(server.url) - base - 1
        finally:
            tk.run(session.close())
    return {
        "days": days, "interval": interval, "symbols": list(SYMBOLS), "rows": len(first),
        "requests": requests, "seconds": round(seconds, 2),
        "rows_per_s": round(len(first) / seconds) if seconds else None,
        "second_rows": len(again), "second_requests": again_requests,
        "second_seconds": round(again_seconds, 2), "rate_limits": True,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.candles", description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps(measure_candles(args.days)))


if __name__ == "__main__":
    main()
