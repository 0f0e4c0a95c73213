"""
Swift agrees with L{twisted_proxy.swift.swiftconf}: the same files are handed
to Swift's own C{swift-get-nodes} (run as a subprocess; Swift is never
imported here), which must accept and reject the same files and find the
same policies by name.
"""

from __future__ import annotations

import array
import gzip
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
from typing import Optional

from tests.e2e.swifttools import swift_tool
from tests.test_swiftconf import _BAD_POLICIES, _HASH, _ConfTestCase


def _tiny_ring() -> bytes:
    """
    A format 1 ring: one device, two partitions, one replica.
    """
    device = {
        "id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": 6000,
        "device": "sda", "weight": 1.0, "meta": "",
    }
    header = json.dumps(
        {"devs": [device], "part_shift": 31, "replica_count": 1, "byteorder": sys.byteorder}
    ).encode("ascii")
    table = array.array("H", [0, 0]).tobytes()
    return gzip.compress(b"R1NG" + struct.pack("!HI", 1, len(header)) + header + table)


_INDEX_HEADER = re.compile(rb"X-Backend-Storage-Policy-Index: (\d+)")


class SwiftAgreesTests(_ConfTestCase):
    """
    Swift accepts the files L{load_swift_conf} accepts, rejects those it
    rejects, and finds the same policy for a name.
    """

    def swift_lookups(self, text: str, names: list[str]) -> list[Optional[int]] | None:
        """
        Ask C{swift-get-nodes} for the policy of each name in C{names}, with
        C{text} as C{swift.conf}.

        @return: the policy index found for each name (C{None} for none),
            or C{None} if Swift refuses the file.
        """
        directory = os.path.dirname(self.write(text))
        for index in range(4):
            ring_name = "object" if index == 0 else f"object-{index}"
            with open(os.path.join(directory, ring_name + ".ring.gz"), "wb") as f:
                f.write(_tiny_ring())
        running = [
            subprocess.Popen(
                [swift_tool("swift-get-nodes"), "-d", directory, "-P", name, "-p", "1"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for name in names or ["any"]
        ]
        found: list[Optional[int]] = []
        refused = False
        for process in running:
            out, err = process.communicate()
            if b"Invalid Storage Policy Configuration" in err or b"Error:" in err:
                refused = True
            match = _INDEX_HEADER.search(out)
            found.append(None if match is None else int(match.group(1)))
        return None if refused else found

    def test_rejections(self) -> None:
        """
        Swift also refuses each file L{PolicyTests.test_rejected} checks,
        and a file without a hash prefix or suffix.
        """
        texts = [_HASH + policies for policies, _ in _BAD_POLICIES]
        texts.append("[swift-hash]\nswift_hash_path_suffix =\n")
        for text in texts:
            self.assertIsNone(self.swift_lookups(text, []), text)

    def test_lookups(self) -> None:
        """
        Swift finds the same policy for each name, alias and case, and none
        where L{SwiftConf.policy_by_name} finds none.
        """
        text = _HASH + textwrap.dedent(
            """
            [storage-policy:0]
            name = gold
            aliases = yellow
            [storage-policy:3]
            name = Silver-3
            default = true
            [storage-policy:1]
            name = bronze
            deprecated = yes
            """
        )
        names = ["GOLD", "Yellow", "silver-3", "bronze", "Policy-0", "nothing"]
        conf = self.load(text)
        ours = [getattr(conf.policy_by_name(name), "index", None) for name in names]
        self.assertEqual(ours, [0, 0, 3, 1, None, None])
        self.assertEqual(self.swift_lookups(text, names), ours)

    def test_legacy(self) -> None:
        """
        Without policy sections, both have C{Policy-0} alone.
        """
        names = ["policy-0", "gold"]
        conf = self.load(_HASH)
        ours = [getattr(conf.policy_by_name(name), "index", None) for name in names]
        self.assertEqual(self.swift_lookups(_HASH, names), ours)
