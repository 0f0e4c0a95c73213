"""
Tests for L{twisted_proxy.plugins.cname_lookup}: requests for DNS aliases of
storage domain names, with a stand-in resolver.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.names import client, dns
from twisted.names.error import DNSNameError, DNSQueryTimeoutError, DNSServerError
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.cname_lookup import (
    DNS_LIFETIME,
    CNAMELookup,
    cnameLookupPlugin,
    lookup_cname,
    make_resolver,
    parse_nameservers,
    storage_domains,
)
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse

#: A stand-in resolver's answer: a name's CNAME, none (C{NO_RECORD}: the
#: name exists but has no CNAME), an exception, or C{HANG} (no answer).
Answer = Union[str, Exception, object]
NO_RECORD = object()
HANG = object()


class _Resolver:
    """
    Answers C{lookupCanonicalName} from C{records}; a name it does not know
    does not exist (C{NXDOMAIN}).
    """

    def __init__(self, **records: Answer) -> None:
        self.records: dict[str, Answer] = {k.replace("_", "."): v for k, v in records.items()}
        self.calls: list[str] = []

    def lookupCanonicalName(self, name: str, timeout: Any = None) -> "Deferred[Any]":
        self.calls.append(name)
        answer = self.records.get(name, DNSNameError(name))
        if answer is HANG:
            return Deferred()
        if isinstance(answer, Exception):
            return fail(answer)
        if answer is NO_RECORD:
            return succeed(([], [], []))
        assert isinstance(answer, str)
        record = dns.RRHeader(name=dns.domainString(name), type=dns.CNAME, ttl=300,
                              payload=dns.Record_CNAME(dns.domainString(answer)))
        return succeed(([record], [], []))


@implementer(IProxyApplication)
class _App:
    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        self.headers: dict[str, str] = {}

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        return succeed(SwiftResponse(200, dict(self.headers), b"ok"))


class _Context:
    def __init__(self) -> None:
        self.reactor = MemoryReactorClock()
        self.info_store = MemoryInfoStore(self.reactor)
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


class _CNAMETestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.store = MemoryInfoStore(self.clock)
        self.app = _App()
        self.resolver = _Resolver()

    def make(self, domains: str = "example.com", depth: int = 1,
             store: bool = True) -> CNAMELookup:
        return CNAMELookup(self.clock, self.resolver,  # type: ignore[arg-type]
                           storage_domains(domains), depth, self.store if store else None)

    def call(self, host: Optional[str], method: str = "GET", server_name: str = "proxy",
             **kw: Any) -> "Deferred[SwiftResponse]":
        headers = HeaderDict({"Host": host} if host is not None else {})
        request = SwiftRequest(method, b"/v1/AUTH_a/c/o", headers,
                               environ={"SERVER_NAME": server_name,
                                        "HTTP_HOST": host or ""})
        self.request = request
        return self.make(**kw)(request, self.app)

    def answer(self, host: Optional[str], **kw: Any) -> SwiftResponse:
        return self.successResultOf(self.call(host, **kw))

    def assertRefused(self, response: SwiftResponse, message: bytes) -> None:
        self.assertEqual((response.status, response.body), (400, message))
        self.assertEqual(response.headers["Content-Type"], "text/plain")
        self.assertEqual(self.app.calls, [])

    def assertPassed(self, response: SwiftResponse, host: Optional[str]) -> None:
        self.assertEqual(response.status, 200)
        [request] = self.app.calls
        self.assertEqual(request.headers.get("Host"), host)


class PluginTests(SynchronousTestCase):
    def test_interfaces(self) -> None:
        context = _Context()
        made = cnameLookupPlugin.make_filter({}, partial_context(context))
        self.assertTrue(verifyObject(IPlugin, cnameLookupPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, cnameLookupPlugin))
        self.assertEqual(cnameLookupPlugin.name, "cname_lookup")
        self.assertTrue(verifyObject(IProxyFilter, made))
        self.assertEqual(context.info["cname_lookup"], {"lookup_depth": 1})

    def test_options(self) -> None:
        context = _Context()
        cnameLookupPlugin.make_filter(
            {"lookup_depth": "3", "storage_domain": "a.com, .b.com",
             "nameservers": "127.0.0.1, [::1]:5353"}, partial_context(context))
        self.assertEqual(context.info["cname_lookup"], {"lookup_depth": 3})

    def test_bad_depth(self) -> None:
        """
        A C{lookup_depth} that is not a positive integer stops startup
        (Swift answers every aliased request 500 with one below 1).
        """
        for depth in ("x", "0", "-1", "1.5"):
            self.assertRaises(ConfigError, cnameLookupPlugin.make_filter,
                              {"lookup_depth": depth}, partial_context(_Context()))

    def test_bad_nameservers(self) -> None:
        self.assertRaises(ConfigError, cnameLookupPlugin.make_filter,
                          {"nameservers": "dns.example.com"}, partial_context(_Context()))


class OptionParsingTests(SynchronousTestCase):
    def test_storage_domains(self) -> None:
        """
        Each domain gets a leading dot; those that had one come last.
        """
        self.assertEqual(storage_domains(" .b.com, a.com,, c.org "),
                         [".a.com", ".c.org", ".b.com"])
        self.assertEqual(storage_domains(""), [])

    def test_nameservers(self) -> None:
        self.assertEqual(
            parse_nameservers("127.0.0.1, 127.0.0.2:5353 ,[::1], [::1]:5353, 10.0.0.1: 53"),
            [("127.0.0.1", 53), ("127.0.0.2", 5353), ("::1", 53), ("::1", 5353),
             ("10.0.0.1", 53)])
        self.assertEqual(parse_nameservers(""), [])

    def test_bad_nameservers(self) -> None:
        for value in ("dns.example.com", "1.2.3.4:dns", "1.2.3.4:", "[::1", "[::1]:x", "::1",
                      "::1:53x", "1.2.3", "1.2.3.4:70000", "1.2.3.4:0", "[1.2.3.4.5]"):
            self.assertRaises(ConfigError, parse_nameservers, value)

    def test_resolver(self) -> None:
        """
        The resolver asks the nameservers given, else the system's.
        """
        reactor = MemoryReactorClock()
        resolver = make_resolver([("127.0.0.1", 5353)], reactor)
        assert isinstance(resolver, client.Resolver)
        self.assertEqual(resolver.servers, [("127.0.0.1", 5353)])
        system = make_resolver([], reactor)
        assert isinstance(system, client.Resolver)
        self.assertEqual((system.servers, system.resolv), ([], "/etc/resolv.conf"))


class PassThroughTests(_CNAMETestCase):
    def test_storage_domain(self) -> None:
        for host in ("example.com", "c.AUTH-a.example.com", "x.example.com:8080"):
            self.app.calls = []
            self.assertPassed(self.answer(host), host)
        self.assertEqual(self.resolver.calls, [])

    def test_not_a_suffix(self) -> None:
        """
        A name that merely ends like a storage domain is looked up.
        """
        self.resolver.records["badexample.com"] = NO_RECORD
        self.assertRefused(self.answer("badexample.com"),
                           b"CNAME lookup failed to resolve to a valid domain")

    def test_addresses(self) -> None:
        for host in ("127.0.0.1", "10.1.2.3:8080", "[::1]:8080", "[fe80::2]"):
            self.app.calls = []
            self.assertPassed(self.answer(host), host)
        self.assertEqual(self.resolver.calls, [])

    def test_no_storage_domain(self) -> None:
        self.assertPassed(self.answer("customer.org", domains=""), "customer.org")
        self.assertEqual(self.resolver.calls, [])

    def test_server_name(self) -> None:
        """
        Without C{Host}, the server's name is the requested host.
        """
        self.assertPassed(self.answer(None, server_name="10.0.0.1"), None)
        self.resolver.records["alias.org"] = "c.a.example.com"
        self.app.calls = []
        self.assertPassed(self.answer(None, server_name="alias.org"), "c.a.example.com")


class RewriteTests(_CNAMETestCase):
    def test_alias(self) -> None:
        """
        The C{Host} of a request for an alias becomes the storage domain
        name, its port kept.
        """
        self.resolver.records["www.customer.org"] = "c.AUTH-a.example.com"
        self.assertPassed(self.answer("www.customer.org:8080"), "c.AUTH-a.example.com:8080")
        self.assertEqual(self.request.environ["HTTP_HOST"], "c.AUTH-a.example.com:8080")
        self.assertEqual(self.resolver.calls, ["www.customer.org"])

    def test_locations(self) -> None:
        """
        Response headers naming the rewritten host name the requested one.
        """
        self.resolver.records["www.customer.org"] = "c.a.example.com"
        self.app.headers = {"Location": "https://c.a.example.com:8080/x/y",
                            "Content-Location": "http://c.a.example.com:8080",
                            "X-Other": "http://c.a.example.com:8080/z"}
        response = self.answer("www.customer.org:8080")
        self.assertEqual(response.headers["Location"], "https://www.customer.org:8080/x/y")
        self.assertEqual(response.headers["Content-Location"], "http://www.customer.org:8080")
        self.assertEqual(response.headers["X-Other"], "http://c.a.example.com:8080/z")

    def test_other_locations(self) -> None:
        self.resolver.records["www.customer.org"] = "c.a.example.com"
        for location in ("/v1/a/c/o", "http://other.example.com/", "ftp://c.a.example.com/",
                         "http://c.a.example.com.evil/"):
            self.app.headers = {"Location": location}
            response = self.answer("www.customer.org")
            self.assertEqual(response.headers["Location"], location)

    def test_chain(self) -> None:
        """
        A chain of aliases is followed up to C{lookup_depth} names.
        """
        self.resolver.records.update({"a.org": "b.org", "b.org": "c.org",
                                      "c.org": "s.example.com"})
        self.assertPassed(self.answer("a.org", depth=3), "s.example.com")
        self.assertEqual(self.resolver.calls, ["a.org", "b.org", "c.org"])

    def test_depth_limit(self) -> None:
        self.resolver.records.update({"a.org": "b.org", "b.org": "s.example.com"})
        self.assertRefused(self.answer("a.org"), b"CNAME lookup failed after 1 tries")
        self.assertRefused(self.answer("a.org", depth=1, store=False),
                           b"CNAME lookup failed after 1 tries")
        self.assertEqual(self.resolver.calls, ["a.org", "a.org"])

    def test_loop(self) -> None:
        """
        A loop of aliases ends at C{lookup_depth}; an alias of itself at
        once.
        """
        self.resolver.records.update({"a.org": "b.org", "b.org": "a.org", "self.org": "self.org"})
        self.assertRefused(self.answer("a.org", depth=5), b"CNAME lookup failed after 5 tries")
        self.assertEqual(len(self.resolver.calls), 2)
        self.assertRefused(self.answer("self.org", depth=5),
                           b"CNAME lookup failed to resolve to a valid domain")

    def test_idna(self) -> None:
        """
        A name outside ASCII is asked in its IDNA form.
        """
        host = "caf\u00e9.org".encode("utf-8").decode("latin-1")
        self.resolver.records["caf\u00e9.org"] = "s.example.com"
        self.assertPassed(self.answer(host), "s.example.com")


class RefusalTests(_CNAMETestCase):
    def test_no_cname(self) -> None:
        self.resolver.records["exists.org"] = NO_RECORD
        for host in ("missing.org", "exists.org"):
            self.assertRefused(self.answer(host),
                               b"CNAME lookup failed to resolve to a valid domain")

    def test_head(self) -> None:
        response = self.answer("missing.org", method="HEAD")
        self.assertEqual((response.status, response.body), (400, b""))
        self.assertEqual(response.headers["Content-Length"], "48")

    def test_resolver_errors(self) -> None:
        for error in (DNSServerError("x"), DNSQueryTimeoutError("x"),
                      ConnectionRefusedError()):
            self.resolver.records["flaky.org"] = error
            self.assertRefused(self.answer("flaky.org"),
                               b"CNAME lookup failed to resolve to a valid domain")

    def test_bad_name(self) -> None:
        """
        A name DNS cannot carry (an empty label) fails its lookup.
        """
        self.assertRefused(self.answer("a..org", store=False),
                           b"CNAME lookup failed to resolve to a valid domain")

    def test_timeout(self) -> None:
        """
        A lookup that takes longer than L{DNS_LIFETIME} seconds fails.
        """
        self.resolver.records["slow.org"] = HANG
        d = self.call("slow.org")
        self.assertNoResult(d)
        self.clock.advance(DNS_LIFETIME)
        self.assertRefused(self.successResultOf(d),
                           b"CNAME lookup failed to resolve to a valid domain")


class CacheTests(_CNAMETestCase):
    def test_found_kept_for_ttl(self) -> None:
        self.resolver.records["a.org"] = "s.example.com"
        self.answer("a.org")
        self.answer("a.org")
        self.assertEqual(self.resolver.calls, ["a.org"])
        self.assertEqual(self.successResultOf(self.store.get("cname-a.org")), "s.example.com")
        self.clock.advance(301)
        self.answer("a.org")
        self.assertEqual(self.resolver.calls, ["a.org", "a.org"])

    def test_absence_kept_a_minute(self) -> None:
        for _ in range(2):
            self.answer("missing.org")
        self.assertEqual(self.resolver.calls, ["missing.org"])
        self.assertIs(self.successResultOf(self.store.get("cname-missing.org")), False)
        self.clock.advance(61)
        self.answer("missing.org")
        self.assertEqual(len(self.resolver.calls), 2)

    def test_failures_not_kept(self) -> None:
        self.resolver.records["flaky.org"] = DNSServerError("x")
        self.answer("flaky.org")
        self.resolver.records["flaky.org"] = "s.example.com"
        self.assertPassed(self.answer("flaky.org"), "s.example.com")

    def test_chain_kept_by_name(self) -> None:
        """
        Each name of a chain is kept under its own key.
        """
        self.resolver.records.update({"a.org": "b.org", "b.org": "s.example.com"})
        self.answer("a.org", depth=2)
        self.assertEqual(self.successResultOf(self.store.get("cname-a.org")), "b.org")
        self.assertEqual(self.successResultOf(self.store.get("cname-b.org")), "s.example.com")


class LookupTests(SynchronousTestCase):
    def test_other_records_ignored(self) -> None:
        """
        Only a C{CNAME} record of the name asked counts.
        """
        clock = Clock()

        class _Odd:
            def lookupCanonicalName(self, name: str, timeout: Any = None) -> "Deferred[Any]":
                return succeed(([
                    dns.RRHeader(name=b"other.org", type=dns.CNAME,
                                 payload=dns.Record_CNAME(b"x.example.com")),
                    dns.RRHeader(name=b"a.org", type=dns.A, payload=dns.Record_A("1.2.3.4")),
                    dns.RRHeader(name=b"A.org.", type=dns.CNAME, ttl=7,
                                 payload=dns.Record_CNAME(b"y.example.com")),
                ], [], []))

        self.assertEqual(self.successResultOf(Deferred.fromCoroutine(
            lookup_cname(_Odd(), clock, "a.org"))), (7, "y.example.com"))  # type: ignore[arg-type]
