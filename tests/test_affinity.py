"""
Tests for L{twisted_proxy.swift.affinity} and the affinity and per-policy
options of L{twisted_proxy.config}.
"""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from tests.fakenodes import FakeCluster, make_proxy
from twisted_proxy.config import ConfigError, PolicyOptions, ProxySettings, load_config
from twisted_proxy.swift.affinity import (
    AFFINITY_UNMATCHED,
    parse_read_affinity,
    parse_write_affinity,
)
from twisted_proxy_aio.cluster import AioError, parse_aio_settings, region_of


def _node(region: int, zone: int) -> dict[str, object]:
    return {"region": region, "zone": zone, "ip": "10.0.0.1", "port": 6200,
            "device": "sdb"}


class ReadAffinityTests(SynchronousTestCase):
    """
    Tests for L{parse_read_affinity}.
    """

    def test_empty(self) -> None:
        """
        An empty or blank value ranks every node alike.
        """
        for text in ("", "   "):
            key = parse_read_affinity(text)
            self.assertEqual(key(_node(1, 1)), 0)
            self.assertEqual(key(_node(7, 3)), 0)

    def test_priorities(self) -> None:
        """
        A node gets the priority of the rule it matches, region rules
        matching every zone of the region; unmatched nodes come last.
        """
        key = parse_read_affinity("r1=100, r2z7=200,r2z8=200")
        self.assertEqual(key(_node(1, 5)), 100)
        self.assertEqual(key(_node(2, 7)), 200)
        self.assertEqual(key(_node(2, 8)), 200)
        self.assertEqual(key(_node(2, 9)), AFFINITY_UNMATCHED)
        self.assertEqual(key(_node(3, 1)), AFFINITY_UNMATCHED)

    def test_lowestPriorityWins(self) -> None:
        """
        When several rules match, the lowest priority applies, whatever
        the order of the rules.
        """
        for text in ("r1=100, r1z2=50", "r1z2=50, r1=100"):
            key = parse_read_affinity(text)
            self.assertEqual(key(_node(1, 2)), 50)
            self.assertEqual(key(_node(1, 3)), 100)

    def test_sorts(self) -> None:
        """
        Sorting by the key puts nodes in priority order.
        """
        nodes = [_node(3, 1), _node(2, 1), _node(1, 1)]
        nodes.sort(key=parse_read_affinity("r1=1, r2=2"))
        self.assertEqual([n["region"] for n in nodes], [1, 2, 3])

    def test_invalid(self) -> None:
        """
        Anything but C{r<N>[z<N>]=<N>} rules separated by commas is refused.
        """
        for text in ("r1", "r1=", "1=100", "r1 = 100", "r1=100;r2=200", "r1=100,",
                     "rXz1=1", "r1z=1", "r-1=1"):
            self.assertRaises(ValueError, parse_read_affinity, text)

    @given(st.lists(st.tuples(st.integers(0, 20), st.one_of(st.none(), st.integers(0, 20)),
                              st.integers(0, 10 ** 6)), min_size=1, max_size=6),
           st.integers(0, 20), st.integers(0, 20))
    def test_property(self, rules: list[tuple[int, int | None, int]], region: int,
                      zone: int) -> None:
        """
        Any well-formed value parses, and a node's key is the least
        priority among the rules matching it, else L{AFFINITY_UNMATCHED}.
        """
        text = ", ".join(
            f"r{r}={p}" if z is None else f"r{r}z{z}={p}" for r, z, p in rules)
        key = parse_read_affinity(text)
        matching = [p for r, z, p in rules if r == region and z in (None, zone)]
        self.assertEqual(key(_node(region, zone)),
                         min(matching) if matching else AFFINITY_UNMATCHED)


class WriteAffinityTests(SynchronousTestCase):
    """
    Tests for L{parse_write_affinity}.
    """

    def test_empty(self) -> None:
        """
        An empty value means no write affinity.
        """
        self.assertIsNone(parse_write_affinity(""))
        self.assertIsNone(parse_write_affinity("  "))

    def test_local(self) -> None:
        """
        A node is local when it is in a listed region, or a listed zone of
        a region.
        """
        is_local = parse_write_affinity("r1, r2z2")
        assert is_local is not None
        self.assertTrue(is_local(_node(1, 9)))
        self.assertTrue(is_local(_node(2, 2)))
        self.assertFalse(is_local(_node(2, 1)))
        self.assertFalse(is_local(_node(3, 2)))

    def test_invalid(self) -> None:
        """
        Priorities or other words are refused.
        """
        for text in ("r1=100", "region1", "r1,,r2", "z1", "r1 z2"):
            self.assertRaises(ValueError, parse_write_affinity, text)

    @given(st.lists(st.tuples(st.integers(0, 9), st.one_of(st.none(), st.integers(0, 9))),
                    min_size=1, max_size=5),
           st.integers(0, 9), st.integers(0, 9))
    def test_property(self, places: list[tuple[int, int | None]], region: int,
                      zone: int) -> None:
        """
        A node is local exactly when some listed place contains it.
        """
        text = ",".join(f"r{r}" if z is None else f"r{r}z{z}" for r, z in places)
        is_local = parse_write_affinity(text)
        assert is_local is not None
        self.assertEqual(is_local(_node(region, zone)),
                         any(r == region and z in (None, zone) for r, z in places))


