"""The cost report's chart: a batch's fills drawn against the price path (matplotlib).

matplotlib, because the chart must show in two places: live in Jupyter and as a static image in
papermill's output notebook (and its HTML export), where no JavaScript runs. A figure rendered
to PNG does both, with no front-end extension to install. The figure is built with
``matplotlib.figure.Figure`` (not ``pyplot``), so it never lands in pyplot's global state: no
second copy drawn by the inline backend at the end of the cell, nothing left open.

Example::

    chart = tk.costs(key="rebalance").plot()
    chart.savefig("costs.png")
"""

from __future__ import annotations

import io
from typing import Any, Protocol

import pandas as pd

from ..core._exceptions import ToolkitError

__all__ = ["Charted", "CostChart", "draw"]


class Charted(Protocol):
    """What the chart reads of a cost report (``toolkit.store._costs.CostReport`` has it; a
    protocol, so this module does not import the report's: the report imports this one)."""

    orders: pd.DataFrame
    fills: pd.DataFrame
    candles: pd.DataFrame
    summary: pd.DataFrame
    created_at: pd.Timestamp

_BUY, _SELL, _PRICE = "#1a9850", "#d73027", "#4a4a4a"


class CostChart:
    """A rendered cost chart: shown as a PNG by Jupyter (``_repr_png_``); ``figure`` is the
    matplotlib ``Figure``.

    Example::

        chart = report.plot()
        chart.figure.axes[0].set_ylim(88_000, 92_000)
    """

    def __init__(self, figure: Any) -> None:
        #: The matplotlib figure.
        self.figure = figure

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()

    def savefig(self, path: Any, **options: Any) -> None:
        """Save the chart (``Figure.savefig``)."""
        self.figure.savefig(path, **options)


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ToolkitError(
            "the cost chart needs matplotlib, part of toolkit's notebook extra: "
            "pip install 'toolkit[notebook]' (or pip install 'matplotlib>=3.8,<4')"
        ) from exc
    return Figure


def draw(report: Charted, *, width: float = 9.0) -> CostChart:
    """One panel per symbol of the batch: candles (range as a band, close as a line), the
    arrival price (dashed), the batch's write-ahead time (dotted) and every fill."""
    figure_class = _figure_class()
    symbols = list(dict.fromkeys(report.orders["symbol"].astype(str)))
    rows = max(1, len(symbols))
    figure = figure_class(figsize=(width, 2.6 * rows), layout="constrained")
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    for ax, symbol in zip(axes, symbols or [""], strict=False):
        _panel(ax, report, symbol)
    first = report.summary.iloc[0]
    name = first["key"] if isinstance(first["key"], str) else first["batch_id"]
    slip = first["slippage_bps"]
    title = f"batch {name}"
    if not pd.isna(slip):
        title += f": slippage {slip:+.1f} bps"
    figure.suptitle(title)
    return CostChart(figure)


def _panel(ax: Any, report: Charted, symbol: str) -> None:
    candles = report.candles[report.candles["symbol"] == symbol]
    if not candles.empty:
        times = candles["open_time"].dt.tz_convert(None)
        ax.fill_between(times, candles["low"], candles["high"], step="post", color=_PRICE,
                        alpha=0.15, linewidth=0, label="high-low")  # fmt: skip
        closes = candles["close_time"].dt.tz_convert(None)
        ax.plot(closes, candles["close"], color=_PRICE, linewidth=1, label="close")
    orders = report.orders[report.orders["symbol"] == symbol]
    arrival = orders["arrival_price"].dropna()
    if not arrival.empty:
        ax.axhline(float(arrival.iloc[0]), color="#2c7bb6", linestyle="--", linewidth=1,
                   label="arrival")  # fmt: skip
    ax.axvline(report.created_at.tz_convert(None), color="#2c7bb6", linestyle=":", linewidth=1)
    fills = report.fills[report.fills["symbol"] == symbol]
    if not fills.empty:
        size = 20 + 80 * fills["qty"] / float(fills["qty"].max() or 1)
        for side, marker, color in (("buy", "^", _BUY), ("sell", "v", _SELL)):
            mine = fills["side"] == side
            if mine.any():
                ax.scatter(fills.loc[mine, "time"].dt.tz_convert(None), fills.loc[mine, "price"],
                           s=size[mine], marker=marker, color=color, zorder=3,
                           label=f"{side} fills")  # fmt: skip
    if candles.empty and fills.empty:
        ax.text(0.5, 0.5, "no candles or fills stored", transform=ax.transAxes, ha="center")
    ax.set_title(symbol, loc="left", fontsize=10)
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
