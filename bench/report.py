"""
The benchmark's results: a side-by-side table for the terminal, and the
same numbers as JSON.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Optional

__all__ = ["LABELS", "NAMES", "ROWS", "proxy_names", "table", "round_ratios", "write_json",
           "ratio", "ratio_key"]

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

#: The proxies a run may measure, in the table's order: Swift's, then
#: twisted-proxy, then (C{--pypy}) twisted-proxy under PyPy.
NAMES = ("swift", "twisted", "pypy")
LABELS = {"swift": "swift-proxy-server", "twisted": "twisted-proxy",
          "pypy": "twisted-proxy PyPy"}


def proxy_names(results: dict[str, Any]) -> list[str]:
    """
    The proxies C{results} measured, in L{NAMES} order.
    """
    return [name for name in NAMES if name in results.get("proxies", {})]


def ratio_key(name: str, per_round: bool = False) -> str:
    """
    Where a test's entry keeps the ratios of proxy C{name} to Swift's:
    C{ratio} and C{round_ratios} for twisted-proxy (as before there was a
    third proxy), C{pypy_ratio} and C{pypy_round_ratios} for PyPy's.
    """
    base = "round_ratios" if per_round else "ratio"
    return base if name == "twisted" else f"{name}_{base}"


def ratio(twisted: Optional[float], swift: Optional[float]) -> Optional[float]:
    """
    twisted / swift (or pypy / swift), or C{None} when either is missing or
    swift is 0.
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
    The results as a text table: one block of rows per test, the proxies
    side by side, and the ratio of each to Swift's (twisted/swift, and
    pypy/swift when twisted-proxy also ran under PyPy).
    """
    names = proxy_names(results)
    others = names[1:]
    header = ("test", "metric", *(LABELS[n] for n in names),
              *(f"{n}/swift" for n in others))
    lines: list[tuple[str, ...]] = []

    def ratios(values: list[Any]) -> list[str]:
        return [_fmt(ratio(v, values[0]), "{:.2f}") for v in values[1:]]

    for test in results["tests"]:
        label = test["label"]
        for key, metric, pattern in ROWS[test["kind"]]:
            values = [test["proxies"].get(name, {}).get(key) for name in names]
            shown = [""] * len(others) if key == "errors" else ratios(values)
            lines.append((label, metric, *(_fmt(v, pattern) for v in values), *shown))
            label = ""
    rss = [results["proxies"][name]["peak_rss_mib"] for name in names]
    lines.append(("all", "peak RSS MiB (VmHWM)", *(_fmt(v, "{:.1f}") for v in rss),
                  *ratios(rss)))
    pss = [results["proxies"][name].get("peak_pss_mib") for name in names]
    lines.append(("", "peak PSS MiB (Pss)", *(_fmt(v, "{:.1f}") for v in pss),
                  *ratios(pss)))
    processes = [str(results["proxies"][name]["processes"]) for name in names]
    lines.append(("", "processes", *processes, *([""] * len(others))))
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
    The ratio twisted/swift (and pypy/swift) of each test's main metrics in
    every round, with the load average (1 min) when the round's run of that
    proxy ended.
    """
    lines = []
    others = proxy_names(results)[1:]
    for test in results["tests"]:
        for proxy in others:
            ratios = test.get(ratio_key(proxy, per_round=True), {})
            loads = [m.get("loadavg") for m in test.get("rounds", {}).get(proxy, [])]
            cells = []
            for key, name in _ROUND_KEYS[test["kind"]]:
                values = " ".join(_fmt(v, "{:.2f}") for v in ratios.get(key, []))
                cells.append(f"{name} {values}")
            load = " ".join(_fmt(v, "{:.1f}") for v in loads)
            who = "" if proxy == "twisted" else f" [{proxy}/swift]"
            lines.append(f"{test['label']}{who}: " + "; ".join(cells) + f" (load {load})")
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(path + ".tmp", path)