_MINIMAL = """
[pipeline:main]
pipeline = proxy-server

[app:proxy-server]
use = egg:swift#proxy
"""


class PolicyOptionsTests(SynchronousTestCase):
    """
    Tests for the affinity options of L{ProxySettings} and its per-policy
    sections (L{ProxySettings.policy_options}).
    """

    def settings(self, text: str) -> ProxySettings:
        directory = self.mktemp()
        os.makedirs(directory)
        path = os.path.join(directory, "proxy-server.conf")
        with open(path, "w") as handle:
            handle.write(text)
        return ProxySettings.from_section(load_config(path))

    def test_defaults(self) -> None:
        """
        Without options: shuffle, no affinity, C{2 * replicas} local nodes,
        C{auto} local handoffs for a DELETE, handoffs logged.
        """
        settings = self.settings(_MINIMAL)
        options = settings.policy_options(None)
        self.assertEqual(options, PolicyOptions())
        self.assertIsNone(options.read_key)
        self.assertIsNone(options.is_local)
        self.assertEqual(options.write_node_count(3), 6)
        self.assertIsNone(options.write_affinity_handoff_delete_count)
        self.assertTrue(settings.log_handoffs)
        self.assertEqual(settings.policy_options(5), options)

    def test_appSection(self) -> None:
        """
        The application section's options apply to every policy.
        """
        settings = self.settings(
            _MINIMAL + "sorting_method = Affinity\nread_affinity = r1=100\n"
            "write_affinity = r1, r2z1\nwrite_affinity_node_count = 4\n"
            "write_affinity_handoff_delete_count = 2\nlog_handoffs = false\n")
        options = settings.policy_options(0)
        self.assertEqual(options.sorting_method, "affinity")
        assert options.read_key is not None and options.is_local is not None
        self.assertEqual(options.read_key(_node(1, 1)), 100)
        self.assertTrue(options.is_local(_node(2, 1)))
        self.assertEqual(options.write_node_count(3), 4)
        self.assertEqual(options.write_affinity_handoff_delete_count, 2)
        self.assertFalse(settings.log_handoffs)

    def test_readKeyNeedsAffinitySorting(self) -> None:
        """
        C{read_affinity} orders nothing unless C{sorting_method} is
        C{affinity}, and Swift's warning says so.
        """
        with capturedLogs() as events:
            settings = self.settings(_MINIMAL + "read_affinity = r1=100\n")
        self.assertIsNone(settings.policy_options(None).read_key)
        self.assertEqual(len(events), 1)
        self.assertIn("sorting_method is set to 'shuffle', not 'affinity'; default "
                      "read_affinity setting will have no effect.",
                      formatEvent(events[0]))

    def test_perPolicy(self) -> None:
        """
        A C{[proxy-server:policy:N]} section overrides the application
        section's options for policy C{N} only; options it does not set
        come from the application section.
        """
        settings = self.settings(
            _MINIMAL + "sorting_method = affinity\nread_affinity = r1=100\n"
            "write_affinity_node_count = 3\n"
            "\n[proxy-server:policy:1]\nread_affinity = r2=100\nwrite_affinity = r2\n"
            "concurrent_gets = on\n")
        base = settings.policy_options(0)
        one = settings.policy_options(1)
        assert base.read_key is not None and one.read_key is not None
        self.assertEqual(base.read_key(_node(1, 1)), 100)
        self.assertEqual(one.read_key(_node(1, 1)), AFFINITY_UNMATCHED)
        self.assertEqual(one.read_key(_node(2, 1)), 100)
        self.assertIsNone(base.is_local)
        self.assertIsNotNone(one.is_local)
        self.assertEqual(one.write_node_count(3), 3)
        self.assertEqual(one.sorting_method, "affinity")
        self.assertTrue(one.concurrent_gets)
        self.assertFalse(base.concurrent_gets)
        self.assertEqual(settings.policy_options(None), base)
        self.assertEqual(settings.policy_override_indexes, [1])

    def test_perPolicyOtherApp(self) -> None:
        """
        The sections are named after the application's own section.
        """
        settings = self.settings(
            "[pipeline:main]\npipeline = proxy\n\n[app:proxy]\nuse = egg:swift#proxy\n"
            "\n[proxy:policy:2]\nwrite_affinity = r1\n"
            "\n[proxy-server:policy:3]\nwrite_affinity = r1\n")
        self.assertEqual(settings.policy_override_indexes, [2])

    def test_perPolicyBadIndex(self) -> None:
        """
        A section must name its policy by index.
        """
        error = self.assertRaises(
            ConfigError, self.settings, _MINIMAL + "\n[proxy-server:policy:gold]\n")
        self.assertIn("Override config must refer to policy index: 'gold'", str(error))

    def test_perPolicyBadValue(self) -> None:
        """
        A bad value in a per-policy section names the section and option.
        """
        error = self.assertRaises(
            ConfigError, self.settings,
            _MINIMAL + "\n[proxy-server:policy:1]\nread_affinity = r1\n")
        self.assertIn("[proxy-server:policy:1] read_affinity: bad value 'r1'", str(error))

    def test_badValues(self) -> None:
        """
        Bad affinity values in the application section are refused.
        """
        for option in ("read_affinity = r1", "write_affinity = r1=1",
                       "write_affinity_node_count = lots",
                       "write_affinity_handoff_delete_count = some"):
            self.assertRaises(ConfigError, self.settings, _MINIMAL + option + "\n")

    def test_unknownPolicy(self) -> None:
        """
        L{ProxySettings.check_policy_overrides} refuses a section for a
        policy swift.conf does not have.
        """
        settings = self.settings(_MINIMAL + "\n[proxy-server:policy:3]\n")
        settings.check_policy_overrides([0, 3])
        error = self.assertRaises(ConfigError, settings.check_policy_overrides, [0, 1])
        self.assertIn("No policy found for override config, index: 3", str(error))


