"""``bench/RESULTS.md`` and ``bench/results.json`` from one run's results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["GOAL", "render", "write"]

#: The toolkit's goal: at least this fraction of the floor's orders/s.
GOAL = 0.8


def _f(value: Any, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    return f"{value}{suffix}"


def _ratio(a: float | None, b: float | None) -> float | None:
    if not a or not b:
        return None
    return round(a / b, 3)


def ratios(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """toolkit/floor, ccxt/floor and toolkit/ccxt per market."""
    out: dict[str, dict[str, float | None]] = {}
    for market, figs in _markets(results).items():
        fl = figs["floor"]["median_orders_per_s"] or None
        tk = figs["toolkit"]["median_orders_per_s"] or None
        cx = figs["ccxt"]["median_orders_per_s"] or None
        out[market] = {
            "toolkit/floor": _ratio(tk, fl),
            "ccxt/floor": _ratio(cx, fl),
            "toolkit/ccxt": _ratio(tk, cx),
        }
    return out


def _markets(results: dict[str, Any]) -> dict[str, Any]:
    """The throughput figures per market (empty if the section failed)."""
    tp = results.get("throughput")
    if not isinstance(tp, dict) or "skipped" in tp:
        return {}
    return tp


def _throughput_table(results: dict[str, Any]) -> list[str]:
    cfg = results["config"]
    lines = [
        f"### 1-3. Throughput: {cfg['orders']:,} orders, concurrency {cfg['concurrency']}, "
        f"median of {cfg['reps']} (orders/s)",
        "",
        "| market | floor (raw aiohttp) | toolkit `tk.batch` | ccxt | toolkit/floor "
        f"(goal ≥ {GOAL}) | ccxt/floor | toolkit/ccxt |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rat = results.get("ratios", {})
    tp = results.get("throughput")
    if isinstance(tp, dict) and "skipped" in tp:
        lines.append(f"| not measured: {tp['skipped']} | | | | | | |")
    for market, figs in _markets(results).items():
        cells = []
        for name in ("floor", "toolkit", "ccxt"):
            fig = figs[name]
            if fig["skipped"]:
                cells.append(f"not measured ({fig['skipped'][:60]})")
            else:
                bad = sum(fig["orders"]) - sum(fig["accepted"])
                note = f" ({bad} of {sum(fig['orders'])} not accepted)" if bad else ""
                if fig.get("note"):
                    note += f" ({fig['note']})"
                cells.append(_f(fig["median_orders_per_s"]) + note)
        r = rat.get(market, {})
        tkf = r.get("toolkit/floor")
        mark = "" if tkf is None else (" ✅" if tkf >= GOAL else " ❌")
        lines.append(
            f"| {market} | {' | '.join(cells)} | {_f(tkf, 2)}{mark} | "
            f"{_f(r.get('ccxt/floor'), 2)} | {_f(r.get('toolkit/ccxt'), 2)} |"
        )
    lines.append("")
    lines.append(
        "Server CPU per order (ms, median): "
        + "; ".join(
            f"{m} {n} {_f(_median(f[n]['server_cpu_ms_per_order']), 3)}"
            for m, f in _markets(results).items()
            for n in ("floor", "toolkit", "ccxt")
        )
    )
    lines.append("")
    return lines


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _origin_table(results: dict[str, Any]) -> list[str]:
    cfg = results["config"]
    lines = [
        f"### 4. The origin's pattern vs ours: {cfg['origin_batches']} batches of 5 spot orders "
        "from sync code (ms per batch)",
        "",
        "| transport | floor (warm session) | origin: new loop + session per batch | overhead "
        "| toolkit `tk.run(tk.batch)` | overhead |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for scheme, fig in results.get("origin", {}).items():
        if "skipped" in fig and isinstance(fig["skipped"], str):
            lines.append(f"| {scheme} | not measured: {fig['skipped']} | | | | |")
            continue
        fl, og, tk = fig["floor"], fig["origin"], fig["toolkit"]
        tk_cell = (
            f"not measured ({tk['skipped'][:60]})" if tk.get("skipped")
            else f"{_f(tk['median_ms'], 2)} (p90 {_f(tk['p90_ms'], 2)})"
        )  # fmt: skip
        lines.append(
            f"| {scheme} | {_f(fl['median_ms'], 2)} (p90 {_f(fl['p90_ms'], 2)}) "
            f"| {_f(og['median_ms'], 2)} (p90 {_f(og['p90_ms'], 2)}) "
            f"| {_f(fig.get('origin_overhead_ms'), 2, ' ms')} | {tk_cell} "
            f"| {_f(fig.get('toolkit_overhead_ms'), 2, ' ms')} |"
        )
    lines.append("")
    return lines


def _store_lines(results: dict[str, Any]) -> list[str]:
    st = results.get("store", {})
    lines = ["### 5. The store (DuckDB file, fresh per run)", ""]
    if not st:
        lines += ["Bulk vs per-row: not run.", ""]
    elif st.get("skipped"):
        lines += [f"Bulk vs per-row: not measured: {st['skipped']}", ""]
    else:
        lines += _store_table(st)
    share = results.get("store_share", {})
    if share.get("skipped"):
        lines += [f"Store share of a batch: not measured ({share['skipped']}).", ""]
    elif share:
        calls = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in share["by_method_s"].items())
        lines += [
            f"Store share of a {share['orders']}-order `tk.batch` (its own store calls, "
            f"user-data stream off; median of {share['reps']}): "
            f"**{share['share'] * 100:.0f}%** of {share['batch_ms']:.1f} ms "
            f"(time inside Store methods: {calls}).",
            "",
        ]
    return lines


def _store_table(st: dict[str, Any]) -> list[str]:
    return [
        "| operation | orders | seconds | orders/s |",
        "|---|---:|---:|---:|",
        f"| write-ahead `Store.record_batch` (bulk) | {st['orders']:,} | "
        f"{_f(st['record_batch_s'], 3)} | {_f(st['record_batch_orders_per_s'])} |",
        f"| answers `Store.apply` (bulk upsert + events) | {st['orders']:,} | "
        f"{_f(st['apply_s'], 3)} | {_f(st['apply_orders_per_s'])} |",
        f"| same write-ahead rows, per-row `executemany` | {st['per_row_orders']:,} | "
        f"{_f(st['per_row_s'], 3)} | {_f(st['per_row_orders_per_s'])} |",
        "",
        f"Bulk write-ahead is {_f(st['bulk_vs_per_row'], 1)}× the per-row inserts (per-row "
        "inserts are linear in the rows, so they are timed on fewer rows and compared per order).",
        "",
    ]


def _stability_lines(results: dict[str, Any]) -> list[str]:
    st = results.get("stability", {})
    lines = ["### 6. Stability: consecutive batches on one session", ""]
    if not st:
        return [*lines, "Not run.", ""]
    if st.get("skipped"):
        return [*lines, f"Not measured: {st['skipped']}", ""]
    ok = "✅" if st["client_sessions_created"] == 1 else "❌"
    fd_ok = "✅" if st["fds_after"] <= st["fds_before"] else "❌"
    lines += [
        "| figure | value |",
        "|---|---:|",
        f"| batches × orders (planned {st.get('batches_planned', st['batches'])}) | "
        f"{st['batches']} × {st['orders_per_batch']} "
        f"({st['accepted']} accepted, {st['seconds']} s) |",
        f"| aiohttp ClientSessions created (must be 1) | {st['client_sessions_created']} {ok} |",
        f"| transport `sessions_created` counter | {st['transport_sessions_created']} |",
        f"| open TCP sockets: before / peak / after (concurrency {st['concurrency']}) | "
        f"{st['sockets_before']} / {st['peak_sockets']} / {st['sockets_after']} |",
        f"| open file descriptors: before / after (must not grow) | "
        f"{st['fds_before']} / {st['fds_after']} {fd_ok} |",
        f"| RSS MiB: before / peak / after | {st['rss_before_mib']} / {st['peak_rss_mib']} / "
        f"{st['rss_after_mib']} |",
        "",
    ]
    return lines


def _capacity_lines(results: dict[str, Any]) -> list[str]:
    cap = results.get("capacity", {})
    lines = ["### 7. The paper exchange's own capacity", ""]
    if not cap:
        return [*lines, "Not run.", ""]
    if cap.get("skipped"):
        return [*lines, f"Not measured: {cap['skipped']}", ""]
    lines += [
        "| market | floor client at concurrency | orders/s | requests/s | server CPU ms/order | "
        "server alone on one core (orders/s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in cap.get("markets", []):
        lines.append(
            f"| {m['market']} | {m['concurrency']} | {_f(m['orders_per_s'])} | "
            f"{_f(m['requests_per_s'])} | {_f(m['server_cpu_ms_per_order'], 3)} | "
            f"{_f(m['server_one_core_orders_per_s'])} |"
        )
    pc = cap.get("paper_capacity")
    lines.append("")
    if pc is None:
        lines.append("`bench/paper_capacity.py` (the paper exchange's own probe) is not present.")
    else:
        lines.append("`bench/paper_capacity.py` says: `" + json.dumps(pc)[:600] + "`")
    lines.append("")
    return lines


def _profile_lines(results: dict[str, Any]) -> list[str]:
    prof = results.get("profile")
    if not prof:
        return []
    lines = [
        f"### Profile: where the toolkit's time goes ({prof['what']})",
        "",
        f"pyinstrument on the toolkit's I/O thread, {prof['duration_s']} s sampled. "
        "Top functions by own time:",
        "",
        "| function | where | own s | share |",
        "|---|---|---:|---:|",
    ]
    for row in prof["self"][:12]:
        lines.append(
            f"| `{row['function']}` | {row['where']} | {row['seconds']} | "
            f"{row['share'] * 100:.1f}% |"
        )
    lines += ["", "Top by inclusive time:", "", "| function | where | s | share |",
              "|---|---|---:|---:|"]  # fmt: skip
    for row in prof["inclusive"][:12]:
        lines.append(
            f"| `{row['function']}` | {row['where']} | {row['seconds']} | "
            f"{row['share'] * 100:.1f}% |"
        )
    lines.append("")
    return lines


def render(results: dict[str, Any]) -> str:
    """The markdown report."""
    m = results["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    cfg = results["config"]
    lines = [
        "# Benchmark results",
        "",
        f"Run on {results['date']} with `{results['command']}` "
        f"({results['duration_s']:.0f} s{', QUICK mode' if cfg.get('quick') else ''}).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
        f"{m['python']}; {pk}.",
        "",
        "All figures come from one standalone paper exchange process (`python -m toolkit paper "
        "--no-rate-limits --price-mode fixed`, on 127.0.0.1, sharing the machine with the client), "
        f"the same orders ({cfg['order_kind']}) and concurrency {cfg['concurrency']} for every "
        "client; each client is opened and warmed (markets loaded, connections open) before "
        "the clock starts; repetitions are interleaved. The toolkit figures include validation, "
        "signing, sending, normalization and persistence to a fresh DuckDB file per run.",
        "",
    ]
    lines += _throughput_table(results)
    lines += _origin_table(results)
    lines += _store_lines(results)
    lines += _stability_lines(results)
    lines += _capacity_lines(results)
    lines += _profile_lines(results)
    if results.get("notes"):
        lines += ["### Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(lines)


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``RESULTS.md`` and ``results.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "RESULTS.md"
    js = out_dir / "results.json"
    md.write_text(render(results))
    js.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return md, js
