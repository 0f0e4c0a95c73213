"""
The benchmark's results: a side-by-side table for the terminal, and the
same numbers as JSON.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Optional

__all__ = ["ROWS", "table", "round_ratios", "write_json", "ratio"]

#: Per kind of test: (metric key, label, format) rows of the table.
ROWS = {
    "wrk": [
        ("req_per_s", "req/s", "{:,.0f}"),
        ("p50_ms", "p50 latency ms", "{:.2f}"),
        ("p99_ms", "p99 latency ms", "{:.2f}"),
        ("cpu_ms_per_req", "proxy CPU ms/req", "{:.3f}"),
        ("storage_cpu_ms_per_req", "storage CPU ms/req", "{:.3f}"),
        ("errors", "errors", "{:,d}"),
    ],
    "large": [
        ("mb_per_s", "MB/s", "{:,.1f}"),
        ("seconds", "seconds/transfer", "{:.2f}"),
        ("cpu_s_per_gb", "proxy CPU s/GB", "{:.2f}"),
        ("storage_cpu_s_per_gb", "storage CPU s/GB", "{:.2f}"),
        ("errors", "errors", "{:,d}"),
    ],
}

_NAMES = ("swift", "twisted")


def ratio(twisted: Optional[float], swift: Optional[float]) -> Optional[float]:
    """
    twisted / swift, or C{None} when either is missing or swift is 0.
    """
    if twisted is None or swift is None or not swift:
        return None
    return twisted / swift


def _fmt(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return pattern.format(value)


def table(results: dict[str, Any]) -> str:
    """
    The results as a text table: one block of rows per test, both proxies
    side by side, and the ratio twisted/swift.
    """
    header = ("test", "metric", "swift-proxy-server", "twisted-proxy", "twisted/swift")
    lines: list[tuple[str, ...]] = []
    for test in results["tests"]:
        label = test["label"]
        for key, metric, pattern in ROWS[test["kind"]]:
            values = [test["proxies"].get(name, {}).get(key) for name in _NAMES]
            r = None if key == "errors" else ratio(values[1], values[0])
            lines.append((label, metric, *(_fmt(v, pattern) for v in values),
                          _fmt(r, "{:.2f}")))
            label = ""
    rss = [results["proxies"][name]["peak_rss_mib"] for name in _NAMES]
    lines.append(("all", "peak RSS MiB (VmHWM)", *(_fmt(v, "{:.1f}") for v in rss),
                  _fmt(ratio(rss[1], rss[0]), "{:.2f}")))
    processes = [str(results["proxies"][name]["processes"]) for name in _NAMES]
    lines.append(("", "processes", *processes, ""))
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    out = []
    for index, row in enumerate([header, *lines]):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:])]
        if index == 1 or (index > 1 and row[0]):
            out.append("  ".join("-" * w for w in widths))
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


#: Per kind of test: the metrics whose per-round ratios are printed.
_ROUND_KEYS = {
    "wrk": [("req_per_s", "req/s"), ("cpu_ms_per_req", "CPU/req")],
    "large": [("mb_per_s", "MB/s"), ("cpu_s_per_gb", "CPU/GB")],
}


def round_ratios(results: dict[str, Any]) -> str:
    """
    The ratio twisted/swift of each test's main metrics in every round, with
    the load average (1 min) when the round's twisted-proxy run ended.
    """
    lines = []
    for test in results["tests"]:
        ratios = test.get("round_ratios", {})
        loads = [m.get("loadavg") for m in test.get("rounds", {}).get("twisted", [])]
        cells = []
        for key, name in _ROUND_KEYS[test["kind"]]:
            values = " ".join(_fmt(v, "{:.2f}") for v in ratios.get(key, []))
            cells.append(f"{name} {values}")
        load = " ".join(_fmt(v, "{:.1f}") for v in loads)
        lines.append(f"{test['label']}: " + "; ".join(cells) + f" (load {load})")
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(path + ".tmp", path)
