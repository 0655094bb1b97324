"""``python -m bench.reliability [--full] [--only NAMES] [--out PATH]``: run the campaign.

Without ``--full`` every scenario runs scaled down (about two minutes); ``--full`` is the size
reported in ``RELIABILITY.md`` (``make reliability``, about three minutes on two cores). Figures go
to ``bench/reliability/results.json`` for ``--full`` (``artifacts/`` otherwise, or ``--out``); a
full run of every scenario also rewrites the figures section of ``RELIABILITY.md``. A summary is
printed; the exit status is 1 if any scenario found a violation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import crashes, faults, hostile_input, load, report, secrets_scan, traffic, unreachable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DOC = ROOT / "RELIABILITY.md"


@dataclass(frozen=True)
class Scale:
    """The sizes of one run."""

    fault_orders: int = 200
    crash_orders: int = 100
    unreachable_orders: int = 60
    load_batches: int = 20
    load_batch_size: int = 25
    shared_batches: int = 3
    shared_batch_size: int = 20
    malformed_seconds: float = 3.0
    slow_clients: int = 30
    tampered_orders: int = 20
    hostile_examples: int = 60


FULL = Scale(
    fault_orders=1000, crash_orders=500, unreachable_orders=200, load_batches=20,
    load_batch_size=100, shared_batches=10, shared_batch_size=50, malformed_seconds=10.0,
    slow_clients=200, tampered_orders=100, hostile_examples=400,
)  # fmt: skip


def scenarios(scale: Scale, work: Path) -> dict[str, Callable[[], Any]]:
    """Name -> a call running the scenario at ``scale`` (coroutines are awaited)."""
    return {
        "faults": lambda: faults.run_faults(scale.fault_orders, work),
        "unreachable": lambda: unreachable.run_unreachable(scale.unreachable_orders, work),
        "crashes": lambda: crashes.run_crashes(scale.crash_orders, work),
        "hostile_input": lambda: hostile_input.run_hostile_input(
            work / "hostile.duckdb", examples=scale.hostile_examples),
        "malformed_traffic": lambda: traffic.run_malformed(
            work, seconds=scale.malformed_seconds, slow_clients=scale.slow_clients),
        "tampered": lambda: traffic.run_tampered(work, n_orders=scale.tampered_orders),
        "secrets": lambda: secrets_scan.run_secrets(work),
        "load": lambda: load.run_load(
            work, n_batches=scale.load_batches, size=scale.load_batch_size,
            shared_batches=scale.shared_batches, shared_size=scale.shared_batch_size),
    }  # fmt: skip


def _run(name: str, scale: Scale, work: Path) -> dict[str, Any]:
    """One scenario; a coroutine gets its own ``asyncio.run`` (hostile_input blocks on tk.run)."""
    print(f"== {name}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        value = scenarios(scale, work)[name]()
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
    except Exception as exc:  # a crashed scenario is a finding too
        value = {"violations": [f"the scenario crashed: {type(exc).__name__}: {exc}"]}
    value["seconds_total"] = round(time.perf_counter() - started, 1)
    status = "ok" if not value["violations"] else f"{len(value['violations'])} VIOLATIONS"
    print(f"   {status} ({value['seconds_total']} s)", file=sys.stderr, flush=True)
    return dict(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reliability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--full", action="store_true", help="the full sizes (RELIABILITY.md)")
    known = ", ".join(scenarios(Scale(), HERE))
    parser.add_argument("--only", help=f"comma-separated subset of: {known}")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: bench/reliability/results.json for --full, else "
        "artifacts/reliability-scaled.json (a quick run never replaces the figures)",
    )
    parser.add_argument(
        "--no-doc",
        action="store_true",
        help="do not rewrite the figures of RELIABILITY.md (done for --full)",
    )
    args = parser.parse_args(argv)
    scale = FULL if args.full else Scale()
    if args.out is None:
        args.out = (
            HERE / "results.json" if args.full else ROOT / "artifacts/reliability-scaled.json"
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
    names = list(scenarios(scale, HERE))
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = set(names) - set(scenarios(scale, HERE))
        if unknown:
            parser.error(f"unknown scenarios: {sorted(unknown)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tk-reliability-") as tmp:
        results = {name: _run(name, scale, Path(tmp)) for name in names}
    summary = {
        "command": "python -m bench.reliability" + (" --full" if args.full else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "scale": asdict(scale),
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }  # fmt: skip
    args.out.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    if args.full and not args.only and not args.no_doc and report.update_doc(DOC, summary):
        print(f"updated the figures of {DOC}", flush=True)
    bad = {n: r["violations"] for n, r in results.items() if r["violations"]}
    print(f"wrote {args.out} ({summary['seconds']} s); "
          f"{len(results) - len(bad)}/{len(results)} scenarios held", flush=True)  # fmt: skip
    for name, violations in bad.items():
        for v in violations:
            print(f"  {name}: {v}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
