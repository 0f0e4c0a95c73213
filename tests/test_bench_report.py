"""
Tests for C{bench/report.py} and the order and ratios of C{bench/run.py}'s
measurements, with two proxies and with the third of C{--pypy}
(twisted-proxy under PyPy). Nothing is measured: the measurements are
stand-ins.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

_BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


def _bench_module(name: str) -> ModuleType:
    """
    A module of C{bench/}, which import each other by their plain names.
    """
    if _BENCH not in sys.path:
        sys.path.append(_BENCH)
    return __import__(name)


def _wrk(swift: float, twisted: float, pypy: float) -> dict[str, Any]:
    def one(rps: float) -> dict[str, Any]:
        return {"req_per_s": rps, "p50_ms": 1.0, "p99_ms": 2.0, "cpu_ms_per_req": 1000 / rps,
                "storage_cpu_ms_per_req": 0.5, "errors": 0}
    return {"label": "small GET 4 KiB", "kind": "wrk",
            "proxies": {"swift": one(swift), "twisted": one(twisted), "pypy": one(pypy)},
            "round_ratios": {"req_per_s": [twisted / swift], "cpu_ms_per_req": [swift / twisted]},
            "pypy_round_ratios": {"req_per_s": [pypy / swift], "cpu_ms_per_req": [swift / pypy]},
            "rounds": {"twisted": [{"loadavg": 1.5}], "pypy": [{"loadavg": 2.5}]}}


def _results(pypy: bool) -> dict[str, Any]:
    test = _wrk(1000.0, 2500.0, 4000.0)
    proxies = {"swift": {"peak_rss_mib": 100.0, "peak_pss_mib": 80.0, "processes": 1},
               "twisted": {"peak_rss_mib": 50.0, "peak_pss_mib": 60.0, "processes": 1}}
    if pypy:
        proxies["pypy"] = {"peak_rss_mib": 200.0, "processes": 1}
    else:
        del test["proxies"]["pypy"]
        del test["pypy_round_ratios"]
    return {"tests": [test], "proxies": proxies}


class TableTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.report = _bench_module("report")

    def test_twoProxies(self) -> None:
        """
        Without C{--pypy}: Swift's column, twisted-proxy's and their ratio.
        """
        text = self.report.table(_results(pypy=False))
        header = text.splitlines()[0].split()
        self.assertEqual(header, ["test", "metric", "swift-proxy-server", "twisted-proxy",
                                  "twisted/swift"])
        self.assertNotIn("pypy", text)
        rps = [line for line in text.splitlines() if "req/s" in line][0].split()
        self.assertEqual(rps[-3:], ["1,000", "2,500", "2.50"])

    def test_pypyColumn(self) -> None:
        """
        With C{--pypy}: a column for twisted-proxy under PyPy, and its ratio
        to Swift's beside twisted-proxy's.
        """
        text = self.report.table(_results(pypy=True))
        self.assertIn("twisted-proxy PyPy", text.splitlines()[0])
        self.assertTrue(text.splitlines()[0].rstrip().endswith("twisted/swift  pypy/swift"))
        rps = [line for line in text.splitlines() if "req/s" in line][0].split()
        self.assertEqual(rps[-5:], ["1,000", "2,500", "4,000", "2.50", "4.00"])
        rss = [line for line in text.splitlines() if "peak RSS" in line][0].split()
        self.assertEqual(rss[-5:], ["100.0", "50.0", "200.0", "0.50", "2.00"])

    def test_memoryRows(self) -> None:
        """
        Summed peak RSS and summed PSS, each with its ratio; a proxy
        measured before PSS was (no figure) shows C{-}.
        """
        results = _results(pypy=True)
        text = self.report.table(results)
        pss = [line for line in text.splitlines() if "peak PSS" in line][0].split()
        self.assertEqual(pss[-5:], ["80.0", "60.0", "-", "0.75", "-"])

    def test_peakTracker(self) -> None:
        """
        L{procstats.PeakTracker} sums each process's peak RSS, and keeps
        the largest PSS summed over one reading.
        """
        procstats = _bench_module("procstats")
        peaks = procstats.PeakTracker()
        peaks.update(procstats.TreeSample(hwm={1: 10, 2: 20}, pss={1: 5, 2: 6}))
        peaks.update(procstats.TreeSample(hwm={1: 15}, pss={1: 7}))
        self.assertEqual(peaks.total, 35)
        self.assertEqual(peaks.pss, 11)

    def test_roundRatios(self) -> None:
        """
        Each round's ratios, a line per proxy compared with Swift's.
        """
        lines = self.report.round_ratios(_results(pypy=True)).splitlines()
        self.assertEqual(lines, [
            "small GET 4 KiB: req/s 2.50; CPU/req 0.40 (load 1.5)",
            "small GET 4 KiB [pypy/swift]: req/s 4.00; CPU/req 0.25 (load 2.5)",
        ])

    def test_ratioKey(self) -> None:
        """
        twisted-proxy's ratios keep their keys; PyPy's have their own.
        """
        self.assertEqual(self.report.ratio_key("twisted"), "ratio")
        self.assertEqual(self.report.ratio_key("twisted", per_round=True), "round_ratios")
        self.assertEqual(self.report.ratio_key("pypy"), "pypy_ratio")
        self.assertEqual(self.report.ratio_key("pypy", per_round=True), "pypy_round_ratios")


class RunOrderTests(SynchronousTestCase):
    """
    L{Bench.run} measures every proxy once per test and round, the one
    going first changing each time, and keeps each one's ratio to Swift's.
    """

    def bench(self, names: tuple[str, ...], rounds: int) -> Any:
        run = _bench_module("run")
        options = argparse.Namespace(
            rounds=rounds, tests=[t for t in run.TESTS if t.name in ("small-get", "listing")],
            client_list=["python"], large_mib=1)
        bench = run.Bench(options, services=None)
        bench.proxies = {name: object() for name in names}
        self.measured: list[str] = []
        speed = {"swift": 100.0, "twisted": 250.0, "pypy": 400.0}

        def measure(test: Any, name: str) -> dict[str, Any]:
            self.measured.append(name)
            return {"req_per_s": speed[name], "errors": 0}

        bench._measure_wrk = measure
        bench._check_alive = lambda name, test: None
        bench._summarise = lambda test, name, measured: None
        return bench

    def test_twoProxies(self) -> None:
        """
        With two proxies, they alternate, as before C{--pypy}.
        """
        entries = self.bench(("swift", "twisted"), rounds=2).run()
        self.assertEqual([e["orders"] for e in entries], [
            [["swift", "twisted"], ["twisted", "swift"]],
            [["twisted", "swift"], ["swift", "twisted"]],
        ])
        self.assertEqual(entries[0]["ratio"]["req_per_s"], 2.5)
        self.assertEqual(entries[0]["round_ratios"]["req_per_s"], [2.5, 2.5])
        self.assertNotIn("pypy_ratio", entries[0])

    def test_threeProxies(self) -> None:
        """
        With C{--pypy}, each of the three goes first in turn: over three
        rounds, once in each test; PyPy's ratios sit beside twisted-proxy's.
        """
        entries = self.bench(("swift", "twisted", "pypy"), rounds=3).run()
        for entry in entries:
            firsts = sorted(order[0] for order in entry["orders"])
            self.assertEqual(firsts, ["pypy", "swift", "twisted"])
            for order in entry["orders"]:
                self.assertEqual(sorted(order), ["pypy", "swift", "twisted"])
            self.assertEqual(entry["ratio"]["req_per_s"], 2.5)
            self.assertEqual(entry["pypy_ratio"]["req_per_s"], 4.0)
            self.assertEqual(entry["pypy_round_ratios"]["req_per_s"], [4.0, 4.0, 4.0])
            self.assertEqual(len(entry["rounds"]["pypy"]), 3)
        self.assertEqual(len(self.measured), 2 * 3 * 3)
