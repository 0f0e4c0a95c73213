"""
The shared ring sets of the ring tests, made by Swift's own
C{swift-ring-builder} (run as a subprocess; Swift is never imported here).

The unit tests (L{tests.test_ring}) read copies of them kept in
C{tests/data/rings/}, so that they start no process;
L{tests.e2e.test_ring.FixtureTests} checks that the copies are what these
recipes build today. To remake the copies after changing a recipe::

    .venv/bin/python -m tests.e2e.ringrecipes
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Optional

from tests.e2e.swifttools import swift_tool
from tests.test_ring import FIXTURES, _in, _write

__all__ = ["RECIPES", "build", "main"]


def _ring_builder(directory: str, *args: str) -> None:
    result = subprocess.run(
        [swift_tool("swift-ring-builder"), *args],
        cwd=directory,
        capture_output=True,
        text=True,
    )
    # 1 is a warning (say, an unbalanced ring); 2 is an error.
    if result.returncode not in (0, 1):
        raise AssertionError(
            f"swift-ring-builder {' '.join(args)} failed:\n"
            f"{result.stdout}{result.stderr}"
        )


@dataclass(frozen=True)
class _Device:
    region: int
    zone: int
    ip: str
    port: int
    device: str
    weight: float = 1.0

    def spec(self) -> list[str]:
        return [
            f"r{self.region}z{self.zone}-{self.ip}:{self.port}/{self.device}",
            str(self.weight),
        ]


def _make_ring(
    directory: str,
    name: str,
    part_power: int,
    replicas: float,
    devices: list[_Device],
    format_version: Optional[int] = None,
) -> None:
    """
    Build C{<directory>/<name>.ring.gz} with C{swift-ring-builder}.
    """
    builder = name + ".builder"
    _ring_builder(directory, builder, "create", str(part_power), str(replicas), "1")
    add = [builder, "add"]
    for device in devices:
        add.extend(device.spec())
    _ring_builder(directory, *add)
    rebalance = [builder, "rebalance", "-s", "1"]
    if format_version is not None:
        rebalance.append(f"--format-version={format_version}")
    _ring_builder(directory, *rebalance)



def _simple_cluster(directory: str) -> None:
    """
    One region, four zones, one device each; part power 8, 3 replicas; two
    policies. The object ring is in format 1 (the builder's default) and
    the object-1 ring in format 2; the account and container rings are
    copies of the object ring.
    """
    _write(
        os.path.join(directory, "swift.conf"),
        b"[swift-hash]\n"
        b"swift_hash_path_prefix = test-prefix\n"
        b"swift_hash_path_suffix = test-suffix\n"
        b"[storage-policy:0]\nname = gold\ndefault = yes\n"
        b"[storage-policy:1]\nname = silver\n",
    )
    devices = [
        _Device(1, zone, "127.0.0.1", 6000 + 10 * zone, f"sdb{zone}")
        for zone in (1, 2, 3, 4)
    ]
    _make_ring(directory, "object", 8, 3, devices)
    _make_ring(directory, "object-1", 8, 3, devices, format_version=2)
    for name in ("account", "container"):
        shutil.copy(_in(directory, "object"), _in(directory, name))


# More regions than replicas, so that every pass of the handoff search
# (new region, new zone, new IP, any device) finds something.
_SPREAD_DEVICES = [
    _Device(1, 1, "10.1.1.1", 6001, "d1", 100),
    _Device(1, 1, "10.1.1.1", 6002, "d2", 100),
    _Device(1, 2, "10.1.2.1", 6003, "d3", 100),
    _Device(1, 2, "10.1.2.2", 6004, "d4", 50),
    _Device(2, 1, "10.2.1.1", 6005, "d5", 100),
    _Device(2, 1, "10.2.1.1", 6006, "d6", 100),
    _Device(2, 2, "10.2.2.1", 6007, "d7", 200),
    _Device(3, 1, "10.3.1.1", 6008, "d8", 100),
    _Device(3, 2, "10.3.2.1", 6009, "d9", 100),
    _Device(4, 1, "10.4.1.1", 6010, "d10", 100),
]


def _spread_cluster(directory: str) -> None:
    """
    Four regions, seven zones, several IPs and devices per IP, unequal
    weights; three replicas, part power 10. The same ring is written as the
    object ring in format 2, as the container ring in format 1, and as the
    account ring in format 2 with 4-byte device ids. The object-1 ring has
    a fractional replica count (2.5). Only a hash suffix is set, with
    non-ASCII bytes in it.
    """
    _write(
        os.path.join(directory, "swift.conf"),
        "[swift-hash]\nswift_hash_path_suffix = s\u00e9cret\n"
        "[storage-policy:0]\nname = zero\ndefault = true\n"
        "[storage-policy:1]\nname = one\n".encode("utf-8"),
    )
    _make_ring(directory, "object", 10, 3, _SPREAD_DEVICES)
    os.rename(_in(directory, "object"), _in(directory, "container"))
    write_ring = ["object.builder", "write_ring", "--format-version=2"]
    _ring_builder(directory, *write_ring, "--dev-id-bytes=4")
    os.rename(_in(directory, "object"), _in(directory, "account"))
    _ring_builder(directory, *write_ring)
    _make_ring(directory, "object-1", 6, 2.5, _SPREAD_DEVICES[:5])




RECIPES: dict[str, Callable[[str], None]] = {
    "simple": _simple_cluster,
    "spread": _spread_cluster,
}


def build(name: str, directory: str) -> None:
    """
    Build ring set C{name} (a key of L{RECIPES}) into the existing, empty
    C{directory}: its C{swift.conf} and C{.ring.gz} files, without the
    builder files.
    """
    work = tempfile.mkdtemp(prefix=f"twisted-proxy-ring-{name}-")
    try:
        RECIPES[name](work)
        for entry in sorted(os.listdir(work)):
            if entry == "swift.conf" or entry.endswith(".ring.gz"):
                shutil.copy(os.path.join(work, entry), os.path.join(directory, entry))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    """
    Rewrite C{tests/data/rings/} from the recipes.
    """
    for name in RECIPES:
        directory = os.path.join(FIXTURES, name)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        build(name, directory)
        print(f"wrote {directory}", file=sys.stderr)


if __name__ == "__main__":
    main()
