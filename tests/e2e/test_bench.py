"""
Tests for C{bench/chart.py}: the PNG that every C{bench/compare} run writes
beside its JSON. Here rather than with the unit tests: matplotlib runs
C{fc-list} the first time it looks for fonts.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import REPO

_BENCH = os.path.join(REPO, "bench")


def _chart() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_chart",
                                                  os.path.join(_BENCH, "chart.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results() -> dict[str, Any]:
    def wrk(label: str, rps: tuple[float, float]) -> dict[str, Any]:
        return {"label": label, "kind": "wrk", "proxies": {
            "swift": {"req_per_s": rps[0], "cpu_ms_per_req": 1.0, "p99_ms": 9.0},
            "twisted": {"req_per_s": rps[1], "cpu_ms_per_req": 0.3, "p99_ms": 4.0}}}
    return {
        "versions": {"swift": "2.38.3"},
        "settings": {"workers": 1, "rounds": 3},
        "tests": [
            wrk("GET 4 KiB", (900.0, 2400.0)),
            wrk("PUT 4 KiB", (400.0, 1100.0)),
            {"label": "GET 256 MiB", "kind": "large", "proxies": {
                "swift": {"mb_per_s": 300.0, "cpu_s_per_gb": 3.0, "seconds": 0.9},
                "twisted": {"mb_per_s": None, "cpu_s_per_gb": 2.0, "seconds": 1.0}}},
        ],
        "proxies": {"swift": {"peak_rss_mib": 80.0}, "twisted": {"peak_rss_mib": 60.0}},
    }


class ChartTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.chart = _chart()
        self.path = self.mktemp() + ".png"

    def test_png(self) -> None:
        """
        The results of a run, a missing figure included, make a PNG.
        """
        self.assertIsNone(self.chart.write_chart(_results(), self.path))
        with open(self.path, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertGreater(len(data), 10000)

    def test_nothingMeasured(self) -> None:
        """
        A run that measured nothing draws nothing, and says so.
        """
        results = dict(_results(), tests=[])
        self.assertEqual(self.chart.write_chart(results, self.path), "no test was measured")
        self.assertFalse(os.path.exists(self.path))

    def test_everyKindHasPanels(self) -> None:
        """
        Every metric of the text table's main rows has a panel.
        """
        kinds = {kind for kind, _, _ in self.chart.PANELS}
        self.assertEqual(kinds, {"wrk", "large"})

    def test_pypyBars(self) -> None:
        """
        With twisted-proxy's PyPy run (C{--pypy}), each workload has a third
        bar, labelled with its own ratio to Swift's; without it, two.
        """
        from matplotlib import pyplot

        figure, axes = pyplot.subplots()
        self.addCleanup(pyplot.close, figure)
        values = {"swift": [100.0, 10.0], "twisted": [250.0, None], "pypy": [400.0, 30.0]}
        self.chart._bars(axes, ["GET", "PUT"], values, "req/s")
        self.assertEqual(len(axes.patches), 6)
        self.assertEqual(sorted(t.get_text() for t in axes.texts), ["2.50x", "3.00x", "4.00x"])
        self.assertEqual([h.get_label() for h in axes.get_legend_handles_labels()[0]],
                         ["swift-proxy-server", "twisted-proxy", "twisted-proxy (PyPy)"])
        results = _results()
        results["proxies"]["pypy"] = {"peak_rss_mib": 150.0}
        for test in results["tests"]:
            test["proxies"]["pypy"] = dict(test["proxies"]["swift"])
        self.assertIsNone(self.chart.write_chart(results, self.path))
        with open(self.path, "rb") as f:
            self.assertTrue(f.read().startswith(b"\x89PNG\r\n\x1a\n"))


def _instructions() -> ModuleType:
    """
    C{bench/instructions.py}, which imports its siblings by their names.
    """
    sys.path.insert(0, _BENCH)
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_instructions", os.path.join(_BENCH, "instructions.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(_BENCH)
    return module


class InstructionsTests(SynchronousTestCase):
    """
    Tests for C{bench/instructions.py}'s own logic; a run takes minutes
    under valgrind and is made by hand.
    """

    def setUp(self) -> None:
        self.instructions = _instructions()

    def test_total(self) -> None:
        """
        A dump's total is its C{summary:} (or older C{totals:}) line.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("# callgrind format\nversion: 1\nevents: Ir\n"
                    "fn=main\n0 12\nsummary: 600000\n")
        self.assertEqual(self.instructions._total(path), 600000)
        with open(path, "w") as f:
            f.write("events: Ir\ntotals: 42\n")
        self.assertEqual(self.instructions._total(path), 42)

    def test_options(self) -> None:
        """
        Tests and proxies are checked; all four tests by default.
        """
        options = self.instructions._options([])
        self.assertEqual(options.tests, ["small-get", "small-head", "small-put", "listing"])
        self.assertEqual(options.proxy_list, ["swift", "twisted"])
        self.assertRaises(SystemExit, self.instructions._options, ["--only", "large-get"])
        self.assertRaises(SystemExit, self.instructions._options, ["--proxies", "nginx"])
