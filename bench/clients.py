"""The three clients compared on the same orders: the floor, ccxt and the toolkit.

Each client is opened (and warmed: markets loaded, keep-alive connections open) before the
clock starts, runs the whole order list once, and is closed; a repetition opens a fresh one
(for the toolkit, with a fresh store file).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from . import floor
from ._orders import BenchOrder, orders_frame
from ._server import ServerInfo
from ._wire import USDM_BATCH, batch_requests, new_run_id, spot_requests
from .floor import RunResult

__all__ = ["CcxtClient", "Client", "FloorClient", "ToolkitClient", "toolkit_available"]


class Client(Protocol):
    name: str

    async def open(self) -> None: ...

    async def run(self, orders: list[BenchOrder]) -> RunResult: ...

    async def close(self) -> None: ...


class FloorClient:
    """Plain aiohttp, one ClientSession, requests signed before the clock starts."""

    name = "floor"

    def __init__(self, server: ServerInfo, market: str, concurrency: int) -> None:
        self.server, self.market, self.concurrency = server, market, concurrency
        self._http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._http = floor.new_session(self.concurrency)
        await floor.warm_session(self._http, self.server.url, self.concurrency)

    async def run(self, orders: list[BenchOrder]) -> RunResult:
        assert self._http is not None
        build = spot_requests if self.market == "spot" else batch_requests
        cpu0 = time.process_time()  # signing counts as CPU, though it is done before the clock
        requests = build(orders, self.server.api_secret, new_run_id())
        result = await floor.send_all(
            self._http, self.server.url, self.server.api_key, requests, self.concurrency
        )
        result.cpu = time.process_time() - cpu0
        return result

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def _rewrite_urls(api: Any, base: str) -> Any:
    """ccxt's ``urls['api']`` with every host replaced by the paper exchange's."""
    if isinstance(api, dict):
        return {k: _rewrite_urls(v, base) for k, v in api.items()}
    if isinstance(api, str) and api.startswith("http"):
        path = urlsplit(api).path
        return base + path
    return api


class CcxtClient:
    """``ccxt.async_support``: binance (``create_order`` each), binanceusdm (``create_orders``)."""

    name = "ccxt"

    def __init__(self, server: ServerInfo, market: str, concurrency: int) -> None:
        self.server, self.market, self.concurrency = server, market, concurrency
        self._ex: Any = None

    async def open(self) -> None:
        import ccxt.async_support as ccxt

        cls = ccxt.binance if self.market == "spot" else ccxt.binanceusdm
        types = ["spot"] if self.market == "spot" else ["linear"]
        ex = cls(
            {
                "apiKey": self.server.api_key,
                "secret": self.server.api_secret,
                "enableRateLimit": False,
                "verify": not self.server.tls,
                "options": {
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                    "fetchMarkets": {"types": types},
                    "adjustForTimeDifference": False,
                },
            }
        )
        ex.urls["api"] = _rewrite_urls(ex.urls["api"], self.server.url)
        self._ex = ex
        await ex.load_markets()
        await asyncio.gather(*(ex.fetch_time() for _ in range(self.concurrency)))

    async def run(self, orders: list[BenchOrder]) -> RunResult:
        ex = self._ex
        sem = asyncio.Semaphore(self.concurrency)
        errors: list[str] = []

        async def one(o: BenchOrder) -> int:
            async with sem:
                try:
                    res = await ex.create_order(o.ccxt_symbol, o.type, o.side, float(o.qty))
                except Exception as exc:  # a failed order is counted, not fatal
                    errors.append(repr(exc)[:200])
                    return 0
            return int(res.get("id") is not None)

        async def chunk(part: list[BenchOrder]) -> int:
            legs = [
                {"symbol": f"{o.ccxt_symbol}:USDT", "type": o.type, "side": o.side,
                 "amount": float(o.qty)}
                for o in part
            ]  # fmt: skip
            async with sem:
                try:
                    res = await ex.create_orders(legs)
                except Exception as exc:
                    errors.append(repr(exc)[:200])
                    return 0
            ok = [r for r in res if r.get("id") is not None]
            errors.extend(str(r.get("info"))[:200] for r in res if r.get("id") is None)
            return len(ok)

        cpu0 = time.process_time()
        start = time.perf_counter()
        if self.market == "spot":
            counts = await asyncio.gather(*(one(o) for o in orders))
        else:
            parts = [orders[i : i + USDM_BATCH] for i in range(0, len(orders), USDM_BATCH)]
            counts = await asyncio.gather(*(chunk(p) for p in parts))
        seconds = time.perf_counter() - start
        return RunResult(len(orders), seconds, sum(counts), errors, time.process_time() - cpu0)

    async def close(self) -> None:
        if self._ex is not None:
            await self._ex.close()
            self._ex = None


def toolkit_available() -> tuple[bool, str]:
    """Whether ``tk.connect`` and ``tk.batch`` exist yet (the session lands in parallel)."""
    try:
        import toolkit as tk
    except Exception as exc:  # pragma: no cover - a broken checkout
        return False, f"import toolkit failed: {exc!r}"
    missing = [n for n in ("connect", "batch", "run", "close") if not hasattr(tk, n)]
    if missing:
        return False, f"toolkit lacks {', '.join('tk.' + n for n in missing)}"
    return True, ""


ACCEPTED = {"NEW", "PARTIALLY_FILLED", "FILLED"}


class ToolkitClient:
    """``await tk.batch(df)`` on a session connected to the paper exchange, fresh store per run.

    ``stream`` keeps the user-data stream on (as a notebook user has it, the default) or off.
    Its CPU figure includes the store's background projection of the run into DuckDB (flushed
    after the clock stops: off the batch's critical path, but work the toolkit does).
    """

    def __init__(
        self, server: ServerInfo, market: str, concurrency: int, *, stream: bool = True
    ) -> None:
        self.server, self.market, self.concurrency = server, market, concurrency
        self.stream = stream
        self.name = "toolkit" if stream else "toolkit_nostream"
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.session: Any = None
        self.store_path: Path | None = None

    async def open(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="tk-bench-store-")
        self.store_path = Path(self._dir.name) / "bench.duckdb"
        self.session = await connect(
            self.server, self.market, self.store_path, self.concurrency, stream=self.stream
        )
        # warm: exchangeInfo and prices cached, keep-alive connections open
        warm = orders_frame(_warm_orders(self.market))
        await self.session.batch(warm, progress=False)

    async def run(self, orders: list[BenchOrder]) -> RunResult:
        cpu0 = time.process_time()
        df = orders_frame(orders)
        start = time.perf_counter()
        out = await self.session.batch(df, progress=False)
        seconds = time.perf_counter() - start
        await asyncio.to_thread(self.session.store.projection.flush)
        cpu = time.process_time() - cpu0
        status = out["status"].astype(str)
        accepted = int(status.isin(ACCEPTED).sum())
        bad = out[~status.isin(ACCEPTED)]
        errors = [f"{r.status} {r.error_code} {r.error_msg}" for r in bad.head(5).itertuples()]
        if len(bad) > 5:
            errors.append(f"... {len(bad)} not accepted in all")
        return RunResult(len(orders), seconds, accepted, errors, cpu)

    async def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self.session.close()
            self.session = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


_WARM: dict[str, list[BenchOrder]] = {}


def set_warm_orders(market: str, orders: list[BenchOrder]) -> None:
    _WARM[market] = orders


def _warm_orders(market: str) -> list[BenchOrder]:
    return _WARM[market]


async def connect(
    server: ServerInfo, market: str, store: str | Path, concurrency: int, *, stream: bool = True
) -> Any:
    """A toolkit session on the paper exchange with the benchmark's concurrency.

    ``rate_limits=False`` is the toolkit's equivalent of ccxt's ``enableRateLimit: False``; the
    paper exchange runs with ``--no-rate-limits`` and advertises none anyway.
    """
    import toolkit as tk

    session = await tk.connect(
        exchange="binance",
        base_url=server.url,
        api_key=server.api_key,
        api_secret=server.api_secret,
        market=market,
        store=str(store),
        concurrency=concurrency,
        rate_limits=False,
        stream=stream,
    )
    await session.open()
    return session