class ControllerAffinityTests(SynchronousTestCase):
    """
    The object controller orders its nodes by the policy's affinity
    options (over L{tests.fakenodes.FakeCluster}).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock, replicas=3, handoffs=3)
        # Primaries 0 and 2 in region 2; primary 1 and every handoff in 1.
        for index, node in enumerate(self.cluster.objects):
            node.ring_node["region"] = 2 if index in (0, 2) else 1

    def test_readAffinityFirst(self) -> None:
        """
        With C{sorting_method = affinity}, a GET asks the region 1 primary
        first, whatever the shuffle.
        """
        for _ in range(5):
            proxy = make_proxy(self.clock, self.cluster, sorting_method="affinity",
                               read_affinity="r1=100")
            del self.cluster.requests[:]
            proxy.request("GET", "/v1/a/c/o")
            self.clock.advance(0)
            first = self.cluster.object_requests("GET")[0]
            self.assertIs(first.node, self.cluster.primaries[1])

    def test_deleteLocalHandoffs(self) -> None:
        """
        With C{write_affinity}, a DELETE also goes to as many local handoffs
        as there are non-local primaries (C{auto}).
        """
        proxy = make_proxy(self.clock, self.cluster, write_affinity="r1")
        self.successResultOf(proxy.request("DELETE", "/v1/a/c/o"))
        asked = [r.node for r in self.cluster.object_requests("DELETE")]
        self.assertEqual(sorted(id(n) for n in asked),
                         sorted(id(n) for n in self.cluster.objects[:5]))

    def test_deleteWithoutAffinity(self) -> None:
        """
        Without C{write_affinity}, a DELETE goes to the primaries only.
        """
        proxy = make_proxy(self.clock, self.cluster)
        self.successResultOf(proxy.request("DELETE", "/v1/a/c/o"))
        asked = [r.node for r in self.cluster.object_requests("DELETE")]
        self.assertEqual(sorted(id(n) for n in asked),
                         sorted(id(n) for n in self.cluster.primaries))


class ClusterRegionsTests(SynchronousTestCase):
    """
    The all-in-one cluster's C{regions} option.
    """

    def test_regions(self) -> None:
        """
        Devices are split into consecutive groups, one per region, the
        first in region 1.
        """
        settings = parse_aio_settings({"devices": "5", "regions": "2"}, "/")
        self.assertEqual([region_of(i, settings) for i in range(1, 6)], [1, 1, 1, 2, 2])
        single = parse_aio_settings({}, "/")
        self.assertEqual({region_of(i, single) for i in range(1, 5)}, {1})

    def test_badRegions(self) -> None:
        """
        Between 1 and as many regions as devices.
        """
        for value in ("0", "5", "two"):
            self.assertRaises(AioError, parse_aio_settings,
                              {"devices": "4", "regions": value}, "/")
