"""
Tests for L{twisted_proxy.swift.acl}.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.acl import (
    ACCOUNT_ACL_LEVELS,
    account_acl_grants,
    check_account_acl,
    clean_acl,
    format_account_acl,
    format_acl,
    parse_account_acl,
    parse_acl,
    referrer_allowed,
)

# Grantee names that survive a container ACL unchanged: no separators, no
# percent escapes, no surrounding space, no leading dot.
_group_names = st.text(
    alphabet=st.characters(
        blacklist_characters=",:%", blacklist_categories=("Cs", "Z", "Cc")
    ),
    min_size=1,
).filter(lambda name: not name.startswith("."))
_host_names = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}\.){0,3}[a-z]{2,6}\Z")
_referrers = st.one_of(
    st.just("*"),
    _host_names,
    _host_names.map(lambda host: "." + host),
    _host_names.map(lambda host: "-" + host),
    _host_names.map(lambda host: "-." + host),
)
_account_acls = st.dictionaries(
    st.sampled_from(ACCOUNT_ACL_LEVELS), st.lists(st.text(), max_size=4)
)


class CleanACLTests(SynchronousTestCase):
    """
    L{clean_acl} normalises container ACLs and refuses bad ones.
    """

    def test_messy(self) -> None:
        """
        Spaces and empty items go, referrer designators are shortened and
        C{*.} domains lose their star, as in Swift's documentation.
        """
        cases = {
            "bob, sue": "bob,sue",
            "bob , sue": "bob,sue",
            "bob,,,sue": "bob,sue",
            ".referrer : *": ".r:*",
            ".ref:*.example.com": ".r:.example.com",
            ".r:*, .rlistings": ".r:*,.rlistings",
            ".referer:-thief.com": ".r:-thief.com",
            ".r: - *.thief.com": ".r:-.thief.com",
            ".r:**": ".r:*",
            "acct:user, acct2": "acct:user,acct2",
            ":odd": ":odd",
            ".r": ".r",
            "": "",
        }
        for value, expected in cases.items():
            self.assertEqual(clean_acl("X-Container-Read", value), expected, value)

    def test_writeACLKeepsGroups(self) -> None:
        """
        A write ACL of groups is cleaned like a read ACL.
        """
        self.assertEqual(
            clean_acl("X-Container-Write", " a:b ,, c "), "a:b,c"
        )

    def test_errors(self) -> None:
        """
        Bad ACLs raise L{ValueError} with Swift's messages.
        """
        cases = [
            (
                "X-Container-Read",
                ".r:",
                "No host/domain value after referrer designation in ACL: '.r:'",
            ),
            (
                "X-Container-Read",
                "a, .r:-",
                "No host/domain value after referrer designation in ACL: '.r:-'",
            ),
            (
                "X-Container-Read",
                ".r:*.",
                "No host/domain value after referrer designation in ACL: '.r:*.'",
            ),
            (
                "X-Container-Read",
                ".x:y",
                "Unknown designator '.x' in ACL: '.x:y'",
            ),
            (
                "X-Container-Write",
                ".r:*",
                "Referrers not allowed in write ACL: '.r:*'",
            ),
            (
                "x-container-write",
                "bob, .referrer : *",
                "Referrers not allowed in write ACL: '.referrer : *'",
            ),
        ]
        for name, value, message in cases:
            with self.assertRaises(ValueError) as caught:
                clean_acl(name, value)
            self.assertEqual(str(caught.exception), message)

    @given(st.text(alphabet=" ,:.*-abrefilstng"))
    def test_idempotent(self, value: str) -> None:
        """
        Cleaning a cleaned ACL changes nothing.
        """
        try:
            cleaned = clean_acl("X-Container-Read", value)
        except ValueError:
            return
        self.assertEqual(clean_acl("X-Container-Read", cleaned), cleaned)

    @given(st.lists(_group_names, max_size=5), st.lists(_referrers, max_size=5))
    def test_roundTrip(self, groups: list[str], referrers: list[str]) -> None:
        """
        An ACL built by L{format_acl} is clean, and L{parse_acl} gives its
        parts back.
        """
        groups = [group.strip() for group in groups if group.strip()]
        groups = [group for group in groups if not group.startswith(".")]
        value = format_acl(groups, referrers)
        self.assertEqual(clean_acl("X-Container-Read", value), value)
        self.assertEqual(parse_acl(value), (referrers, groups))


class ParseACLTests(SynchronousTestCase):
    """
    L{parse_acl} splits stored container ACLs.
    """

    def test_empty(self) -> None:
        self.assertEqual(parse_acl(None), ([], []))
        self.assertEqual(parse_acl(""), ([], []))

    def test_parts(self) -> None:
        """
        Referrers lose their C{.r:}; groups are percent-decoded;
        C{.rlistings} is a group.
        """
        self.assertEqual(
            parse_acl(".r:*,.r:-bad.com,.rlistings,a%3Ab,test:tester3"),
            (["*", "-bad.com"], [".rlistings", "a:b", "test:tester3"]),
        )


class ReferrerAllowedTests(SynchronousTestCase):
    """
    L{referrer_allowed} applies referrer designations in order.
    """

    def test_nothing(self) -> None:
        self.assertFalse(referrer_allowed("http://a.com/", []))
        self.assertFalse(referrer_allowed(None, []))

    def test_any(self) -> None:
        """
        C{*} lets in any referrer, and none at all.
        """
        self.assertTrue(referrer_allowed("http://a.com/", ["*"]))
        self.assertTrue(referrer_allowed(None, ["*"]))
        self.assertTrue(referrer_allowed("not a url", ["*"]))

    def test_host(self) -> None:
        acl = ["www.example.com"]
        self.assertTrue(referrer_allowed("http://www.example.com/x", acl))
        self.assertTrue(referrer_allowed("https://www.example.com:8080/", acl))
        self.assertFalse(referrer_allowed("http://example.com/", acl))
        self.assertFalse(referrer_allowed(None, acl))

    def test_domain(self) -> None:
        """
        A leading dot matches hosts in the domain, not the domain's own
        name.
        """
        acl = [".example.com"]
        self.assertTrue(referrer_allowed("http://www.example.com/", acl))
        self.assertTrue(referrer_allowed("http://a.b.example.com/", acl))
        self.assertFalse(referrer_allowed("http://example.com/", acl))
        self.assertFalse(referrer_allowed("http://badexample.com/", acl))

    def test_denialOrder(self) -> None:
        """
        The last matching designation wins.
        """
        self.assertFalse(referrer_allowed("http://bad.com/", ["*", "-bad.com"]))
        self.assertTrue(referrer_allowed("http://good.com/", ["*", "-bad.com"]))
        self.assertTrue(referrer_allowed("http://bad.com/", ["-bad.com", "*"]))
        self.assertFalse(
            referrer_allowed("http://thief.example.com/",
                             [".example.com", "-thief.example.com"])
        )
        self.assertFalse(
            referrer_allowed("http://x.thief.com/", ["*", "-.thief.com"])
        )

    def test_unknownHost(self) -> None:
        """
        A referrer without a host counts as the host C{unknown}; a
        malformed one does too rather than failing.
        """
        self.assertTrue(referrer_allowed("/relative", ["unknown"]))
        self.assertTrue(referrer_allowed("http://[::1/", ["unknown"]))
        self.assertFalse(referrer_allowed("http://[::1/", ["-unknown"]))


class AccountACLTests(SynchronousTestCase):
    """
    Account (JSON, version 2) ACLs.
    """

    def test_parse(self) -> None:
        self.assertIsNone(parse_account_acl(None))
        self.assertEqual(parse_account_acl(""), {})
        self.assertIsNone(parse_account_acl("garbage"))
        self.assertIsNone(parse_account_acl("[1, 2]"))
        self.assertIsNone(parse_account_acl("[" * 100000))
        self.assertEqual(
            parse_account_acl('{"admin": ["a"], "other": 1}'),
            {"admin": ["a"], "other": 1},
        )

    def test_format(self) -> None:
        """
        Keys are sorted, there are no spaces and the result is ASCII.
        """
        self.assertEqual(
            format_account_acl({"read-only": ["b"], "admin": ["\u00e9"]}),
            '{"admin":["\\u00e9"],"read-only":["b"]}',
        )

    @given(_account_acls)
    def test_roundTrip(self, acl: dict[str, list[str]]) -> None:
        """
        A formatted ACL is ASCII, passes tempauth's check and parses back to
        what it was made from.
        """
        text = format_account_acl(acl)
        text.encode("ascii")
        self.assertEqual(parse_account_acl(text), acl)
        self.assertEqual(check_account_acl(text), acl)
        self.assertEqual(format_account_acl(check_account_acl(text)), text)

    def test_checkErrors(self) -> None:
        """
        L{check_account_acl} refuses with the messages Swift sends.
        """
        cases = [
            ("invalid", "Syntax error in input ('invalid')"),
            ("[]", "Syntax error in input ('[]')"),
            ('{"admin":["a"],"invalid_key":"x"}', 'Key "invalid_key" not recognized'),
            ('{"admin":"a"}', 'Value for key "admin" must be a list'),
            ('{"read-only":["a",1]}', 'Elements of "read-only" list must be strings'),
            ('{"read-write":null}', 'Value for key "read-write" must be a list'),
        ]
        for value, message in cases:
            with self.assertRaises(ValueError) as caught:
                check_account_acl(value)
            self.assertEqual(str(caught.exception), message)

    def test_checkAccepts(self) -> None:
        self.assertEqual(check_account_acl("{}"), {})
        self.assertEqual(check_account_acl(""), {})
        self.assertEqual(
            check_account_acl('{"admin":[],"read-only":["x"]}'),
            {"admin": [], "read-only": ["x"]},
        )

    def test_grants(self) -> None:
        """
        L{account_acl_grants} fills in missing levels, and finds nothing in
        an ACL that grants nothing or cannot be read.
        """
        self.assertEqual(
            account_acl_grants('{"read-only":["a"]}'),
            {"admin": [], "read-write": [], "read-only": ["a"]},
        )
        for nothing in (None, "", "{}", '{"admin":[]}', "garbage", '{"admin":"x"}'):
            self.assertIsNone(account_acl_grants(nothing), nothing)
        self.assertEqual(
            account_acl_grants(json.dumps({"admin": ["a", 1], "x": ["b"]})),
            {"admin": ["a"], "read-write": [], "read-only": []},
        )
