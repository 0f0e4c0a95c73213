"""
CPU time and peak memory of a process tree, read from C{/proc}.

A proxy is a process and all its descendants (Swift's workers, or
twisted-proxy's): L{tree} finds them, L{sample} reads their CPU time
(C{utime + stime}, plus C{cutime + cstime} for children already reaped, so
no CPU is lost when a worker exits), their C{VmHWM} and their C{Pss}.

Two measures of memory, because summed peak RSS (C{VmHWM}) counts a page
that several processes share (the code and data a forked worker inherited
from its parent) once per process: it cannot show sharing. The
proportional set size (C{Pss} of C{/proc/PID/smaps_rollup}) charges each
process its private pages and an equal share of each shared one, so
summed over a tree it is the memory the tree really occupies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["TreeSample", "tree", "sample", "PeakTracker"]

_TICKS = os.sysconf("SC_CLK_TCK")


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after it.
        fields = stat[stat.rindex(b")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
    return parents


def tree(root: int) -> list[int]:
    """
    C{root} and all its live descendants, C{root} first; empty if C{root}
    is gone.
    """
    parents = _parents()
    if root not in parents:
        return []
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found = [root]
    for pid in found:
        found.extend(sorted(children.get(pid, ())))
    return found


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    # Fields 14-17 of proc(5): utime stime cutime cstime; fields[0] is 3.
    return sum(int(v) for v in fields[11:15]) / _TICKS


def _kib_field(path: str, name: str) -> int:
    """
    The size field C{name} (in kB) of a C{/proc} file such as
    C{/proc/PID/status}, in bytes; 0 if it has none.
    """
    with open(path) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _hwm(pid: int) -> int:
    return _kib_field(f"/proc/{pid}/status", "VmHWM")


def _pss(pid: int) -> int:
    return _kib_field(f"/proc/{pid}/smaps_rollup", "Pss")


@dataclass
class TreeSample:
    """
    One reading of a process tree.

    @ivar cpu: seconds of CPU used so far, by each pid.
    @ivar hwm: peak resident set size so far in bytes (C{VmHWM}), by pid.
    @ivar pss: proportional set size now in bytes (C{Pss}), by pid; a
        process whose C{smaps_rollup} cannot be read is missing.
    """

    cpu: dict[int, float] = field(default_factory=dict)
    hwm: dict[int, int] = field(default_factory=dict)
    pss: dict[int, int] = field(default_factory=dict)

    def cpu_since(self, before: "TreeSample") -> float:
        """
        CPU seconds the tree used between C{before} and this sample.

        A process that appeared in between counts from zero.
        """
        return sum(t - before.cpu.get(pid, 0.0) for pid, t in self.cpu.items())


def sample(root: int) -> TreeSample:
    """
    Read the CPU time, C{VmHWM} and C{Pss} of C{root} and its descendants.
    """
    result = TreeSample()
    for pid in tree(root):
        try:
            result.cpu[pid] = _cpu(pid)
            result.hwm[pid] = _hwm(pid)
        except (OSError, ValueError, IndexError):
            continue
        try:
            result.pss[pid] = _pss(pid)
        except (OSError, ValueError, IndexError):
            pass
    return result


class PeakTracker:
    """
    The peak memory of a process tree: the sum of C{VmHWM} over its
    processes, remembering processes that have since exited (L{total});
    and the largest sum of C{Pss} over the processes alive at one reading
    (L{pss}).
    """

    def __init__(self) -> None:
        self._hwm: dict[int, int] = {}
        self._pss = 0

    def update(self, reading: TreeSample) -> int:
        """
        Fold in C{reading}; return the summed peak RSS in bytes.
        """
        for pid, hwm in reading.hwm.items():
            self._hwm[pid] = max(hwm, self._hwm.get(pid, 0))
        self._pss = max(self._pss, sum(reading.pss.values()))
        return self.total

    @property
    def total(self) -> int:
        """
        The summed peak RSS (C{VmHWM}) in bytes.
        """
        return sum(self._hwm.values())

    @property
    def pss(self) -> int:
        """
        The largest summed C{Pss} of one reading, in bytes.
        """
        return self._pss

    @property
    def processes(self) -> int:
        return len(self._hwm)
