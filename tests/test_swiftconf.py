"""
Tests for L{twisted_proxy.swift.swiftconf}: the rules, checked one by one.
L{tests.e2e.test_swiftconf} checks that Swift itself agrees.
"""

from __future__ import annotations

import os
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.swiftconf import (
    ERASURE_CODING,
    LEGACY_POLICY_NAME,
    REPLICATION,
    SwiftConf,
    SwiftConfError,
    load_swift_conf,
)

_HASH = "[swift-hash]\nswift_hash_path_prefix = pre\nswift_hash_path_suffix = suf\n"


class _ConfTestCase(SynchronousTestCase):
    def write(self, text: str | bytes) -> str:
        """
        Write a C{swift.conf} into a new directory.

        @return: its path.
        """
        directory = self.mktemp()
        os.makedirs(directory)
        path = os.path.join(directory, "swift.conf")
        if isinstance(text, str):
            text = textwrap.dedent(text).encode("utf-8")
        with open(path, "wb") as f:
            f.write(text)
        return path

    def load(self, text: str | bytes) -> SwiftConf:
        return load_swift_conf(self.write(text))

    def assertRejected(self, text: str, *fragments: str) -> None:
        """
        The file is refused with one line naming it and the C{fragments}.
        """
        path = self.write(text)
        error = self.assertRaises(SwiftConfError, load_swift_conf, path)
        message = str(error)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith(path + ": "), message)
        for fragment in fragments:
            self.assertIn(fragment, message)


class HashPathTests(_ConfTestCase):
    """
    The C{[swift-hash]} prefix and suffix.
    """

    def test_both(self) -> None:
        conf = self.load(_HASH)
        self.assertEqual((conf.hash_prefix, conf.hash_suffix), (b"pre", b"suf"))

    def test_either(self) -> None:
        """
        One of the two is enough.
        """
        conf = self.load("[swift-hash]\nswift_hash_path_suffix = s\n")
        self.assertEqual((conf.hash_prefix, conf.hash_suffix), (b"", b"s"))
        conf = self.load("[swift-hash]\nswift_hash_path_prefix = p\n")
        self.assertEqual((conf.hash_prefix, conf.hash_suffix), (b"p", b""))

    def test_neither(self) -> None:
        """
        Neither, or both empty, is refused.
        """
        for text in (
            "[swift-hash]\n",
            "[swift-hash]\nswift_hash_path_prefix =\nswift_hash_path_suffix =\n",
            "[swift-constraints]\nmax_file_size = 1\n",
        ):
            self.assertRejected(
                text, "[swift-hash]", "swift_hash_path_prefix", "swift_hash_path_suffix"
            )

    def test_raw_bytes(self) -> None:
        """
        The values are the file's bytes, whatever their encoding.
        """
        conf = self.load(b"[swift-hash]\nswift_hash_path_suffix = s\xc3\xa9\xff\n")
        self.assertEqual(conf.hash_suffix, b"s\xc3\xa9\xff")

    def test_interpolation(self) -> None:
        """
        As in Swift, C{%%} stands for C{%}; a lone C{%} is an error.
        """
        conf = self.load("[swift-hash]\nswift_hash_path_suffix = a%%b\n")
        self.assertEqual(conf.hash_suffix, b"a%b")
        self.assertRejected(
            "[swift-hash]\nswift_hash_path_suffix = a%b\n",
            "[swift-hash] swift_hash_path_suffix",
        )

    def test_unreadable(self) -> None:
        """
        A missing file or one that is not INI is refused, naming it.
        """
        path = os.path.abspath(self.mktemp())
        error = self.assertRaises(SwiftConfError, load_swift_conf, path)
        self.assertTrue(str(error).startswith(path + ": cannot read"))
        self.assertRejected("swift_hash_path_suffix = s\n", "section")


class ConstraintsTests(_ConfTestCase):
    """
    C{[swift-constraints]} is kept as strings.
    """

    def test_constraints(self) -> None:
        conf = self.load(
            _HASH
            + "[swift-constraints]\nmax_file_size = 5368709122\n"
            + "valid_api_versions = v1, v1.0\nMax_Meta_Count = 90\n"
        )
        self.assertEqual(
            conf.constraints,
            {
                "max_file_size": "5368709122",
                "valid_api_versions": "v1, v1.0",
                "max_meta_count": "90",
            },
        )

    def test_none(self) -> None:
        self.assertEqual(self.load(_HASH).constraints, {})


