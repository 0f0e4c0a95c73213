"""
Tests for the erasure-coded policies of the all-in-one cluster
(L{twisted_proxy_aio.cluster}): the C{[aio]} options, C{swift.conf} and the
EC rings, and the sample configurations that use them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import REPO
from twisted_proxy.config import load_config
from twisted_proxy.swift.ec.scheme import ECScheme
from twisted_proxy.swift.ring import Ring
from twisted_proxy.swift.swiftconf import ERASURE_CODING, REPLICATION, load_swift_conf
from twisted_proxy_aio.cluster import (
    AioError,
    AioSettings,
    ClusterLayout,
    build_cluster,
    parse_aio_settings,
)

_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None


class SettingsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """
        Without EC options, no policy is erasure coded and the first policy
        is the default; the EC options default to a 4+2
        C{liberasurecode_rs_vand} scheme with 1 MiB segments.
        """
        settings = parse_aio_settings({}, "/")
        self.assertEqual(settings.ec_policies, ())
        self.assertEqual(settings.default_policy_name, "gold")
        self.assertEqual(
            (settings.ec_type, settings.ec_num_data_fragments,
             settings.ec_num_parity_fragments, settings.ec_object_segment_size,
             settings.ec_duplication_factor, settings.ec_replicas),
            ("liberasurecode_rs_vand", 4, 2, 1048576, 1, 6))

    def test_values(self) -> None:
        settings = parse_aio_settings({
            "policies": "gold, EC",
            "default_policy": "ec",
            "ec_policies": " ec ",
            "ec_type": "isa_l_rs_vand",
            "ec_num_data_fragments": "6",
            "ec_num_parity_fragments": "3",
            "ec_object_segment_size": "65536",
            "ec_duplication_factor": "2",
        }, "/")
        self.assertEqual(
            (settings.default_policy_name, settings.ec_policies, settings.ec_type,
             settings.ec_replicas, settings.ec_object_segment_size),
            ("EC", ("EC",), "isa_l_rs_vand", 18, 65536))

    def test_bad(self) -> None:
        """
        Names not among the policies and bad numbers are refused, naming
        the option.
        """
        for section, option in [
            ({"ec_policies": "nope"}, "ec_policies"),
            ({"default_policy": "nope"}, "default_policy"),
            ({"ec_type": "Bad Type"}, "ec_type"),
            ({"ec_num_data_fragments": "0"}, "ec_num_data_fragments"),
            ({"ec_object_segment_size": "x"}, "ec_object_segment_size"),
            ({"ec_policies": "gold", "devices": "1", "replicas": "1",
              "ec_num_data_fragments": "30", "ec_num_parity_fragments": "30"},
             "ec_num_data_fragments"),
        ]:
            error = self.assertRaises(AioError, parse_aio_settings, section, "/")
            self.assertIn(option, str(error))


class LayoutTests(SynchronousTestCase):
    """
    A cluster laid out on disk (not started).
    """

    def build(self, **options: Any) -> ClusterLayout:
        data_dir = tempfile.mkdtemp(dir=_SHM)
        self.addCleanup(shutil.rmtree, data_dir, True)
        return build_cluster(AioSettings(data_dir=data_dir, **options))

    def test_ecRings(self) -> None:
        """
        With four devices and a 4+2 policy, each object server serves two
        devices; the EC ring has six replicas, each partition on six
        distinct devices; swift.conf names the EC policy, the default one
        and the scheme. The replicated rings keep one device per server.
        """
        layout = self.build(policies=("gold", "ec"), ec_policies=("ec",),
                               default_policy="ec", part_power=6)
        swift_dir = layout.swift_dir
        conf = load_swift_conf(os.path.join(swift_dir, "swift.conf"))
        gold, ec = conf.policies
        self.assertEqual((gold.policy_type, gold.is_default), (REPLICATION, False))
        self.assertEqual((ec.policy_type, ec.is_default), (ERASURE_CODING, True))
        scheme = ECScheme.from_policy(ec)
        self.assertEqual((scheme.ndata, scheme.nparity, scheme.segment_size),
                         (4, 2, 1048576))
        ring = Ring.from_file(os.path.join(swift_dir, "object-1.ring.gz"),
                              hash_prefix=conf.hash_prefix, hash_suffix=conf.hash_suffix)
        self.assertEqual(ring.replica_count, 6)
        for part in range(0, 64, 7):
            nodes = ring.get_part_nodes(part)
            self.assertEqual(len({n["device"] for n in nodes}), 6)
            self.assertEqual([n["index"] for n in nodes], list(range(6)))
        self.assertEqual(
            sorted({n["device"] for p in range(64) for n in ring.get_part_nodes(p)}),
            sorted(f"sd{letter}{i}" for letter in "bc" for i in range(1, 5)))
        replicated = Ring.from_file(os.path.join(swift_dir, "object.ring.gz"),
                                    hash_prefix=conf.hash_prefix,
                                    hash_suffix=conf.hash_suffix)
        self.assertEqual(replicated.replica_count, 3)
        for server in layout.servers:
            for device in (server.device,) + server.extra_devices:
                self.assertTrue(os.path.isdir(os.path.join(server.devices_dir, device)))
            self.assertEqual(bool(server.extra_devices), server.kind == "object")


class SampleConfigTests(SynchronousTestCase):
    def test_aio(self) -> None:
        """
        C{conf/aio.conf} keeps a replicated default and has an EC policy.
        """
        config = load_config(os.path.join(REPO, "conf", "aio.conf"))
        settings = parse_aio_settings(config.sections["aio"], config.directory)
        self.assertEqual(settings.default_policy_name, "gold")
        self.assertEqual(settings.ec_policies, ("ec",))
        self.assertNotIn(settings.default_policy_name, settings.ec_policies)

    def test_aioEC(self) -> None:
        """
        C{conf/aio-ec.conf}'s default policy is a 4+2 EC policy over six
        devices, one object server each.
        """
        config = load_config(os.path.join(REPO, "conf", "aio-ec.conf"))
        settings = parse_aio_settings(config.sections["aio"], config.directory)
        self.assertIn(settings.default_policy_name, settings.ec_policies)
        self.assertEqual((settings.ec_num_data_fragments, settings.ec_num_parity_fragments,
                          settings.ec_type), (4, 2, "liberasurecode_rs_vand"))
        self.assertEqual(settings.devices, 6)
