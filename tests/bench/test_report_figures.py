"""Figures the benchmark report derives from its raw repetitions."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import ratios  # noqa: E402
from bench.throughput import _swap_toolkit  # noqa: E402


def _figs(on: list[float], off: list[float]) -> dict[str, object]:
    def fig(runs: list[float]) -> dict[str, object]:
        return {"median_orders_per_s": sorted(runs)[len(runs) // 2], "orders_per_s": runs}

    return {"spot": {"floor": fig([1000.0]), "toolkit": fig(on), "toolkit_nostream": fig(off),
                     "ccxt": fig([500.0])}}  # fmt: skip


def test_the_stream_cost_pairs_each_repetition() -> None:
    # the machine got twice as fast after the first repetition: two of three pairs say 10%,
    # the two medians (200 and 200) say 0%
    figs = _figs(on=[100.0, 200.0, 200.0], off=[110.0, 220.0, 200.0])
    assert ratios({"throughput": figs})["spot"]["stream_cost"] == 0.1
    # repetitions that do not pair up (a client skipped one): the two medians
    figs = _figs(on=[100.0, 200.0, 200.0], off=[110.0, 220.0])
    assert ratios({"throughput": figs})["spot"]["stream_cost"] == round(220 / 200 - 1, 3)


def test_the_toolkit_runs_take_turns_first() -> None:
    class C:
        def __init__(self, name: str) -> None:
            self.name = name

    clients = [C("floor"), C("toolkit"), C("toolkit_nostream"), C("ccxt")]
    swapped = _swap_toolkit(clients)  # type: ignore[arg-type]
    assert [c.name for c in swapped] == ["floor", "toolkit_nostream", "toolkit", "ccxt"]
    assert [c.name for c in clients] == ["floor", "toolkit", "toolkit_nostream", "ccxt"]