class PolicyTests(_ConfTestCase):
    """
    The C{[storage-policy:N]} sections, under Swift's rules.
    """

    def test_implicit(self) -> None:
        """
        Without policy sections there is one policy: index 0, called
        C{Policy-0}, the default, using the ring C{object}.
        """
        conf = self.load(_HASH)
        (policy,) = conf.policies
        self.assertEqual(
            (policy.index, policy.name, policy.aliases, policy.is_default),
            (0, LEGACY_POLICY_NAME, (LEGACY_POLICY_NAME,), True),
        )
        self.assertEqual((policy.ring_name, policy.policy_type), ("object", REPLICATION))
        self.assertIs(conf.default_policy(), policy)

    def test_policies(self) -> None:
        conf = self.load(
            _HASH
            + "[storage-policy:0]\nname = gold\naliases = yellow, orange\n"
            + "[storage-policy:2]\nname = silver\ndefault = yes\n"
            + "[storage-policy:1]\nname = bronze\ndeprecated = true\n"
        )
        self.assertEqual([p.index for p in conf.policies], [0, 2, 1])
        gold, silver, bronze = conf.policies
        self.assertEqual(gold.aliases, ("gold", "yellow", "orange"))
        self.assertEqual(
            [p.ring_name for p in conf.policies], ["object", "object-2", "object-1"]
        )
        self.assertIs(conf.default_policy(), silver)
        self.assertEqual([p.is_deprecated for p in conf.policies], [False, False, True])
        self.assertTrue(all(p.supported for p in conf.policies))

    def test_lookups(self) -> None:
        """
        Policies are found by index (an int or a header's string, empty
        meaning 0) and by any name, ignoring case.
        """
        conf = self.load(
            _HASH + "[storage-policy:0]\nname = gold\naliases = yellow\n"
            "[storage-policy:1]\nname = silver\ndefault = true\n"
        )
        gold, silver = conf.policies
        self.assertIs(conf.policy_by_index(1), silver)
        self.assertIs(conf.policy_by_index("1"), silver)
        self.assertIs(conf.policy_by_index(""), gold)
        self.assertIs(conf.policy_by_index(None), gold)
        self.assertIsNone(conf.policy_by_index(2))
        self.assertIsNone(conf.policy_by_index("x"))
        self.assertIs(conf.policy_by_name("YELLOW"), gold)
        self.assertIs(conf.policy_by_name("Silver"), silver)
        self.assertIsNone(conf.policy_by_name("bronze"))

    def test_booleanWords(self) -> None:
        """
        C{default} and C{deprecated} take Swift's true words in any case,
        with any Unicode space around them (Swift reads the file as UTF-8);
        anything else is false.
        """
        conf = self.load(
            _HASH + "[storage-policy:0]\nname = gold\ndefault = On\u3000\n"
            "[storage-policy:1]\nname = silver\ndeprecated = T\n"
            "[storage-policy:2]\nname = bronze\ndeprecated = sure\n"
        )
        self.assertEqual([p.is_default for p in conf.policies], [True, False, False])
        self.assertEqual([p.is_deprecated for p in conf.policies], [False, True, False])

    def test_lone_policy_is_default(self) -> None:
        conf = self.load(_HASH + "[storage-policy:0]\nname = only\n")
        self.assertTrue(conf.policies[0].is_default)

    def test_alias_repeating_name(self) -> None:
        """
        An alias spelled exactly as the name is ignored, as Swift does.
        """
        conf = self.load(_HASH + "[storage-policy:0]\nname = gold\naliases = gold, au\n")
        self.assertEqual(conf.policies[0].aliases, ("gold", "au"))

    def test_erasure_coding(self) -> None:
        """
        Erasure coding policies are recognised, with their options, and
        supported.
        """
        conf = self.load(
            _HASH
            + "[storage-policy:0]\nname = rep\ndefault = yes\n"
            + "[storage-policy:1]\nname = ec\npolicy_type = erasure_coding\n"
            + "ec_type = liberasurecode_rs_vand\n"
            + "ec_num_data_fragments = 4\nec_num_parity_fragments = 2\n"
        )
        ec = conf.policies[1]
        self.assertEqual(ec.policy_type, ERASURE_CODING)
        self.assertTrue(ec.supported)
        self.assertEqual(ec.options["ec_type"], "liberasurecode_rs_vand")
        self.assertEqual(ec.options["ec_num_data_fragments"], "4")

    def test_rejected(self) -> None:
        """
        Each of Swift's rules, broken, is reported naming the section and
        the option.
        """
        for policies, fragments in _BAD_POLICIES:
            self.assertRejected(_HASH + policies, *fragments)

    @settings(max_examples=30)
    @given(
        st.lists(
            st.text("abcXYZ019-", min_size=1, max_size=8).filter(
                lambda name: name.upper() != LEGACY_POLICY_NAME.upper()
            ),
            min_size=1,
            max_size=5,
            unique_by=str.upper,
        )
    )
    def test_names(self, names: list[str]) -> None:
        """
        Any valid names are kept as written and found in any case.
        """
        sections = "".join(
            f"[storage-policy:{index}]\nname = {name}\n" for index, name in enumerate(names)
        )
        conf = self.load(_HASH + sections + "[storage-policy:0]\ndefault = yes\n")
        self.assertEqual([p.name for p in conf.policies], names)
        for index, name in enumerate(names):
            policy = conf.policy_by_name(name.swapcase())
            assert policy is not None
            self.assertEqual(policy.index, index)


