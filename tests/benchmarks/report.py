"""The six figures against their goals: verdicts, the stdout table, and the machine they ran on."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

SCALING_TOLERANCE = 1.25  # per-record wall time at 10,000 records may exceed that at 1,000 by this much


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    import botocore

    meminfo = Path("/proc/meminfo")
    memory_kb = int(meminfo.read_text().split()[1]) if meminfo.exists() else 0
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "botocore": botocore.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def _goal(figure: int, goal: str, value: str, met: bool) -> dict[str, Any]:
    return {"figure": figure, "goal": goal, "value": value, "met": met}


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per goal of the issue."""
    main, reference = results["batch_1000"], results["reference"]
    equal = all(main["calls"].get(name, 0) == count for name, count in main["fewest"].items())
    equal = equal and set(main["calls"]) <= {name for name, count in main["fewest"].items() if count}
    speedup = reference["wall_seconds"] / main["wall_seconds"]
    per_record = {row["records"]: row["wall_seconds"] / row["records"] for row in results["scaling"]}
    growth = per_record[max(per_record)] / per_record[1000]
    ratio, cpu, cold = main["ratio_to_bound"], results["cpu"]["ratio"], results["cold_start"]["ratio"]
    peak, floor = results["memory"]["peak_rss_mb"], results["floor"]["ratio_to_bound"]
    return [
        _goal(1, "API calls equal the fewest possible", "equal" if equal else "not equal", equal),
        _goal(2, "≥ 50× faster than per-record", f"{speedup:.0f}×", speedup >= 50),
        # The pool floor is what this machine allows at all (CPU per call under the GIL): context for a miss.
        _goal(2, "≤ 1.5× the lower bound", f"{ratio:.2f}× (floor {floor:.2f}×)", ratio <= 1.5),
        _goal(3, "CPU ≤ 3× bare JSON", f"{cpu:.2f}×", cpu <= 3),
        _goal(4, "cold start ≤ 1.3× boto3", f"{cold:.2f}×", cold <= 1.3),
        _goal(5, "peak RSS ≤ 200 MB", f"{peak:.0f} MB", peak <= 200),
        _goal(
            6,
            f"linear: per-record time, 10,000 vs 1,000 ≤ {SCALING_TOLERANCE}×",
            f"{growth:.2f}×",
            growth <= SCALING_TOLERANCE,
        ),
    ]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _header(results: dict[str, Any]) -> list[str]:
    box = results["machine"]
    return [f"pue benchmarks — {box['cpu']}, {box['cores']} cores, Python {box['python']}", ""]


