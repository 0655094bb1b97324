"""What every scenario shares: the paper exchange process, the orders, the store-vs-exchange check.

* :class:`PaperProc` -- a paper exchange in its own process (``bench.reliability._serve``), bound to
  127.0.0.1 on an ephemeral port, with admin helpers (counters, orders, faults) and
  ``pause``/``resume`` (SIGSTOP/SIGCONT: unreachable but with its state kept). It is always
  terminated, then killed, on exit.
* :func:`make_orders` -- deterministic, valid order rows (resting limits, crossing limits, market
  orders) for spot or USD-M at the paper exchange's fixed prices.
* :func:`reconcile_report` -- the campaign's invariants, comparing the store file with what the
  exchange holds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from bench._server import JsonLineProcess

ROOT = Path(__file__).resolve().parents[2]

__all__ = [
    "DEFINITE",
    "KERNEL",
    "ROOT",
    "PaperProc",
    "child_env",
    "connect_settings",
    "make_orders",
    "reconcile_report",
    "run_notebook",
    "store_orders",
]

#: Statuses that are an answer (everything but PENDING).
DEFINITE = frozenset(
    {"NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED", "INVALID"}
)
#: Statuses of an order the exchange must hold.
HELD = frozenset({"NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"})


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this checkout importable, unbuffered output."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


@dataclass
class PaperProc:
    """A paper exchange process; see the module docstring.

    Example::

        with PaperProc(faults={"error_after_rate": 0.05, "seed": 7}) as paper:
            paper.counters()["orders_by_client_id"]
    """

    faults: Mapping[str, Any] = field(default_factory=dict)
    generous: bool = True
    max_lifetime: float = 1800.0
    url: str = ""
    api_key: str = ""
    api_secret: str = ""
    pid: int = 0
    _child: JsonLineProcess | None = None

    def start(self) -> PaperProc:
        config = {
            "faults": dict(self.faults),
            "generous": self.generous,
            "max_lifetime": self.max_lifetime,
        }
        self._child = JsonLineProcess(
            [sys.executable, "-m", "bench.reliability._serve", json.dumps(config)],
            env=child_env(),
        )
        info = self._child.start("paper exchange process")
        self.url, self.pid = info["url"], int(info["pid"])
        self.api_key, self.api_secret = info["api_key"], info["api_secret"]
        return self

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None

    def __enter__(self) -> PaperProc:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._child is not None and self._child.alive

    @property
    def stderr(self) -> str:
        """What the server wrote to stderr so far (its unexpected-error log)."""
        return self._child.stderr if self._child is not None else ""

    def pause(self) -> None:
        """SIGSTOP: the socket still accepts connections (kernel backlog) but nothing answers."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: the server goes on, with every order it held."""
        os.kill(self.pid, signal.SIGCONT)

    # -- admin endpoints (no signing; loopback only) -------------------------------------------

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(dict(body)).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())

    def counters(self) -> dict[str, Any]:
        counters: dict[str, Any] = self.admin("GET", "/paper/counters")
        return counters

    def orders(self, api_key: str | None = None) -> list[dict[str, Any]]:
        """Every order the exchange holds for ``api_key`` (default: the process's key)."""
        key = api_key or self.api_key
        orders: list[dict[str, Any]] = self.admin("GET", f"/paper/orders?api_key={key}")
        return orders

    def set_faults(self, **config: Any) -> None:
        """Replace the fault configuration (``set_faults()``: no faults)."""
        self.admin("POST", "/paper/faults", config)

    def new_key(self) -> tuple[str, str]:
        """A fresh key pair (its own balances and order list)."""
        pair = self.admin("POST", "/paper/keys", {})
        return str(pair["api_key"]), str(pair["api_secret"])