# Policy sections breaking one rule each, and what the error must mention.
_BAD_POLICIES: list[tuple[str, tuple[str, ...]]] = [
    ("[storage-policy:x]\nname = a\n", ("[storage-policy:x]", "index")),
    ("[storage-policy:-1]\nname = a\n", ("[storage-policy:-1]", "index")),
    ("[storage-policy:0]\n", ("[storage-policy:0] name",)),
    ("[storage-policy:0]\nname = a b\n", ("[storage-policy:0] name", "'a b'")),
    ("[storage-policy:0]\nname = a\naliases = b, c_d\n", ("[storage-policy:0] aliases", "'c_d'")),
    ("[storage-policy:0]\nname = a\naliases = b, B\n", ("[storage-policy:0] aliases", "'B'")),
    (
        "[storage-policy:0]\nname = a\n[storage-policy:1]\nname = policy-0\ndefault = y\n",
        ("[storage-policy:1] name", "reserved"),
    ),
    ("[storage-policy:0]\nname = a\ncolour = red\n", ("[storage-policy:0] colour",)),
    ("[storage-policy:0]\nname = a\npolicy_type = magic\n", ("[storage-policy:0] policy_type",)),
    (
        "[storage-policy:0]\nname = a\ndefault = yes\ndeprecated = yes\n",
        ("[storage-policy:0] default", "deprecated"),
    ),
    ("[storage-policy:1]\nname = a\n", ("[storage-policy:0]", "index 0")),
    (
        "[storage-policy:0]\nname = a\n[storage-policy:1]\nname = b\n",
        ("default", "exactly one"),
    ),
    (
        "[storage-policy:0]\nname = a\ndefault = y\n[storage-policy:1]\nname = b\ndefault = y\n",
        ("[storage-policy:1] default", "policy 0"),
    ),
    ("[storage-policy:0]\nname = a\ndeprecated = yes\n", ("deprecated",)),
    (
        "[storage-policy:0]\nname = a\ndefault = y\n[storage-policy:1]\nname = b\n"
        "[storage-policy:01]\nname = c\n",
        ("[storage-policy:01]", "index 1", "twice"),
    ),
    (
        "[storage-policy:0]\nname = a\ndefault = y\n[storage-policy:1]\nname = b\naliases = A\n",
        ("[storage-policy:1] name", "'A'", "policy 0"),
    ),
    (
        "[storage-policy:0]\nname = a\ndefault = y\n"
        "[storage-policy:1]\nname = b\npolicy_type = erasure_coding\n"
        "ec_num_data_fragments = 4\nec_num_parity_fragments = 2\n",
        ("[storage-policy:1] ec_type",),
    ),
    (
        "[storage-policy:0]\nname = a\ndefault = y\n"
        "[storage-policy:1]\nname = b\npolicy_type = erasure_coding\nec_type = x\n"
        "ec_num_data_fragments = 0\nec_num_parity_fragments = 2\n",
        ("[storage-policy:1] ec_num_data_fragments",),
    ),
    (
        "[storage-policy:0]\nname = a\nec_type = x\n",
        ("[storage-policy:0] ec_type", "replication"),
    ),
]