def _calls(main: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    messages, interactions = main["user_messages"], main["interactions"]
    lines = [
        f"1. API calls for one 1,000-record batch ({messages:,} messages, {interactions:,} interactions)",
        f"   {'call':22} {'pue':>7} {'fewest':>7} {'reference':>10}",
    ]
    for name, fewest in main["fewest"].items():
        ours, theirs = main["calls"].get(name, 0), reference["calls"].get(name, 0)
        mark = "" if ours == fewest else "   <- not the fewest"
        lines.append(f"   {name:22} {ours:>7,} {fewest:>7,} {theirs:>10,}{mark}")
    totals = (sum(main["calls"].values()), sum(main["fewest"].values()), sum(reference["calls"].values()))
    lines.append(f"   {'total':22} {totals[0]:>7,} {totals[1]:>7,} {totals[2]:>10,}")
    return lines


def _wall(results: dict[str, Any], main: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    latency_ms, pool = results["settings"]["latency_seconds"] * 1000, results["settings"]["pool"]
    bound, floor = main["lower_bound"], results["floor"]
    scaled = reference["scaled_from_records"]
    note = (
        f" (ran {scaled:,} records, scaled ×{main['records'] / scaled:.1f}: it is sequential)"
        if scaled
        else ""
    )
    runs = ", ".join(_ms(wall) for wall in main["wall_runs"])
    return [
        "",
        f"2. Wall time, 1,000 records at {latency_ms:.0f} ms per call, pool of {pool}",
        f"   pue {_ms(main['wall_seconds'])} (median of {len(main['wall_runs'])}: {runs})",
        f"   per-record reference {_ms(reference['wall_seconds'])}{note}",
        f"   lower bound {_ms(bound['seconds'])} = max(work {_ms(bound['work_seconds'])}, "
        f"longest chain {bound['longest_chain_calls']} calls {_ms(bound['chain_seconds'])})",
        f"   pool floor {_ms(floor['wall_seconds'])}, {floor['ratio_to_bound']:.2f}× the work bound "
        "(as many bare boto3 calls, independent, same pool)",
        f"   peak calls in flight {main['peak_in_flight']}",
    ]


def _cpu(cpu: dict[str, Any]) -> list[str]:
    plain = cpu["plain"]
    return [
        "",
        f"3. CPU per record at 0 ms, {cpu['records']:,} records: decode + normalize + group "
        f"{cpu['pue_us_per_record']:.1f} µs, bare json.loads(b64decode) {cpu['bare_us_per_record']:.1f} µs",
        f"   without KPL records: {plain['pue_us_per_record']:.1f} µs vs "
        f"{plain['bare_us_per_record']:.1f} µs ({plain['ratio']:.2f}×)",
    ]


def _cold(cold_start: dict[str, Any]) -> list[str]:
    cold = cold_start["median_seconds"]
    return [
        "",
        f"4. Cold start (median of {cold_start['repeats']} fresh interpreters): import consumers.kinesis "
        f"{_ms(cold['import_consumers_kinesis'])}, import boto3 {_ms(cold['import_boto3'])}, "
        f"bare python {_ms(cold['python'])}",
        f"   first event's init: build_pipeline (4 clients, 3 sinks) {_ms(cold['init_pue_pipeline'])} "
        f"vs boto3 + 4 clients {_ms(cold['init_boto3_clients'])} ({cold_start['init_ratio']:.2f}×)",
    ]


def _memory_and_scaling(results: dict[str, Any]) -> list[str]:
    memory = results["memory"]
    lines = [
        "",
        f"5. Peak RSS, {memory['records']:,}-record batch ({memory['event_mb']:.1f} MB event): "
        f"{memory['peak_rss_mb']:.0f} MB ({memory['before_batch_mb']:.0f} MB before the batch)",
        "",
        "6. Scaling at the same latency",
        f"   {'records':>8} {'messages':>9} {'wall':>9} {'per record':>11} {'bound':>9} {'×bound':>7} "
        f"{'CPU':>8} {'peak RSS':>9}",
    ]
    for row in results["scaling"]:
        per_record = row["wall_seconds"] / row["records"] * 1000
        lines.append(
            f"   {row['records']:>8,} {row['user_messages']:>9,} {_ms(row['wall_seconds']):>9} "
            f"{per_record:>8.2f} ms {_ms(row['lower_bound']['seconds']):>9} {row['ratio_to_bound']:>6.2f}× "
            f"{_ms(row['cpu_seconds']):>8} {row['peak_rss_kb'] / 1024:>6.0f} MB"
        )
    return lines


def table(results: dict[str, Any]) -> str:
    main, reference = results["batch_1000"], results["reference"]
    lines = _header(results) + _calls(main, reference) + _wall(results, main, reference)
    lines += _cpu(results["cpu"]) + _cold(results["cold_start"]) + _memory_and_scaling(results)
    if "profile_calls" in results:
        from tests.benchmarks.profile_calls import lines as profile_call_lines

        lines += profile_call_lines(results["profile_calls"])
    lines += ["", "Goals"]
    for verdict in results["goals"]:
        status = "met" if verdict["met"] else "MISSED"
        lines.append(f"   {verdict['figure']}. {verdict['goal']:52} {verdict['value']:>20}  {status}")
    return "\n".join(lines)
