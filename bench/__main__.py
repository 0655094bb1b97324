"""``python -m bench`` (``make bench``): every measurement, then RESULTS.md and results.json.

Options: ``--quick`` (tiny sizes, one repetition: the smoke test), ``--reps``, ``--orders``,
``--concurrency``, ``--out DIR``, ``--no-tls``. Each section is independent: one that cannot run
(e.g. the toolkit session is not there yet) is reported as not measured, the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shlex
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import report
from ._orders import BenchOrder, build_orders, fetch_market, orders_frame
from ._server import (
    PaperServer,
    ServerInfo,
    paper_available,
    tls_supported,
    trust_server_certificate,
)
from .clients import connect, set_warm_orders, toolkit_available

__all__ = ["Config", "main", "run"]

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Config:
    """Sizes of one run."""

    orders: int = 1000
    reps: int = 5
    concurrency: int = 16
    origin_batches: int = 200
    store_orders: int = 10_000
    store_reps: int = 3
    small_store_batches: int = 2_000
    two_proc_orders: int = 300
    two_proc_batch: int = 10
    share_orders: int = 100
    share_reps: int = 5
    stability_batches: int = 100
    stability_orders: int = 10
    capacity_orders: int = 3000
    capacity_reps: int = 3
    tls: bool = True
    profile: bool = True
    paper_capacity: bool = True
    profile_orders: int = 200
    candle_days: int = 30
    quick: bool = False
    order_kind: str = "market orders, buy/sell alternating over 5 symbols"

    @classmethod
    def quick_config(cls) -> Config:
        return cls(
            orders=20, reps=1, origin_batches=3, store_orders=200, store_reps=1,
            small_store_batches=5, two_proc_orders=20, two_proc_batch=5, share_orders=10,
            share_reps=1, stability_batches=3,
            stability_orders=5, capacity_orders=50, capacity_reps=1, profile=False, quick=True,
            paper_capacity=False, candle_days=1,
        )  # fmt: skip


def _log(msg: str) -> None:
    print(msg, flush=True)


#: Writes the report so far (so that an interrupted run still leaves one).
_CHECKPOINT: Callable[[], None] | None = None


def _section(
    results: dict[str, Any], key: str, title: str, fn: Callable[[], Any], strict: bool
) -> Any:
    _log(f"== {title}")
    start = time.perf_counter()
    try:
        value = fn()
    except Exception as exc:
        if strict:
            raise
        traceback.print_exc()
        value = {"skipped": f"failed: {exc!r}"[:300]}
    results[key] = value
    _log(f"   ({time.perf_counter() - start:.1f} s)")
    if _CHECKPOINT is not None:
        _CHECKPOINT()
    return value


def _chunks(orders: list[BenchOrder], size: int) -> list[list[BenchOrder]]:
    return [orders[i : i + size] for i in range(0, len(orders), size)]


def _throughput(server: ServerInfo, cfg: Config, orders: dict[str, list[BenchOrder]]) -> Any:
    from .throughput import measure_market

    async def main() -> dict[str, Any]:
        out = {}
        for market in ("spot", "usdm"):
            figs = await measure_market(
                server, market, orders[market], concurrency=cfg.concurrency, reps=cfg.reps,
                log=_log,
            )  # fmt: skip
            out[market] = {name: fig.as_dict() for name, fig in figs.items()}
        return out

    return asyncio.run(main())


def _origin(server: ServerInfo, cfg: Config, spot: list[BenchOrder]) -> dict[str, Any]:
    from .origin import TOOLKIT_PATTERNS, measure_patterns

    batches = _chunks(spot[: cfg.origin_batches * 5], 5)
    ok, why = toolkit_available()
    scheme = server.url.split(":")[0]
    with tempfile.TemporaryDirectory(prefix="tk-bench-origin-") as tmp:
        figs = measure_patterns(server, batches, tmp if ok else None, cfg.concurrency)
    for name, fig in figs.items():
        _log(f"  {scheme} {name:24} {fig.median_ms:7.2f} ms/batch")
    out: dict[str, Any] = {name: fig.as_dict() for name, fig in figs.items()}
    floor_ms = figs["floor"].median_ms
    out["origin_overhead_ms"] = round(figs["origin"].median_ms - floor_ms, 3)
    out["ratios"] = {
        name: {
            "floor": round(figs[name].median_ms / floor_ms, 3) if floor_ms else None,
            "origin": round(figs[name].median_ms / figs["origin"].median_ms, 3)
            if figs["origin"].median_ms
            else None,
        }
        for name, _, _ in TOOLKIT_PATTERNS
        if name in figs
    }
    if not ok:
        out["toolkit_skipped"] = why
    return out


def _store_share(server: ServerInfo, cfg: Config, spot: list[BenchOrder]) -> dict[str, Any]:
    import toolkit as tk

    from .store import store_timer

    ok, why = toolkit_available()
    if not ok:
        return {"skipped": why}
    df = orders_frame(spot[: cfg.share_orders])
    shares, batch_s = [], []
    by_method: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="tk-bench-share-") as tmp:
        # Without the user-data stream: its finalize writes run concurrently with the batch's
        # own and would be counted twice; this is the share of the batch's own store calls.
        session = tk.run(
            connect(server, "spot", Path(tmp) / "s.duckdb", cfg.concurrency, stream=False)
        )
        try:
            tk.run(session.batch(df, progress=False))  # warm
            with store_timer() as timer:
                for _ in range(cfg.share_reps):
                    timer.reset()
                    start = time.perf_counter()
                    tk.run(session.batch(df, progress=False))
                    elapsed = time.perf_counter() - start
                    shares.append(timer.total / elapsed)
                    batch_s.append(elapsed)
                    for k, v in timer.seconds.items():
                        by_method.setdefault(k, []).append(v)
        finally:
            tk.run(session.close())
    return {
        "orders": cfg.share_orders,
        "reps": cfg.share_reps,
        "share": round(statistics.median(shares), 3),
        "batch_ms": round(statistics.median(batch_s) * 1000, 2),
        "by_method_s": {k: round(statistics.median(v), 5) for k, v in by_method.items()},
    }


def _stability(server: ServerInfo, cfg: Config, spot: list[BenchOrder]) -> dict[str, Any]:
    from .stability import measure_stability

    ok, why = toolkit_available()
    if not ok:
        return {"skipped": why}
    df = orders_frame(spot[: cfg.stability_orders])
    with tempfile.TemporaryDirectory(prefix="tk-bench-stab-") as tmp:
        store = Path(tmp) / "s.duckdb"
        return measure_stability(
            lambda: connect(server, "spot", store, cfg.concurrency),
            df, cfg.stability_batches, cfg.concurrency,
        )  # fmt: skip


def _capacity(server: ServerInfo, cfg: Config, orders: dict[str, list[BenchOrder]]) -> Any:
    from .capacity import measure_capacity

    async def main() -> list[dict[str, Any]]:
        out = []
        for market in ("spot", "usdm"):
            cap = await measure_capacity(
                server, market, orders[market][: cfg.capacity_orders], cfg.capacity_reps
            )
            _log(f"  {market:5} capacity {cap['orders_per_s']:8.0f} orders/s at "
                 f"concurrency {cap['concurrency']}, server {cap['server_cpu_ms_per_order']} "
                 "ms CPU/order")  # fmt: skip
            out.append(cap)
        return out

    return {"markets": asyncio.run(main())}


def _profile(server: ServerInfo, cfg: Config, orders: list[BenchOrder], market: str) -> Any:
    import toolkit as tk

    from .profile import hotspots, profile_io_thread

    df = orders_frame(orders)
    with tempfile.TemporaryDirectory(prefix="tk-bench-prof-") as tmp:
        session = tk.run(connect(server, market, Path(tmp) / "s.duckdb", cfg.concurrency))
        try:
            tk.run(session.batch(orders_frame(orders[:10]), progress=False))  # warm
            prof = profile_io_thread(
                lambda: tk.run(session.batch(df, progress=False)), html=HERE / "profile.html"
            )
        finally:
            tk.run(session.close())
    spots = hotspots(prof)
    spots["what"] = f"one {len(orders):,}-order {market} batch"
    spots["html"] = "bench/profile.html"
    return spots


def run(
    cfg: Config, out_dir: Path, *, strict: bool = False, command: str = "make bench"
) -> dict[str, Any]:
    """Run every section against one paper exchange process; write the report; return results."""
    from .machine import describe

    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": describe(),
        "config": asdict(cfg),
        "notes": [],
    }
    global _CHECKPOINT

    def checkpoint() -> None:
        results["duration_s"] = round(time.perf_counter() - started, 1)
        try:
            report.write(results, out_dir)
        except Exception:  # a partial report must never stop the run
            traceback.print_exc()

    _CHECKPOINT = checkpoint
    if not paper_available():
        raise SystemExit("the paper exchange (toolkit/paper/_cli.py) is not there yet")
    ok, why = toolkit_available()
    if not ok:
        results["notes"].append(f"toolkit parts not measured: {why}")
    else:
        results["notes"].append(
            "Clients run without client-side rate limiting: the toolkit with "
            "connect(rate_limits=False), ccxt with enableRateLimit False; the paper exchange "
            "runs with --no-rate-limits."
        )
    with PaperServer() as server:
        _log(f"paper exchange at {server.url} (pid {server.pid})")
        markets = {m: asyncio.run(fetch_market(server.url, m)) for m in ("spot", "usdm")}
        n = max(cfg.orders, cfg.origin_batches * 5, cfg.capacity_orders)
        orders = {m: build_orders(markets[m], n) for m in markets}
        for m in markets:
            set_warm_orders(m, orders[m][:10])
        _log("order sizes: " + ", ".join(f"{o.symbol} {o.qty}" for o in orders["spot"][:5]))
        main_orders = {m: orders[m][: cfg.orders] for m in orders}
        _section(results, "throughput", "1-3. throughput: floor, toolkit, ccxt",
                 lambda: _throughput(server, cfg, main_orders), strict)  # fmt: skip
        results["ratios"] = report.ratios(results)
        origin: dict[str, Any] = {}
        results["origin"] = origin
        _section(origin, "http", "4. origin's pattern vs ours (http)",
                 lambda: _origin(server, cfg, orders["spot"]), strict)  # fmt: skip
        _section(results, "store", "5a. store: journal and projection",
                 lambda: _store_bulk(cfg), strict)  # fmt: skip
        _section(results, "store_share", "5b. store share of a batch",
                 lambda: _store_share(server, cfg, orders["spot"]), strict)  # fmt: skip
        _section(results, "two_processes", "8. two processes on one store",
                 lambda: _two_processes(server, cfg), strict)  # fmt: skip
        _section(results, "stability", "6. stability",
                 lambda: _stability(server, cfg, orders["spot"]), strict)  # fmt: skip
        _section(results, "capacity", "7. paper exchange capacity",
                 lambda: _capacity(server, cfg, orders), strict)  # fmt: skip
        if cfg.profile and ok:
            worst = _worst_market(results)
            if worst is not None:
                title = f"profile of the toolkit ({worst}: below goal)"
                work = main_orders[worst][: cfg.profile_orders]
                _section(results, "profile", title,
                         lambda: _profile(server, cfg, work, worst), strict)  # fmt: skip
    _section(results, "candles", "9. research data: 1-minute candles, rate limits on",
             lambda: _candles(cfg), strict)  # fmt: skip
    if cfg.tls:
        _section(origin, "https", "4. origin's pattern vs ours (https)",
                 lambda: _tls_origin(cfg, strict), strict)  # fmt: skip
    cap = results.get("capacity", {})
    if cfg.paper_capacity and isinstance(cap, dict) and "markets" in cap:
        from .capacity import run_paper_capacity

        _log("== 7b. bench/paper_capacity.py")
        cap["paper_capacity"] = run_paper_capacity(seconds=1.0 if cfg.quick else 3.0)
    results["duration_s"] = round(time.perf_counter() - started, 1)
    md, js = report.write(results, out_dir)
    _log(f"wrote {md} and {js} in {results['duration_s']:.0f} s")
    return results


def _two_processes(server: ServerInfo, cfg: Config) -> dict[str, Any]:
    from .two_procs import measure_two_processes

    ok, why = toolkit_available()
    if not ok:
        return {"skipped": why}
    return measure_two_processes(server, cfg.two_proc_orders, cfg.two_proc_batch, log=_log)


def _candles(cfg: Config) -> dict[str, Any]:
    from .candles import measure_candles

    ok, why = toolkit_available()
    if not ok:
        return {"skipped": why}
    return measure_candles(cfg.candle_days)


def _store_bulk(cfg: Config) -> dict[str, Any]:
    from .store import measure_store

    return measure_store(cfg.store_orders, cfg.store_reps, cfg.small_store_batches, log=_log)


def _worst_market(results: dict[str, Any]) -> str | None:
    """The market where the toolkit is furthest below the goal, if it is below anywhere."""
    worst, low = None, report.GOAL
    for market, r in results.get("ratios", {}).items():
        value = r.get("toolkit/floor")
        if value is not None and value < low:
            worst, low = market, value
    return worst


def _tls_origin(cfg: Config, strict: bool) -> dict[str, Any]:
    if not tls_supported():
        return {"skipped": "the paper exchange has no --tls option yet"}
    try:
        server_cm = PaperServer(tls=True)
        server = server_cm.start()
    except RuntimeError as exc:
        if strict:
            raise
        return {"skipped": f"the paper exchange did not start with --tls ({str(exc)[:150]})"}
    try:
        _log(f"paper exchange (TLS) at {server.url}")
        trust_server_certificate(server.url)
        market = asyncio.run(fetch_market(server.url, "spot"))
        spot = build_orders(market, cfg.origin_batches * 5)
        return _origin(server, cfg, spot)
    finally:
        server_cm.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--reps", type=int, help="repetitions of the throughput runs")
    parser.add_argument("--orders", type=int, help="orders per throughput run")
    parser.add_argument("--concurrency", type=int, help="requests in flight (all clients)")
    parser.add_argument("--no-tls", action="store_true", help="skip the HTTPS comparison")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile")
    parser.add_argument("--strict", action="store_true", help="stop at the first failure")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the report")
    args = parser.parse_args(argv)
    cfg = Config.quick_config() if args.quick else Config()
    changes: dict[str, Any] = {}
    if args.reps:
        changes["reps"] = args.reps
    if args.orders:
        changes["orders"] = args.orders
    if args.concurrency:
        changes["concurrency"] = args.concurrency
    if args.no_tls:
        changes["tls"] = False
    if args.no_profile:
        changes["profile"] = False
    cfg = Config(**{**asdict(cfg), **changes})
    extra = list(sys.argv[1:] if argv is None else argv)
    command = shlex.join(["python", "-m", "bench", *extra]) if extra else "make bench"
    run(cfg, args.out, strict=args.strict, command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
