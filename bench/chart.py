"""
The benchmark's results as a picture: one PNG beside the JSON, with
twisted-proxy beside swift-proxy-server for every workload (and
twisted-proxy under PyPy as a third bar when C{--pypy} ran it).

Panels, one group of bars per workload: throughput (req/s for the wrk
tests, MB/s for the large objects), proxy CPU (ms per request, s per GB),
p99 latency (wrk tests) or seconds per transfer (large objects), and the
proxies' memory: summed peak RSS (C{VmHWM}, which counts a shared page
once per process) beside summed proportional set size (C{Pss}, which
splits it between them). Each twisted-proxy bar is labelled with its ratio to
Swift's. matplotlib is the optional C{bench} extra (C{pip install
'.[bench]'}); without it no chart is drawn and L{write_chart} says why.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["PANELS", "write_chart"]

#: (kind of test, metric key, panel title), drawn left to right, top to
#: bottom.
PANELS = [
    ("wrk", "req_per_s", "requests/s (higher is better)"),
    ("wrk", "cpu_ms_per_req", "proxy CPU ms per request"),
    ("wrk", "p99_ms", "p99 latency ms"),
    ("large", "mb_per_s", "large objects: MB/s (higher is better)"),
    ("large", "cpu_s_per_gb", "large objects: proxy CPU s per GB"),
    ("large", "seconds", "large objects: seconds per transfer"),
]

_NAMES = ("swift", "twisted", "pypy")
_LABELS = {"swift": "swift-proxy-server", "twisted": "twisted-proxy",
           "pypy": "twisted-proxy (PyPy)"}
_COLOURS = {"swift": "#9e9e9e", "twisted": "#1f77b4", "pypy": "#ff7f0e"}


def _value(test: dict[str, Any], name: str, key: str) -> Optional[float]:
    value = test["proxies"].get(name, {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _bars(axes: Any, labels: list[str], values: dict[str, list[Optional[float]]],
          title: str) -> None:
    """
    Draw one panel: a group of bars per label, one per proxy of C{values}
    (Swift's first), each twisted-proxy bar with its ratio to Swift's.
    """
    names = [name for name in _NAMES if name in values]
    width = 0.76 / len(names)
    positions = range(len(labels))
    for index, name in enumerate(names):
        offset = (index - (len(names) - 1) / 2) * width
        heights = [v if v is not None else 0.0 for v in values[name]]
        bars = axes.bar([p + offset for p in positions], heights, width,
                        label=_LABELS[name], color=_COLOURS[name])
        if name == "swift":
            continue
        for bar, mine, theirs in zip(bars, values[name], values["swift"]):
            if mine is not None and theirs:
                axes.annotate(f"{mine / theirs:.2f}x", (bar.get_x() + bar.get_width() / 2,
                                                       bar.get_height()),
                              ha="center", va="bottom", fontsize=7)
    axes.set_title(title, fontsize=9)
    axes.set_xticks(list(positions))
    axes.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    axes.tick_params(axis="y", labelsize=7)


def write_chart(results: dict[str, Any], path: str) -> Optional[str]:
    """
    Draw C{results} (as L{report.write_json} writes them) into the PNG
    C{path}.

    @return: C{None} when written; else why not (matplotlib missing, or no
        test measured).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        return "matplotlib is not installed (pip install '.[bench]')"
    proxies = results.get("proxies", {})
    # Swift's and twisted-proxy's bars always; PyPy's when it ran.
    drawn = [name for name in _NAMES if name != "pypy" or name in proxies]
    panels = []
    for kind, key, title in PANELS:
        tests = [t for t in results.get("tests", ()) if t.get("kind") == kind]
        if tests:
            values = {name: [_value(t, name, key) for t in tests] for name in drawn}
            panels.append(([t["label"] for t in tests], values, title))
    memory = {name: [proxies.get(name, {}).get(key) for key in ("peak_rss_mib", "peak_pss_mib")]
              for name in drawn}
    if not panels:
        return "no test was measured"
    panels.append((["peak RSS (VmHWM)", "PSS (Pss)"], memory,
                   "memory MiB, summed over all processes"))
    columns = 3
    rows = (len(panels) + columns - 1) // columns
    figure, grid = pyplot.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows),
                                   squeeze=False)
    for axes, (labels, values, title) in zip(grid.flat, panels):
        _bars(axes, labels, values, title)
    for axes in list(grid.flat)[len(panels):]:
        axes.set_visible(False)
    handles, names = grid.flat[0].get_legend_handles_labels()
    settings = results.get("settings", {})
    ours = "twisted-proxy (CPython, PyPy)" if "pypy" in drawn else "twisted-proxy"
    figure.suptitle(
        f"{ours} vs swift-proxy-server {results.get('versions', {}).get('swift', '')}"
        f" (workers={settings.get('workers', '?')},"
        f" {settings.get('rounds', 1)} round(s), medians)", fontsize=10)
    figure.legend(handles, names, loc="upper right", fontsize=8)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return None
