"""The figures section of ``RELIABILITY.md``, rendered from a run's ``results.json``.

``python -m bench.reliability --full`` rewrites the part of ``RELIABILITY.md`` between
``<!-- figures:start -->`` and ``<!-- figures:end -->``; the prose around it is written by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["END", "START", "render", "update_doc"]

START = "<!-- figures:start -->"
END = "<!-- figures:end -->"


def _held(result: dict[str, Any]) -> str:
    violations = result.get("violations", [])
    return "held" if not violations else "**" + "; ".join(violations)[:300] + "**"


def _kv(data: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in data.items()) or "none"


def _faults(r: dict[str, Any]) -> list[str]:
    under, reconnect, rerun = r["under_faults"], r["after_reconnect"], r["after_rerun"]
    return [
        f"{r['orders']} orders ({_kv(r['markets'])}) in {r['batches']} batches, seed {r['seed']}, "
        f"four batches in flight; client timeout {r['session']['timeout']} s, recvWindow "
        f"{r['session']['recv_window']} s, send window {r['session']['send_window']} s.",
        "",
        "| fault kind | injected |",
        "| --- | ---: |",
        *(f"| {k} | {v} |" for k, v in under["faults_injected"].items()),
        "",
        f"Requests served under faults: {under['requests']} "
        f"(answers: {_kv(under['responses_by_status'])}). Calls that raised (a pre-send read "
        f"refused or timed out; run again after the Retry-After, like a user re-running the "
        f"cell): {_kv(under['calls_raised'])}; batches given up after three runs: "
        f"{under['batches_given_up']}.",
        "",
        "| step | seconds | store rows | statuses | PENDING | at the exchange | max placements "
        "per id | not placed | invariants broken |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
        *(
            f"| {name} | {secs} | {c['rows']} | {_kv(c['statuses'])} | "
            f"{c['statuses'].get('PENDING', 0)} | {c['held_at_exchange']} | "
            f"{c['max_placements_per_client_id']} | {c['not_placed']} | "
            f"{len(c['violations'])} |"
            for name, secs, c in (
                ("1. under faults", under["seconds"], under["check"]),
                (
                    "2. reconnect (connect reconciles)",
                    reconnect["connect_seconds"],
                    reconnect["check"],
                ),
                ("3. re-run every key", rerun["seconds"], rerun["check"]),
            )
        ),
        "",
        f"Orders sent again by the re-run (proven not placed before): "
        f"{rerun['orders_sent_again']}. Store events: {_kv(r['order_events'])}.",
    ]


def _unreachable(r: dict[str, Any]) -> list[str]:
    p, d = r["paused"], r["dropped"]
    call = p["call"]["raised"] or f"returned ({_kv(p['call']['statuses'])})"
    return [
        f"Paused (SIGSTOP) after {p['accepted_when_paused']} of {p['orders']} orders were "
        f"accepted: the call {call} after {p['call_returned_after_s']} s; PENDING rows in the "
        f"store while down: {p['pending_in_store_while_down']}; after the exchange resumed and a "
        f"new connect: {p['pending_after_reconnect']} PENDING; the re-run sent "
        f"{p['sent_by_rerun']} (held before: {p['held_before_rerun']}); the exchange ends with "
        f"{p['check']['held_at_exchange']} orders, each placed "
        f"{p['check']['max_placements_per_client_id']}x.",
        "",
        f"Every connection dropped after accept ({d['orders']} USD-M orders): the batch returned "
        f"in {d['seconds']} s with {_kv(d['statuses'])}.",
    ]


def _crashes(r: dict[str, Any]) -> list[str]:
    lines = [
        f"{r['orders_per_batch']} spot orders per batch, one SIGKILL per point, then a re-run "
        "with the same key in a new process.",
        "",
        "| kill point | exit | at the exchange at kill | store rows / PENDING at kill | re-run s "
        "| re-run requests | at the exchange after | max placements per id | violations |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for p in r["points"]:
        k = p["at_kill"]
        lines.append(
            f"| {p['point']} | {k['exit_code']} | {k['exchange_holds']} | {k['store_rows']} / "
            f"{k['store_pending']} | {p['rerun_seconds']} | {p.get('rerun_requests', '')} | "
            f"{p['exchange_holds']} | {p['check']['max_placements_per_client_id']} | "
            f"{len(p['violations'])} |"
        )
    return lines


def _hostile(r: dict[str, Any]) -> list[str]:
    return [
        f"{r['examples']} hypothesis examples (seed {r['seed']}): {_kv(r['counts'])}; exchange "
        f"refusals of sent rows by code: {_kv(r['rejected_by_code'])}.",
    ]


def _malformed(r: dict[str, Any]) -> list[str]:
    base, under = r["correct_client_baseline"], r["correct_client_under_attack"]
    return [
        f"{r['hostile_requests']} hostile requests in {r['seconds']} s plus {r['slow_clients']} "
        "slow connections, while a correct client placed batches of 10:",
        "",
        "| hostile kind | answers |",
        "| --- | --- |",
        *(f"| {k} | {_kv(v)} |" for k, v in r["hostile"].items()),
        "",
        f"Correct client: {base['batches']} batches alone (p50 {base['p50_ms']} ms, p99 "
        f"{base['p99_ms']} ms), {under['batches']} under attack (p50 {under['p50_ms']} ms, p99 "
        f"{under['p99_ms']} ms), failed rows {base['failed_rows'] + under['failed_rows']}. "
        f"aiohttp's parser logged {r['aiohttp_parser_tracebacks_logged']} tracebacks for the "
        "malformed HTTP it refused.",
    ]


def _tampered(r: dict[str, Any]) -> list[str]:
    p = r["proxy"]
    return [
        "Raw: "
        + _kv({k: f"HTTP {v['status']} code {v['code']}" for k, v in r["raw"].items()})
        + ".",
        f"Through a proxy changing one digit of the quantity: {p['requests_tampered']} of "
        f"{p['orders']} order requests altered, outcomes {_kv(p['outcomes'])}, orders at the "
        f"exchange {p['held_at_exchange']}.",
    ]


def _secrets(r: dict[str, Any]) -> list[str]:
    units = r["units"]
    rows = [f"| {k} | {r[k]['scanned']} {units[k]} | {r[k]['hits']} |" for k in units]
    return ["| surface | scanned | hits |", "| --- | ---: | ---: |", *rows, "",
            f"The notebook failed on purpose with: `{r['notebook_error']}`."]  # fmt: skip


def _load(r: dict[str, Any]) -> list[str]:
    c, s = r["concurrent"], r["shared_store"]
    return [
        f"{c['batches']} concurrent batches x {c['orders'] // c['batches']} orders from one "
        f"session: {c['seconds']} s ({c['orders_per_second']} orders/s), {_kv(c['statuses'])}; "
        f"connections held by the session at most {c['max_client_connections']} (limit "
        f"{c['connection_limit']}), TCP connections at the server at most "
        f"{c['max_server_connections']} ({c['samples']} samples); store rows "
        f"{c['check']['rows']}, max placements per id "
        f"{c['check']['max_placements_per_client_id']}.",
        "",
        f"A papermill notebook and a separate process, {s['batches_each']} batches each, one store "
        f"file, at the same time: {s['seconds']} s, store rows {s['check']['rows']} of "
        f"{s['orders']}, {_kv(s['check']['statuses'])}.",
    ]


_SECTIONS = {
    "faults": ("Faults", _faults),
    "unreachable": ("Exchange unreachable", _unreachable),
    "crashes": ("Crashes (SIGKILL)", _crashes),
    "hostile_input": ("Hostile input (hypothesis, end to end)", _hostile),
    "malformed_traffic": ("Malformed traffic at the paper exchange", _malformed),
    "tampered": ("Requests altered in transit", _tampered),
    "secrets": ("Secrets", _secrets),
    "load": ("Load", _load),
}


def render(report: dict[str, Any]) -> str:
    """Markdown for the figures of ``report`` (the content of ``results.json``)."""
    lines = [
        f"Run: `{report['command']}` on {report['date']} ({report['machine']['cpus']} CPUs, "
        f"Python {report['machine']['python']}), {report['seconds']} s in all.",
        "",
        "| scenario | seconds | result |",
        "| --- | ---: | --- |",
    ]
    results = report["results"]
    for name, result in results.items():
        title = _SECTIONS.get(name, (name, None))[0]
        lines.append(f"| {title} | {result.get('seconds_total', '')} | {_held(result)} |")
    for name, result in results.items():
        title, fn = _SECTIONS.get(name, (name, None))
        lines += ["", f"### {title}", ""]
        try:
            lines += fn(result) if fn is not None else []
        except (KeyError, TypeError, ZeroDivisionError):  # a crashed scenario has no figures
            lines.append(_held(result))
    return "\n".join(lines)


def update_doc(doc: Path, report: dict[str, Any]) -> bool:
    """Replace the figures between the markers of ``doc``; False if it has no markers."""
    text = doc.read_text()
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{START}\n{render(report)}\n{END}{tail}")
    return True
