"""Scenario "secrets": the API key and secret never show up where a user or a log could see them.

A session connects with explicit keys to a paper exchange process and goes through the ordinary
and the failing paths: batches on spot and USD-M, unknown outcomes (5xx/dropped after accept),
a wrong secret, an unreachable exchange, a strict batch with invalid rows, a reused key, an
unreadable frame, missing keys. Then every surface is scanned for the key and the secret (and
for any 12-character piece of their beginning or end):

* the store file's bytes (and its WAL), and a Parquet export;
* every log record of every logger of this process at DEBUG (message, arguments, formatted
  traceback) -- the notebook run is left out: papermill's own DEBUG log echoes the cells' sources;
* every exception raised: ``str``, ``repr``, its attributes and the full chained traceback;
* the ``repr`` of the session, its config, transport, adapter, store and order feed;
* the open-order panel: every widget's state and the static snapshot;
* a notebook executed by papermill that connects with the keys written in a cell, logs at DEBUG,
  shows the session, a batch and the panel, and fails on purpose: its outputs and metadata (the
  cell sources hold what the user typed, so they are left out of the scan).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import toolkit as tk

from ._harness import PaperProc, connect_settings, make_orders, run_notebook

__all__ = ["run_secrets"]


def _needles(*values: str) -> list[str]:
    out: list[str] = []
    for value in values:
        out += [value, value[:12], value[-12:]]
    return out


def _hits(text: str, needles: Iterable[str]) -> list[str]:
    return sorted({n[:4] + "..." for n in needles if n and n in text})


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.toolkit = 0
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record) + " " + repr(record.args))
        self.toolkit += record.name.startswith("toolkit")


def _exception_text(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), *traceback.format_exception(exc)]
    for value in vars(exc).values():
        parts.append(repr(value))
    return "\n".join(parts)


async def _failing_paths(paper: PaperProc, store: Path, key: str, secret: str,
                         exceptions: list[str]) -> tk.Session:  # fmt: skip
    async def expect(aw: Any) -> None:
        try:
            await aw
        except (tk.ToolkitError, ValueError) as exc:
            exceptions.append(_exception_text(exc))
        else:
            exceptions.append("")  # an expected failure did not happen: counted, not scanned

    settings = connect_settings(paper, store, api_key=key, api_secret=secret, timeout=1.0,
                                recv_window=2.0, send_window=2.0)  # fmt: skip
    session = await tk.connect("binance", **settings)
    await session.batch(make_orders(20, market="spot", seed=1), key="secrets-spot")
    usdm = await tk.connect("binance", **{**settings, "market": "usdm"})
    await usdm.batch(make_orders(20, market="usdm", seed=2), key="secrets-usdm")
    paper.set_faults(error_after_rate=0.4, drop_after_rate=0.3, seed=3)
    await session.batch(make_orders(20, market="spot", seed=3), key="secrets-faults")
    paper.set_faults()
    await usdm.close()

    wrong = await tk.connect("binance", **{**settings, "api_secret": "0" * 64})
    await wrong.batch(make_orders(3, market="spot", seed=4), key="secrets-wrong-secret")
    await expect(wrong.open_orders())
    await wrong.close()
    down = await tk.connect("binance", **{**settings, "base_url": "http://127.0.0.1:9"})
    await expect(down.batch(make_orders(3, market="spot", seed=5), key="secrets-down"))
    await down.close()
    invalid = [{"symbol": "BTCUSDT", "side": "buy", "qty": -1, "price": 1}]
    await expect(session.batch(invalid, strict=True))
    await expect(session.batch(make_orders(2, market="spot", seed=6), key="secrets-spot"))
    await expect(session.batch([{"no": "columns"}, 5]))  # type: ignore[list-item]
    await expect(tk.connect("binance", **{**settings, "api_secret": None, "api_key": key}))
    return session


def _panel_text(session: tk.Session) -> tuple[str, int]:
    from ipywidgets.widgets import widget

    from toolkit.notebook import _panel

    view = _panel.panel(session)
    try:
        states = [json.dumps(w.get_state(), default=repr) for w in
                  list(widget._instances.values())]  # fmt: skip
        text = "\n".join([*states, str(view.snapshot()), repr(view)])
    finally:
        view.close()
    return text, len(states)


_NOTEBOOK = [
    'url = ""\nstore = ""',
    # the keys as a user writes them in a cell (papermill parameters would be written into the
    # output notebook, so jobs should use TOOLKIT_API_KEY/TOOLKIT_API_SECRET instead)
    'KEY = "@KEY@"\nSECRET = "@SECRET@"',
    "import logging, toolkit as tk\n"
    "logging.basicConfig(level=logging.DEBUG)\n"
    'session = await tk.connect("binance", base_url=url, api_key=KEY, api_secret=SECRET,\n'
    "                           store=store, stream=False)\n"
    "session",
    'frame = await session.batch([{"symbol": "BTCUSDT", "side": "buy", "price": 80000,\n'
    '                              "qty": 0.001}], key="notebook-secrets")\n'
    "frame",
    "session.transport, session.adapter, session.config, session.store",
    "from toolkit import _panel\npanel = _panel.panel(session)\npanel",
    "panel.snapshot()",
    "# fails on purpose: the exchange is unreachable\n"
    'down = await tk.connect("binance", base_url="http://127.0.0.1:9", api_key=KEY,\n'
    "                        api_secret=SECRET, store=store, stream=False)\n"
    'await down.batch([{"symbol": "BTCUSDT", "side": "buy", "price": 80000, "qty": 0.001}])',
]


def _notebook(paper: PaperProc, workdir: Path, key: str, secret: str) -> tuple[str, str | None]:
    cells = [c.replace("@KEY@", key).replace("@SECRET@", secret) for c in _NOTEBOOK]
    out = workdir / "secrets.ipynb"
    error = run_notebook(
        cells, out, parameters={"url": paper.url, "store": str(workdir / "notebook.duckdb")}
    )
    nb = json.loads(out.read_text())
    for cell in nb["cells"]:
        cell["source"] = ""
    return json.dumps(nb), error


def _read_all(folder: Path, pattern: str) -> bytes:
    return b"".join(p.read_bytes() for p in folder.glob(pattern) if p.is_file())


async def run_secrets(workdir: Path) -> dict[str, Any]:
    """The scenario (module docstring); returns what was scanned and ``violations``."""
    store = workdir / "secrets.duckdb"
    capture = _Capture()
    root = logging.getLogger()
    # every toolkit logger at DEBUG, whatever level it was given, and everything else via root
    loggers = [root, logging.getLogger("toolkit")] + [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name.startswith("toolkit.")
    ]
    levels = [lg.level for lg in loggers]
    root.addHandler(capture)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    exceptions: list[str] = []
    try:
        with PaperProc() as paper:
            key, secret = paper.new_key()
            session = await _failing_paths(paper, store, key, secret, exceptions)
            reprs = [repr(x) for x in (session, session.config, session.transport,
                                       session.adapter, session.store, session.feed)]  # fmt: skip
            panel_text, widgets = _panel_text(session)
            export = Path(session.export(str(workdir / "export")))
            await session.close()
            root.removeHandler(capture)  # papermill's own DEBUG log echoes the cells' sources
            notebook_text, notebook_error = _notebook(paper, workdir, key, secret)
    finally:
        root.removeHandler(capture)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
    needles = _needles(key, secret)
    store_bytes = _read_all(workdir, "secrets.duckdb*")
    export_bytes = _read_all(export, "**/*")
    surfaces = {
        "store_file": (store_bytes.decode("latin-1"), len(store_bytes)),
        "parquet_export": (export_bytes.decode("latin-1"), len(export_bytes)),
        "log_records": ("\n".join(capture.texts), len(capture.texts)),
        "toolkit_log_records": ("", capture.toolkit),
        "exceptions": ("\n".join(exceptions), sum(1 for e in exceptions if e)),
        "reprs": ("\n".join(reprs), len(reprs)),
        "panel_widgets": (panel_text, widgets),
        "notebook_output": (notebook_text, len(notebook_text)),
    }
    out: dict[str, Any] = {}
    violations: list[str] = []
    for name, (text, count) in surfaces.items():
        hits = _hits(text, needles)
        out[name] = {"scanned": count, "hits": len(hits)}
        if hits:
            violations.append(f"{name}: contains {hits}")
    missing = sum(1 for e in exceptions if not e)
    if missing:
        violations.append(f"{missing} expected failures did not raise")
    if notebook_error is None:
        violations.append("the notebook was meant to fail and did not")
    out["notebook_error"] = notebook_error
    out["units"] = {"store_file": "bytes", "parquet_export": "bytes", "log_records": "records",
                    "toolkit_log_records": "records (of which from toolkit loggers)",
                    "exceptions": "exceptions", "reprs": "objects",
                    "panel_widgets": "widgets", "notebook_output": "characters"}  # fmt: skip
    out["violations"] = violations
    return out