def connect_settings(
    paper: PaperProc,
    store: str | os.PathLike[str],
    *,
    market: str = "spot",
    api_key: str | None = None,
    api_secret: str | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Keyword arguments of ``tk.connect("binance", **...)`` for the paper process."""
    return {
        "market": market,
        "base_url": paper.url,
        "api_key": api_key or paper.api_key,
        "api_secret": api_secret or paper.api_secret,
        "store": os.fspath(store),
        **settings,
    }


# -- orders -----------------------------------------------------------------------------------

# symbol: (price, spot qty, spot tick, usdm qty, usdm tick) at the paper exchange's fixed prices
_BOOK: dict[str, tuple[float, str, float, str, float]] = {
    "BTCUSDT": (90000.0, "0.0002", 0.01, "0.002", 0.1),
    "ETHUSDT": (3000.0, "0.005", 0.01, "0.01", 0.01),
    "BNBUSDT": (600.0, "0.03", 0.01, "0.05", 0.01),
    "SOLUSDT": (150.0, "0.1", 0.01, "1", 0.01),
    "XRPUSDT": (2.2, "10", 0.0001, "20", 0.0001),
}


def _price(value: float, tick: float) -> str:
    places = max(0, len(f"{tick:.10f}".rstrip("0").split(".")[1]))
    return f"{round(value / tick) * tick:.{places}f}"


def make_orders(n: int, *, market: str, seed: int, resting: float = 0.7) -> list[dict[str, Any]]:
    """``n`` valid orders: a fraction ``resting`` of resting limits (NEW), the rest half crossing
    limits, half market orders (FILLED at once), buys and sells, over five symbols; the same
    ``seed`` gives the same rows. (The paper exchange, like Binance, allows 200 open orders per
    symbol and account.)"""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for _ in range(n):
        symbol = rng.choice(sorted(_BOOK))
        price, spot_qty, spot_tick, usdm_qty, usdm_tick = _BOOK[symbol]
        qty, tick = (spot_qty, spot_tick) if market == "spot" else (usdm_qty, usdm_tick)
        side = rng.choice(["buy", "sell"])
        draw = rng.random()
        away = 0.97 if side == "buy" else 1.03
        if draw < resting:
            row = {"type": "limit", "price": _price(price * away, tick)}
        elif draw < (1 + resting) / 2:
            row = {"type": "limit", "price": _price(price / away, tick)}
        else:
            row = {"type": "market"}
        rows.append({"symbol": symbol, "side": side, "qty": qty, **row})
    return rows


# -- the invariants ---------------------------------------------------------------------------


def store_orders(store: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every row of the store's ``orders`` table (a short-lived read, like any store call)."""
    from toolkit.store._store import Store

    with Store(os.fspath(store)) as db:
        frame = db.sql(
            "SELECT client_order_id, status, filled_qty, placed, key, market, error_code, "
            "error_msg FROM orders"
        )
    return [dict(zip(frame.columns, row, strict=True)) for row in frame.itertuples(index=False)]


def _float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if out != out else out


def reconcile_report(
    rows: Iterable[Mapping[str, Any]],
    exchange_orders: Iterable[Mapping[str, Any]],
    placed_by_client_id: Mapping[str, int],
    *,
    expected: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The campaign's invariants for ``rows`` (store) against the exchange.

    ``expected`` maps batch keys to their row counts. Returns counts and ``violations`` (a list
    of readable strings, empty when everything held).
    """
    rows = list(rows)
    held = {str(o["clientOrderId"]): o for o in exchange_orders}
    ours = {str(r["client_order_id"]) for r in rows}
    violations: list[str] = []

    statuses = Counter(str(r["status"]) for r in rows)
    pending = [r for r in rows if r["status"] not in DEFINITE]
    if pending:
        violations.append(f"{len(pending)} rows without a definite status (PENDING)")

    twice = {cid: n for cid, n in placed_by_client_id.items() if n != 1 and cid in ours}
    if twice:
        violations.append(f"{len(twice)} client order ids placed more than once: "
                          f"{sorted(twice.items())[:5]}")  # fmt: skip

    mismatched: list[str] = []
    missing_in_store = [cid for cid in held if cid not in ours]
    if missing_in_store:
        violations.append(f"{len(missing_in_store)} orders at the exchange missing in the store: "
                          f"{missing_in_store[:5]}")  # fmt: skip
    missing_at_exchange: list[str] = []
    wrongly_held: list[str] = []
    for r in rows:
        cid = str(r["client_order_id"])
        at = held.get(cid)
        if at is None:
            if r["status"] in HELD:
                missing_at_exchange.append(cid)
            continue
        if r["status"] == "PENDING":  # not known yet (counted above): not a contradiction
            continue
        if r["status"] not in HELD:
            wrongly_held.append(f"{cid}: store {r['status']}, exchange {at['status']}")
            continue
        if (
            str(at["status"]) != r["status"]
            or abs(_float(at.get("executedQty")) - _float(r["filled_qty"])) > 1e-9
        ):
            mismatched.append(
                f"{cid}: store {r['status']}/{r['filled_qty']}, "
                f"exchange {at['status']}/{at.get('executedQty')}"
            )
    if missing_at_exchange:
        violations.append(f"{len(missing_at_exchange)} store rows marked held but absent at the "
                          f"exchange: {missing_at_exchange[:5]}")  # fmt: skip
    if wrongly_held:
        violations.append(f"{len(wrongly_held)} orders at the exchange the store says were not "
                          f"placed: {wrongly_held[:5]}")  # fmt: skip
    if mismatched:
        violations.append(f"{len(mismatched)} status/fill mismatches: {mismatched[:5]}")

    per_key = Counter(str(r["key"]) for r in rows)
    if expected is not None:
        for key, n in expected.items():
            if per_key.get(key, 0) != n:
                violations.append(f"batch {key!r}: {per_key.get(key, 0)} rows in the store, "
                                  f"expected {n}")  # fmt: skip
    not_placed = sum(1 for r in rows if r["placed"] is False or r["placed"] == 0)
    return {
        "rows": len(rows),
        "statuses": dict(sorted(statuses.items())),
        "held_at_exchange": sum(1 for cid in held if cid in ours),
        "max_placements_per_client_id": max(
            (n for cid, n in placed_by_client_id.items() if cid in ours), default=0
        ),
        "not_placed": not_placed,
        "violations": violations,
    }


# -- notebooks --------------------------------------------------------------------------------

#: The Jupyter kernel of the project's venv (``make`` installs it).
KERNEL = "toolkit"


def run_notebook(
    cells: list[str],
    out_path: Path,
    *,
    parameters: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> str | None:
    """Write ``cells`` as a notebook (the first one tagged ``parameters``) and run it with
    papermill in a kernel that inherits ``env``. Returns the error text, or ``None``.

    The kernel inherits this process's environment: ``env`` is set for the duration of the call
    (credentials go there, never into parameters, which papermill writes into the output)."""
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    source = out_path.with_suffix(".in.ipynb")
    nbformat.write(nb, source)
    wanted = {k: v for k, v in child_env(**(env or {})).items() if os.environ.get(k) != v}
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        papermill.execute_notebook(
            str(source), str(out_path), parameters=dict(parameters), kernel_name=KERNEL,
            progress_bar=False, execution_timeout=int(timeout), cwd=str(out_path.parent),
        )  # fmt: skip
    except papermill.PapermillExecutionError as exc:
        return f"{exc.ename}: {exc.evalue}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return None
