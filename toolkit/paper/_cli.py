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
    defaults = FaultConfig()
    for field, help_text in _FAULT_FLAGS.items():
        default = getattr(defaults, field)
        flag = "--fault-seed" if field == "seed" else "--" + field.replace("_", "-")
        faults.add_argument(flag, dest=field, type=type(default), default=default,
                            help=f"{help_text} (default {default})")
    p.set_defaults(func=run)
    return p


#: ``FaultConfig`` field -> its flag's help (the flag is the field's name, ``seed`` is
#: ``--fault-seed``; type and default are the field's).
_FAULT_FLAGS = {
    "latency": "seconds added to every API answer",
    "latency_jitter": "up to this many extra random seconds",
    "error_before_rate": "probability of a 5xx before an order is accepted (no order)",
    "error_after_rate": "probability of a 5xx after an order is accepted (order exists)",
    "drop_after_rate": "probability of closing the connection after accepting an order",
    "burst_429_rate": "probability that a burst of 429 answers starts on a request",
    "burst_429_length": "requests per 429 burst",
    "clock_skew_ms": "server clock offset in ms (positive: ahead)",
    "slow_rate": "probability that a request waits --slow-latency before it is processed"
    " (an order placed after the client gave up)",
    "slow_latency": "seconds a slow request waits (set it beyond the client's timeout)",
    "ban_418_rate": "probability that a request starts a 418 'IP banned' window",
    "ban_418_seconds": "length of a 418 window, every request refused",
    "seed": "seed of the fault draws",
}


def _faults(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(**{field: getattr(args, field) for field in _FAULT_FLAGS})


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
