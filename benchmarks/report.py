"""The one table: a row per figure, with its spread, its target and whether the target was met."""

from __future__ import annotations

from typing import Any

Row = dict[str, str]
COLUMNS = (
    ("benchmark", "benchmark"),
    ("measure", "measure"),
    ("result", "result (median)"),
    ("spread", "spread"),
    ("target", "target"),
    ("met", "met"),
)


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for name, build in (
        ("full_pull", _full_pull),
        ("incremental", _incremental),
        ("memory", _memory),
        ("waiting", _waiting),
        ("overhead", _overhead),
        ("history", _history),
        ("create_cost", _create_cost),
        ("concurrent_pull", _concurrent_pull),
        ("landing", _landing),
        ("old_window", _old_window),
    ):
        if name in results:
            out.extend(build(results[name]))
    return out


def render(table: list[Row], machine: dict[str, Any]) -> str:
    versions = machine["versions"]
    head = (
        f"Telzino provider benchmarks, {machine['date']}: "
        f"{machine['usable_cores']} cores ({machine['cpu']}), "
        f"Python {machine['python']}, Airflow {versions['apache-airflow']}, "
        f"requests {versions['requests']}, provider {versions['airflow-provider-telzino']}, "
        f"HTTP provider {versions['apache-airflow-providers-http'] or 'not installed'}; "
        f"emulator on 127.0.0.1, {machine['latency_ms']:g} ms per request; "
        f"{machine['duration_s']:.0f} s in all"
    )
    widths = [max(len(title), *(len(r[key]) for r in table)) for key, title in COLUMNS]
    line = "  ".join("-" * w for w in widths)
    lines = [head, "", "  ".join(t.ljust(w) for (_, t), w in zip(COLUMNS, widths, strict=True)), line]
    previous = None
    for row in table:
        cells = dict(row)
        if cells["benchmark"] == previous:
            cells["benchmark"] = ""
        else:
            previous = cells["benchmark"]
        lines.append("  ".join(cells[key].ljust(w) for (key, _), w in zip(COLUMNS, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines)


def row(
    benchmark: str, measure: str, result: str, spread: str = "", target: str = "", met: Any = None
) -> Row:
    return {
        "benchmark": benchmark,
        "measure": measure,
        "result": result,
        "spread": spread,
        "target": target,
        "met": "" if met is None else ("yes" if met else "NO"),
    }


def _iqr(summary: dict[str, Any], fmt: str = "{:.3f}", unit: str = "") -> str:
    return f"IQR {fmt.format(summary['p25'])}-{fmt.format(summary['p75'])}{unit}, n={summary['n']}"


def _full_pull(r: dict[str, Any]) -> list[Row]:
    name = f"1 full pull: {r['calls']:,} calls, {r['pages']} pages"
    out = []
    labels = {
        "provider": "provider (list_outbound_calls)",
        "floor": "floor (requests loop)",
        "peer": "peer (HttpOperator)",
        "provider_log_off": "what-if: provider, per-page log line off",
    }
    for who, label in labels.items():
        if who in r["wall_s"]:
            s = r["wall_s"][who]
            out.append(
                row(
                    name,
                    f"{label}, {r['requests'][who]} requests",
                    f"{s['median']:.3f} s",
                    _iqr(s, unit=" s"),
                )
            )
    vf = r["provider_vs_floor"]
    out.append(
        row(
            name,
            "provider / floor (ratio of medians)",
            f"{vf['ratio_of_medians']:.3f}",
            f"per round: median {vf['per_round']['median']:.3f}, "
            f"IQR {vf['per_round']['p25']:.3f}-{vf['per_round']['p75']:.3f}",
            f"<= {vf['target']:.2f}",
            vf["met"],
        )
    )
    if "provider_vs_peer" in r:
        vp = r["provider_vs_peer"]
        out.append(
            row(
                name,
                "provider / peer (ratio of medians)",
                f"{vp['ratio_of_medians']:.3f}",
                f"per round: median {vp['per_round']['median']:.3f}, "
                f"IQR {vp['per_round']['p25']:.3f}-{vp['per_round']['p75']:.3f}",
                f"<= {vp['target']:.2f}",
                vp["met"],
            )
        )
    elif "peer_skipped" in r:
        out.append(row(name, "provider / peer", "skipped", "apache-airflow-providers-http not installed"))
    if "log_off_vs_floor" in r:
        vq = r["log_off_vs_floor"]
        out.append(
            row(
                name,
                "what-if: log line off / floor",
                f"{vq['ratio_of_medians']:.3f}",
                f"per round: median {vq['per_round']['median']:.3f}, "
                f"IQR {vq['per_round']['p25']:.3f}-{vq['per_round']['p75']:.3f}",
            )
        )
    return out


def _incremental(r: dict[str, Any]) -> list[Row]:
    name = f"2 incremental: {r['window']} newest of {r['calls']:,}"
    p, s = r["wall_s"]["provider"], r["wall_s"]["scan"]
    return [
        row(
            name,
            "provider requests (created_after)",
            str(r["requests"]["provider"]),
            f"found {r['found']['provider']} calls",
            f"= {r['target_requests']}",
            r["met"],
        ),
        row(name, "provider time", f"{p['median'] * 1000:.1f} ms", _iqr(p, "{:.3f}", " s")),
        row(
            name,
            f"scan every page (requests loop), {r['requests']['scan']} requests",
            f"{s['median']:.2f} s",
            _iqr(s, "{:.2f}", " s"),
        ),
        row(name, "scan / provider (ratio of medians)", f"{r['speedup']:.0f}x"),
    ]


def _memory(r: dict[str, Any]) -> list[Row]:
    name = "3 memory: peak RSS growth"
    out = []
    for mode, label in (("stream", "iter_outbound_calls (streaming)"), ("list", "list_outbound_calls")):
        for count in r["counts"]:
            entry = r["by_count"][str(count)][mode]
            growth = entry["growth_mb"]
            traced = entry.get("tracemalloc_peak_mb")
            spread = f"min {growth['min']:.1f}, max {growth['max']:.1f} MB, n={growth['n']}"
            if traced is not None:
                spread += f"; tracemalloc peak {traced:.1f} MB"
            is_stream = mode == "stream"
            out.append(
                row(
                    name,
                    f"{label}, {count:,} calls",
                    f"{growth['median']:.1f} MB",
                    spread,
                    f"<= {r['target_stream_mb']:.0f} MB" if is_stream else "",
                    growth["median"] <= r["target_stream_mb"] if is_stream else None,
                )
            )
    return out


def _waiting(r: dict[str, Any]) -> list[Row]:
    out = _waiting_rows(r, f"4 waiting: {r['triggers']} triggers", targets=True)
    if "stress" in r:
        out.extend(
            _waiting_rows(r["stress"], f"4 stress: poll every {r['stress']['poll_interval_s']:g} s", False)
        )
    return out


def _waiting_rows(r: dict[str, Any], name: str, targets: bool) -> list[Row]:
    lag, gap, pool = r["lag_ms"], r["poll_gap_s"], r["thread_pool"]
    one_each = r["triggers_not_one_request_per_poll"] == 0 and r["requests"] == r["polls"]
    gap_ok = gap["min"] is None or gap["min"] >= r["poll_interval_s"]
    events = ", ".join(f"{n} {status}" for status, n in r["events"].items())
    return [
        row(
            name,
            f"event loop lag, worst (poll every {r['poll_interval_s']:g} s)",
            f"{lag['max']:.1f} ms",
            f"p99 {lag['p99']:.1f} ms, median {lag['median']:.2f} ms, {lag['beats']} beats",
            f"<= {r['target_lag_ms']:.0f} ms" if targets else "",
            lag["max"] <= r["target_lag_ms"] if targets else None,
        ),
        row(
            name,
            "requests per trigger per poll round",
            f"{r['requests_per_poll']:.2f}",
            f"{r['requests']} requests / {r['polls']} polls; "
            f"{r['triggers_not_one_request_per_poll']} triggers off",
            "1" if targets else "",
            one_each if targets else None,
        ),
        row(
            name,
            "time between a trigger's polls",
            f"{gap['median']:.3f} s",
            f"min {gap['min']:.3f} s, max {gap['max']:.3f} s",
            f">= {r['poll_interval_s']:g} s" if targets else "",
            gap_ok if targets else None,
        ),
        row(
            name,
            f"thread pool ({pool['workers']} workers = default)",
            f"{pool['busy_share']:.0%} busy",
            f"poll {r['poll_duration_ms']['median']:.1f} ms median, "
            f"{r['poll_duration_ms']['max']:.0f} ms max; "
            f"capacity ~{pool['capacity_polls_per_s']:.0f}/s",
        ),
        row(name, "outcomes", f"{r['wrong_outcomes']} wrong", f"{events} in {r['wall_s']:.1f} s"),
    ]


def _overhead(r: dict[str, Any]) -> list[Row]:
    name = "5 per-page overhead (CPU)"
    cpu, spread = r["cpu_us_per_page"], r["cpu_spread_us_per_page"]
    out = [
        row(
            name,
            "provider / floor CPU per page (all of it)",
            f"{cpu['provider']:.0f} / {cpu['floor']:.0f} us",
            f"IQR {spread['provider'][0]:.0f}-{spread['provider'][1]:.0f} / "
            f"{spread['floor'][0]:.0f}-{spread['floor'][1]:.0f} us",
        )
    ]
    if "sampled" in r:
        sampled = r["sampled"]
        out.append(
            row(
                name,
                "provider beyond the HTTP round trip",
                f"{sampled['beyond_round_trip_us_per_page']:.0f} us/page",
                f"round trip {sampled['round_trip_us_per_page']:.0f} us/page; {sampled['samples']} samples",
            )
        )
        for rank, entry in enumerate(r["top3"], start=1):
            out.append(
                row(
                    name,
                    f"cost {rank}: {entry['function']}",
                    f"{entry['share']:.0%}",
                    f"{entry['us_per_page']:.0f} us/page; mostly {entry['mostly']}",
                )
            )
    return out


def _history(r: dict[str, Any]) -> list[Row]:
    out = []
    for count in r["counts"]:
        join, sync = r["by_count"][str(count)]["join"], r["by_count"][str(count)]["sync"]
        name = f"6 history: {count:,} call logs"
        out.append(
            row(
                name,
                f"transcript join, last hour: call-log requests for {join['calls']} calls",
                str(join["log_requests"]),
                f"{join['not_listed_yet']} not listed yet; the calls' list: {join['list_requests']} requests",
                f"<= {join['target']}",
                join["log_requests"] <= join["target"],
            )
        )
        out.append(row(name, "the same join, unbounded (ids only)", str(join["unbounded_log_requests"])))
        out.append(
            row(
                name,
                "sync example, one hourly run: requests",
                str(sync["requests"]),
                f"{sync['list_requests']} list + {sync['log_requests']} call-log; "
                f"{sync['calls']} calls, {sync['missing_transcripts']} transcripts not listed yet",
                "flat",
                r["sync_flat"],
            )
        )
        rerun = r["by_count"][str(count)].get("rerun")
        if rerun is not None:
            out.append(
                row(
                    name,
                    "sync example, rerun of the hour 2 days ago: requests",
                    str(rerun["requests"]),
                    f"{rerun['list_requests']} list + {rerun['log_requests']} call-log; "
                    f"{rerun['calls']} calls",
                )
            )
    return out


def _create_cost(r: dict[str, Any]) -> list[Row]:
    name = f"7 creates: {r['creates']} on {r['history']:,} calls in 30 days"
    first, totals = r["first_try"], r["first_try_totals"]
    lists, day = r["retry_list_requests"], r["lookback_24h"]
    return [
        row(
            name,
            "first try: POSTs / list requests per call",
            f"{first['post']:g} / {first['list']:g}",
            f"{totals['post']} POSTs, {totals['list']} lists, {totals['get_one']} GETs of the record; "
            f"{r['distinct_calls']} calls; {r['ms_per_first_try']:.1f} ms each",
            "1 / 0",
            r["met"],
        ),
        row(
            name,
            "retry (try 2): list requests",
            f"{lists['median']:g}",
            f"min {lists['min']}, max {lists['max']}; {r['retry_posts']} POSTs; "
            f"{r['retry_adopted']} of {r['retries']} adopted their call",
        ),
        row(
            name,
            "for comparison: a 24 h look-back",
            f"{day['list_requests']} list requests",
            f"{day['calls']} calls in the last 24 h",
        ),
    ]


def _concurrent_pull(r: dict[str, Any]) -> list[Row]:
    name = f"8 concurrent pull: {r['calls']:,} calls, {r['pages']} pages, {r['latency_ms']:g} ms"
    out = []
    labels = {
        "floor": "floor (requests loop)",
        "sequential": "provider, max_concurrency=1",
        "concurrent": f"provider, max_concurrency={r['workers']}",
        "concurrent_inserts": f"max_concurrency={r['workers']}, a call inserted after every request",
    }
    for who, label in labels.items():
        s = r["wall_s"][who]
        out.append(
            row(name, f"{label}, {r['requests'][who]} requests", f"{s['median']:.3f} s", _iqr(s, unit=" s"))
        )
    for key, label in (
        ("concurrent_vs_floor", f"max_concurrency={r['workers']} / floor"),
        ("inserts_vs_floor", "with inserts / floor"),
    ):
        v = r[key]
        out.append(
            row(
                name,
                f"{label} (ratio of medians)",
                f"{v['ratio_of_medians']:.3f}",
                f"per round: median {v['per_round']['median']:.3f}, "
                f"IQR {v['per_round']['p25']:.3f}-{v['per_round']['p75']:.3f}",
                f"<= {v['target']:.2f}",
                v["met"],
            )
        )
    out.append(
        row(
            name,
            "with inserts: calls lost / duplicated",
            f"{r['lost']} / {r['duplicated']}",
            f"over {r['rounds']} rounds",
            "0 / 0",
            r["lost"] == 0 and r["duplicated"] == 0,
        )
    )
    return out


def _landing(r: dict[str, Any]) -> list[Row]:
    name = f"9 landing: {r['calls']:,} calls with transcripts"
    wall, memory = r["wall_s"], r["memory"]
    per_round = r["round_ratios"]
    same = "same lines" if r["same_lines"] else "LINES DIFFER"
    return [
        row(
            name,
            "time: TelzinoCallsToObjectStorageOperator / requests loop writing the same JSONL",
            f"{r['ratio']:.2f}",
            f"per round {per_round['min']:.2f}..{per_round['max']:.2f}, n={per_round['n']}; "
            f"{wall['provider']['median']:.1f} s vs {wall['floor']['median']:.1f} s; {same}",
            f"<= {r['target_ratio']:g}",
            r["ratio_met"] and r["same_lines"],
        ),
        row(
            name,
            "memory: the operator's peak RSS growth",
            f"{memory['growth_mb']:.1f} MB",
            f"{memory['method']}; {memory['lines']:,} lines",
            f"<= {r['target_growth_mb']:.0f} MB",
            r["memory_met"],
        ),
    ]


def _old_window(r: dict[str, Any]) -> list[Row]:
    name = f"10 old window: {r['calls']:,} calls over {r['hours']:g} h"
    recent, old = r["recent"], r["old"]
    return [
        row(
            name,
            f"transfer, the hour {r['old_hours']} h back: call-log requests",
            str(old["log_requests"]),
            f"the hour {r['recent_hours']} h back: {recent['log_requests']}; {old['calls']} and "
            f"{recent['calls']} calls; the calls' list: {old['list_requests']} and {recent['list_requests']}",
            f"<= {r['target']}",
            r["met"],
        )
    ]
