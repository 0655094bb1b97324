"""``bench/RESULTS.md`` and ``bench/results.json`` from one run's results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["GOAL", "render", "write"]

#: The toolkit's goal: at least this fraction of the floor's orders/s.
GOAL = 0.8
#: ... at least this multiple of ccxt's orders/s (spot).
CCXT_GOAL = 1.3
#: ... at most this multiple of the floor client's CPU per order.
CPU_GOAL = 1.25
#: ... the user-data stream costs at most this fraction of the batch's time.
STREAM_GOAL = 0.10
#: A 5-order batch: at most this multiple of the floor's time (and faster than the origin).
BATCH_GOAL = 2.0


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


def _stream_cost(figs: dict[str, Any]) -> float:
    """Time with the stream on / time with it off, minus one: the median over repetitions of
    each pair run back to back (a difference of two throughputs each swinging with the shared
    machine: pairing keeps the machine's drift out of it), else of the two medians."""
    on = figs["toolkit"].get("orders_per_s") or []
    off = figs["toolkit_nostream"].get("orders_per_s") or []
    paired = _median([b / a - 1 for a, b in zip(on, off, strict=True)]) if (
        on and len(on) == len(off) and all(on)
    ) else None
    if paired is not None:
        return round(paired, 3)
    return round(figs["toolkit_nostream"]["median_orders_per_s"]
                 / figs["toolkit"]["median_orders_per_s"] - 1, 3)  # fmt: skip


def ratios(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """toolkit/floor, ccxt/floor and toolkit/ccxt per market."""
    out: dict[str, dict[str, float | None]] = {}
    for market, figs in _markets(results).items():
        fl = figs["floor"]["median_orders_per_s"] or None
        tk = figs["toolkit"]["median_orders_per_s"] or None
        cx = figs["ccxt"]["median_orders_per_s"] or None
        off = figs.get("toolkit_nostream", {}).get("median_orders_per_s") or None
        cost = _stream_cost(figs) if tk and off else None
        cpu = {n: _median(f.get("client_cpu_ms_per_order", [])) for n, f in figs.items()}
        out[market] = {
            "toolkit/floor": _ratio(tk, fl),
            "toolkit_nostream/floor": _ratio(off, fl),
            "ccxt/floor": _ratio(cx, fl),
            "toolkit/ccxt": _ratio(tk, cx),
            "stream_cost": cost,
            "cpu toolkit/floor": _ratio(cpu.get("toolkit"), cpu.get("floor")),
            "cpu toolkit_nostream/floor": _ratio(cpu.get("toolkit_nostream"), cpu.get("floor")),
            "cpu ccxt/floor": _ratio(cpu.get("ccxt"), cpu.get("floor")),
        }
    return out


def _mark(value: float | None, ok: bool) -> str:
    return "" if value is None else (" ✅" if ok else " ❌")


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
        "| market | floor (raw aiohttp) | toolkit `tk.batch` (stream on) | toolkit (stream off) "
        f"| ccxt | toolkit/floor (goal ≥ {GOAL}) | toolkit/ccxt (goal ≥ {CCXT_GOAL}, spot) "
        f"| stream cost (goal ≤ {STREAM_GOAL:.0%}) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rat = results.get("ratios", {})
    tp = results.get("throughput")
    if isinstance(tp, dict) and "skipped" in tp:
        lines.append(f"| not measured: {tp['skipped']} | | | | | | | |")
    for market, figs in _markets(results).items():
        cells = []
        for name in ("floor", "toolkit", "toolkit_nostream", "ccxt"):
            fig = figs.get(name)
            if fig is None:
                cells.append("n/a")
            elif fig["skipped"]:
                cells.append(f"not measured ({fig['skipped'][:60]})")
            else:
                bad = sum(fig["orders"]) - sum(fig["accepted"])
                note = f" ({bad} of {sum(fig['orders'])} not accepted)" if bad else ""
                if fig.get("note"):
                    note += f" ({fig['note']})"
                cells.append(_f(fig["median_orders_per_s"]) + note)
        r = rat.get(market, {})
        tkf, tkc, cost = r.get("toolkit/floor"), r.get("toolkit/ccxt"), r.get("stream_cost")
        lines.append(
            f"| {market} | {' | '.join(cells)} | {_f(tkf, 2)}{_mark(tkf, (tkf or 0) >= GOAL)} "
            f"| {_f(tkc, 2)}{_mark(tkc if market == 'spot' else None, (tkc or 0) >= CCXT_GOAL)} "
            f"| {_f(None if cost is None else cost * 100, 1, '%')}"
            f"{_mark(cost, (cost or 0) <= STREAM_GOAL)} |"
        )
    lines += [
        "",
        "Client CPU per order (ms, median; the whole client process: input, validation, "
        "signing, parsing, frame, store and its background projection for the toolkit; the "
        "floor's signing included though it happens before its clock starts):",
        "",
        f"| market | floor | toolkit (stream on) | toolkit (stream off) | ccxt "
        f"| toolkit/floor (goal ≤ {CPU_GOAL}) | stream off/floor | ccxt/floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for market, figs in _markets(results).items():
        cpu = [
            _f(_median(figs.get(n, {}).get("client_cpu_ms_per_order", [])), 3)
            for n in ("floor", "toolkit", "toolkit_nostream", "ccxt")
        ]
        r = rat.get(market, {})
        c = r.get("cpu toolkit/floor")
        lines.append(
            f"| {market} | {' | '.join(cpu)} | {_f(c, 2)}{_mark(c, (c or 9) <= CPU_GOAL)} "
            f"| {_f(r.get('cpu toolkit_nostream/floor'), 2)} | {_f(r.get('cpu ccxt/floor'), 2)} |"
        )
    lines.append("")
    lines.append(
        "Server CPU per order (ms, median): "
        + "; ".join(
            f"{m} {n} {_f(_median(f[n]['server_cpu_ms_per_order']), 3)}"
            for m, f in _markets(results).items()
            for n in ("floor", "toolkit", "toolkit_nostream", "ccxt")
            if n in f
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


_PATTERN_TITLES = {
    "toolkit_sync_stream_off": "toolkit, `tk.run(tk.batch)` from sync code, stream off",
    "toolkit_sync_stream_on": "toolkit, `tk.run(tk.batch)` from sync code, stream on",
    "toolkit_loop_stream_off": "toolkit, `await tk.batch` in a running loop, stream off",
    "toolkit_loop_stream_on": "toolkit, `await tk.batch` in a running loop, stream on",
}


def _origin_table(results: dict[str, Any]) -> list[str]:
    cfg = results["config"]
    lines = [
        f"### 4. The origin's pattern vs ours: {cfg['origin_batches']} batches of 5 spot orders "
        "(ms per batch, median; patterns take turns in rounds of 10 batches)",
        "",
        "Each toolkit session (stream off, stream on) trades on an account of its own: a user-data"
        " stream carries every order of its account.",
        "",
        f"| transport | pattern | ms per batch (p90) | / floor (goal ≤ {BATCH_GOAL}) "
        "| / origin (goal < 1 over https) |",
        "|---|---|---:|---:|---:|",
    ]
    for scheme, fig in results.get("origin", {}).items():
        if "skipped" in fig and isinstance(fig["skipped"], str):
            lines.append(f"| {scheme} | not measured: {fig['skipped']} | | | |")
            continue
        lines.append(f"| {scheme} | floor: warm session, pre-signed "
                     f"| {_f(fig['floor']['median_ms'], 2)} ({_f(fig['floor']['p90_ms'], 2)}) "
                     "| 1.00 | |")  # fmt: skip
        og = fig["origin"]
        lines.append(
            f"| {scheme} | origin: new loop + session per batch | {_f(og['median_ms'], 2)} "
            f"({_f(og['p90_ms'], 2)}) | {_f(_ratio(og['median_ms'], fig['floor']['median_ms']), 2)}"
            " | 1.00 |"
        )
        for name, title in _PATTERN_TITLES.items():
            tk = fig.get(name)
            if tk is None:
                continue
            r = fig.get("ratios", {}).get(name, {})
            f_r, o_r = r.get("floor"), r.get("origin")
            o_mark = _mark(o_r, (o_r or 9) < 1.0) if scheme == "https" else ""
            lines.append(
                f"| {scheme} | {title} | {_f(tk['median_ms'], 2)} ({_f(tk['p90_ms'], 2)}) "
                f"| {_f(f_r, 2)}{_mark(f_r, (f_r or 9) <= BATCH_GOAL)} | {_f(o_r, 2)}{o_mark} |"
            )
    lines.append("")
    return lines


def _store_lines(results: dict[str, Any]) -> list[str]:
    st = results.get("store", {})
    lines = ["### 5. The store (journal + DuckDB files, fresh per run)", ""]
    if not st:
        lines += ["Store figures: not run.", ""]
    elif st.get("skipped"):
        lines += [f"Store figures: not measured: {st['skipped']}", ""]
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
            f"**{share['share'] * 100:.1f}%** (goal ≤ 5%) of {share['batch_ms']:.1f} ms "
            f"(time inside Store methods: {calls}).",
            "",
        ]
    return lines


def _store_table(st: dict[str, Any]) -> list[str]:
    return [
        "| operation | orders | seconds | orders/s |",
        "|---|---:|---:|---:|",
        f"| write-ahead `Store.record_batch` (journal, fsync'd) | {st['orders']:,} | "
        f"{_f(st['record_batch_s'], 3)} | {_f(st['record_batch_orders_per_s'])} |",
        f"| answers `Store.apply` (journal) | {st['orders']:,} | "
        f"{_f(st['apply_s'], 3)} | {_f(st['apply_orders_per_s'])} |",
        f"| projection of both into DuckDB (background, off the critical path) | "
        f"{st['orders']:,} | {_f(st['flush_s'], 3)} | {_f(st['flush_orders_per_s'])} |",
        "",
        f"A 5-order batch's store work on its critical path (median of {st['small_batches']:,}"
        f" batches one after the other, the projection running): write-ahead"
        f" {_f(st['small_record_ms'], 2)} ms (waits for the fsync), answers and finish"
        f" {_f(st['small_apply_ms'], 2)} ms.",
        "",
        *_tail_lines(st.get("small_tail")),
    ]


def _tail_lines(tail: dict[str, Any] | None) -> list[str]:
    if not tail:
        return []
    return [
        f"The tail of those {tail['writes']:,} writes: p99 {_f(tail['p99_ms'], 2)} ms, p99.9"
        f" {_f(tail['p999_ms'], 2)} ms, max {_f(tail['max_ms'], 1)} ms; {tail['over_10ms']} over"
        f" 10 ms. Full garbage collections meanwhile (each pauses every thread of the process):"
        f" {tail['full_gcs']}, longest {_f(tail['full_gc_max_ms'], 1)} ms. ARCHITECTURE.md (the"
        " store) says what the slowest writes are.",
        "",
    ]


def _two_process_lines(results: dict[str, Any]) -> list[str]:
    tp = results.get("two_processes", {})
    lines = ["### 8. Two processes, one store (a notebook and a papermill job)", ""]
    if not tp:
        return [*lines, "Not run.", ""]
    if tp.get("skipped"):
        return [*lines, f"Not measured: {tp['skipped']}", ""]
    ratio = tp["ratio"]
    waits = tp.get("lock_wait_shares", [])
    wait = tp.get("lock_wait_share_max")
    return [
        *lines,
        f"Each process places {tp['orders']} spot market orders in batches of {tp['batch']} "
        "(rate limits off, stream off) into the same store file.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| one after the other (sum of both walls) | {_f(tp['sequential_s'], 2)} s |",
        f"| at once (the later of both) | {_f(tp['concurrent_s'], 2)} s |",
        f"| at once / one after the other (goal ≤ 1.2) | {_f(ratio, 2)}"
        f"{_mark(ratio, (ratio or 9) <= 1.2)} |",
        f"| waiting for the other process's store work, share of each process's batches, at"
        f" once (goal ≤ 5%) | {' / '.join(f'{x * 100:.2f}%' for x in waits)}"
        f"{_mark(wait, (wait or 0.0) <= 0.05)} |",
        f"| all store work (its own fsync'd write-ahead included), share of each process's"
        f" batches, at once | {' / '.join(f'{x * 100:.1f}%' for x in tp['store_shares'])} |",
        f"| orders accepted per run | {' / '.join(map(str, tp['accepted']))} |",
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


def _candles_lines(results: dict[str, Any]) -> list[str]:
    c = results.get("candles", {})
    lines = ["### 9. Research data: candles into the store (rate limits on)", ""]
    if not c:
        return [*lines, "Not run.", ""]
    if c.get("skipped"):
        return [*lines, f"Not measured: {c['skipped']}", ""]
    fast = c["days"] < 30 or c["seconds"] < 30
    one = c["second_requests"] <= len(c["symbols"])
    lines += [
        f"`tk.candles({c['symbols']}, {c['interval']!r}, start=now - {c['days']} days)` from a "
        "paper exchange process with Binance's rate limits on (and the client's limiter), into "
        "a fresh store (`bench/candles.py`).",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| first call: rows / requests / seconds (goal < 30 s) | {c['rows']:,} / "
        f"{c['requests']} / {c['seconds']}{_mark(c['seconds'], fast)} |",
        f"| second call: requests (goal: one per symbol) / seconds | {c['second_requests']}"
        f"{_mark(c['second_requests'], one)} / {c['second_seconds']} |",
        "",
    ]
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
        "the clock starts; repetitions are interleaved (the stream-on and stream-off toolkit "
        "runs of a repetition back to back, in turn first: the stream cost is the median of "
        "those pairs' ratios). The toolkit figures include validation, "
        "signing, sending, normalization and persistence to a fresh store per run.",
        "",
        "Like with like: all three clients send the same requests (spot: one POST /api/v3/order "
        "per order; USD-M: batchOrders of 5). The floor only signs (before its clock) and "
        "sends. ccxt also builds its own order dicts and parses the answers. The toolkit also "
        "reads the DataFrame, validates every row against the symbol's filters, derives client "
        "order ids, writes every order ahead into its journal (fsync'd) before it is sent, "
        "writes the answers, projects both into DuckDB in the background, and returns a typed "
        "DataFrame; 'stream on' also keeps the user-data stream open, whose events go through "
        "the same finalize step.",
        "",
    ]
    lines += _throughput_table(results)
    lines += _origin_table(results)
    lines += _store_lines(results)
    lines += _two_process_lines(results)
    lines += _stability_lines(results)
    lines += _capacity_lines(results)
    lines += _candles_lines(results)
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
