"""``python -m toolkit paper``: run the paper exchange standalone.

Without ``--api-key/--api-secret`` a key pair is generated and printed with the base URL. With
``--json`` exactly one JSON line ``{"url", "api_key", "api_secret", "pid"}`` is printed once the
server listens (so scripts can start it with ``--port 0``). SIGTERM/SIGINT stop it cleanly.
A request too malformed to parse is answered 400 and not logged (:func:`quiet_bad_requests`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from ._exchange import PaperExchange
from ._faults import FaultConfig

__all__ = ["add_parser", "quiet_bad_requests", "run"]


def _not_a_bad_request(record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    return not (isinstance(error, HttpProcessingError) and 400 <= error.code < 500)


def quiet_bad_requests() -> None:
    """Keep aiohttp's server from logging a traceback for every request too malformed to parse
    (it answers them 400): any client could flood a standalone paper exchange's log that way.
    Other server errors are still logged. For a process that serves only the paper exchange."""
    logger = logging.getLogger("aiohttp.server")
    if _not_a_bad_request not in logger.filters:
        logger.addFilter(_not_a_bad_request)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``paper`` sub-command on ``subparsers`` (``func=run``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "paper",
        help="run the Binance-protocol paper exchange standalone",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free port; default 8765)")
    p.add_argument("--api-key", help="register this API key (default: generate a pair)")
    p.add_argument("--api-secret", help="the secret of --api-key")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the price walk and the generated history (default 0)")
    p.add_argument("--no-rate-limits", action="store_true",
                   help="never answer 429/418 (usage headers are still sent)")
    p.add_argument("--price-mode", choices=("walk", "fixed"), default="walk",
                   help="random-walk prices or fixed ones (default walk)")
    p.add_argument("--tick-interval", type=float, default=0.25,
                   help="seconds between price ticks (default 0.25)")
    p.add_argument("--spot-usdt", default="100000", help="starting spot USDT per key")
    p.add_argument("--futures-usdt", default="100000", help="starting USD-M USDT per key")
    p.add_argument("--fee-rate", default="0", help="commission per fill, e.g. 0.001 (default 0)")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    p.add_argument("--max-lifetime", type=float, default=0.0,
                   help="stop by itself after this many seconds (0: run until signalled)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON line {url, api_key, api_secret, pid} once listening")
    faults = p.add_argument_group("fault injection (deterministic under --fault-seed)")
    faults.add_argument("--latency", type=float, default=0.0,
                        help="seconds added to every API answer")
    faults.add_argument("--latency-jitter", type=float, default=0.0,
                        help="up to this many extra random seconds")
    faults.add_argument("--error-before-rate", type=float, default=0.0,
                        help="probability of a 5xx before an order is accepted (no order)")
    faults.add_argument("--error-after-rate", type=float, default=0.0,
                        help="probability of a 5xx after an order is accepted (order exists)")
    faults.add_argument("--drop-after-rate", type=float, default=0.0,
                        help="probability of closing the connection after accepting an order")
    faults.add_argument("--burst-429-rate", type=float, default=0.0,
                        help="probability that a burst of 429 answers starts on a request")
    faults.add_argument("--burst-429-length", type=int, default=3,
                        help="requests per 429 burst (default 3)")
    faults.add_argument("--clock-skew-ms", type=float, default=0.0,
                        help="server clock offset in ms (positive: ahead)")
    faults.add_argument("--slow-rate", type=float, default=0.0,
                        help="probability that a request waits --slow-latency before it is"
                        " processed (an order placed after the client gave up)")
    faults.add_argument("--slow-latency", type=float, default=0.0,
                        help="seconds a slow request waits (set it beyond the client's timeout)")
    faults.add_argument("--ban-418-rate", type=float, default=0.0,
                        help="probability that a request starts a 418 'IP banned' window")
    faults.add_argument("--ban-418-seconds", type=float, default=1.0,
                        help="length of a 418 window, every request refused (default 1)")
    faults.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws")
    p.set_defaults(func=run)
    return p


def _faults(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        latency=args.latency, latency_jitter=args.latency_jitter,
        error_before_rate=args.error_before_rate, error_after_rate=args.error_after_rate,
        drop_after_rate=args.drop_after_rate, burst_429_rate=args.burst_429_rate,
        burst_429_length=args.burst_429_length, clock_skew_ms=args.clock_skew_ms,
        seed=args.fault_seed, slow_rate=args.slow_rate, slow_latency=args.slow_latency,
        ban_418_rate=args.ban_418_rate, ban_418_seconds=args.ban_418_seconds,
    )


async def _serve(args: argparse.Namespace) -> int:
    ex = PaperExchange(
        host=args.host, port=args.port, seed=args.seed, rate_limits=not args.no_rate_limits,
        price_mode=args.price_mode, tick_interval=args.tick_interval, tls=args.tls,
        spot_usdt=args.spot_usdt, futures_usdt=args.futures_usdt, fee_rate=args.fee_rate,
        faults=_faults(args),
    )
    if args.api_key:
        ex.add_key(args.api_key, args.api_secret)
        key, secret = args.api_key, args.api_secret
    else:
        key, secret = ex.create_key()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows
            loop.add_signal_handler(sig, stop.set)
    await ex.start()
    try:
        if args.json:
            line = {"url": ex.url, "api_key": key, "api_secret": secret, "pid": os.getpid()}
            print(json.dumps(line), flush=True)
        else:
            print(f"paper exchange listening on {ex.url}\n  api key:    {key}\n"
                  f"  api secret: {secret}\nstop with Ctrl-C", flush=True)
        if args.max_lifetime > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), args.max_lifetime)
        else:
            await stop.wait()
    finally:
        await ex.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the exchange until SIGTERM/SIGINT (or ``--max-lifetime``)."""
    if bool(args.api_key) != bool(args.api_secret):
        print("--api-key and --api-secret go together", file=sys.stderr)
        return 2
    try:
        _faults(args)
    except ValueError as exc:
        print(f"invalid fault settings: {exc}", file=sys.stderr)
        return 2
    quiet_bad_requests()
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:  # pragma: no cover - signal arrived before the handler was set
        return 0
