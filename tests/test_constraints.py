"""
Tests for L{twisted_proxy.swift.constraints}.

Status codes and body texts are those Swift 2.38.3's proxy sends for the
same requests.
"""

from typing import Optional

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.constraints import (
    DEFAULT_CONSTRAINTS,
    Constraints,
    check_account_format,
    check_container_format,
    check_delete_headers,
    check_framing_headers,
    check_metadata,
    check_name_length,
    check_object_creation,
    check_path_utf8,
    check_utf8,
    ensure_x_timestamp,
    filter_inbound_headers,
    guess_content_type,
    if_none_match_star,
    is_sys_meta,
    name_length_limit,
    native_name,
    prepare_object_post,
    prepare_object_put,
    remove_backend_and_sysmeta_headers,
    remove_owner_headers,
    request_timestamp,
    strip_sys_meta,
    transform_remove_headers,
    unquote_name_header,
    update_content_type,
    valid_api_version,
)
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.swift.timestamp import Timestamp

NOW = 1700000000.0


def request(
    headers: Optional[list[tuple[str, str]]] = None,
    path: bytes = b"/v1/a/c/o",
    method: str = "PUT",
) -> SwiftRequest:
    return SwiftRequest(method, path, HeaderDict(headers or []))


def object_put(*extra: tuple[str, str]) -> SwiftRequest:
    headers = [
        ("Content-Length", "0"),
        ("Content-Type", "text/plain"),
        ("X-Timestamp", Timestamp(NOW).internal),
    ]
    return request(headers + list(extra))


class ErrorAssertions(SynchronousTestCase):
    def assertError(
        self, response: Optional[SwiftResponse], status: int, body: bytes
    ) -> None:
        self.assertIsNotNone(response)
        assert response is not None
        self.assertEqual((response.status, response.body), (status, body))


class ConstraintsConfigTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        c = Constraints()
        self.assertEqual(c.max_file_size, 5368709122)
        self.assertEqual(c.valid_api_versions, ("v1", "v1.0"))
        self.assertEqual(c.max_header_count, 126)

    def test_from_conf(self) -> None:
        c = Constraints.from_conf(
            {
                "max_meta_count": " 10 ",
                "valid_api_versions": "v1, v2,,",
                "auto_create_account_prefix": "_",
                "unknown": "x",
            }
        )
        self.assertEqual(c.max_meta_count, 10)
        self.assertEqual(c.valid_api_versions, ("v1", "v2"))
        self.assertEqual(c.auto_create_account_prefix, "_")
        self.assertEqual(c.max_file_size, 5368709122)

    def test_from_conf_bad_int_names_option(self) -> None:
        e = self.assertRaises(
            ValueError, Constraints.from_conf, {"max_file_size": "big"}
        )
        self.assertIn("max_file_size", str(e))

    def test_as_info(self) -> None:
        info = DEFAULT_CONSTRAINTS.as_info()
        self.assertEqual(
            info,
            {
                "max_file_size": 5368709122,
                "max_meta_name_length": 128,
                "max_meta_value_length": 256,
                "max_meta_count": 90,
                "max_meta_overall_size": 4096,
                "max_header_size": 8192,
                "max_request_line": 8192,
                "max_object_name_length": 1024,
                "container_listing_limit": 10000,
                "account_listing_limit": 10000,
                "max_account_name_length": 256,
                "max_container_name_length": 256,
                "valid_api_versions": ["v1", "v1.0"],
                "extra_header_count": 0,
                "auto_create_account_prefix": ".",
            },
        )

    def test_valid_api_version(self) -> None:
        self.assertTrue(valid_api_version("v1"))
        self.assertTrue(valid_api_version("v1.0"))
        self.assertFalse(valid_api_version("v2"))


class UTF8Tests(ErrorAssertions):
    def test_check_utf8(self) -> None:
        self.assertTrue(check_utf8("/v1/a"))
        self.assertTrue(check_utf8("/v1/\xc3\xa9"))
        self.assertTrue(check_utf8("/v1/\xf0\x9f\x98\x80"))
        self.assertTrue(check_utf8(b"/v1/\xc3\xa9"))
        for bad in ("", "/v1/\xff", "/v1/a\x00", "/v1/\xed\xa0\x80", "/v1/\xc0\xaf",
                    "\u0100"):
            self.assertFalse(check_utf8(bad), repr(bad))

    def test_internal_allows_nul(self) -> None:
        self.assertTrue(check_utf8("a\x00b", internal=True))

    def test_path(self) -> None:
        self.assertIsNone(check_path_utf8(request(path=b"/v1/a/%C3%A9")))
        self.assertError(
            check_path_utf8(request(path=b"/v1/a/%FF")),
            412,
            b"Invalid UTF8 or contains NULL",
        )
        self.assertError(
            check_path_utf8(request(path=b"/v1/a/%00")),
            412,
            b"Invalid UTF8 or contains NULL",
        )

    def test_path_reserved_allowed(self) -> None:
        req = request(
            [("X-Backend-Allow-Reserved-Names", "true")], path=b"/v1/a/%00c"
        )
        self.assertIsNone(check_path_utf8(req))


class StripSysMetaTests(SynchronousTestCase):
    """
    Tests for L{strip_sys_meta}.
    """

    def test_asIsSysMeta(self) -> None:
        """
        L{strip_sys_meta} takes out exactly the headers L{is_sys_meta} calls
        system metadata of the server type.
        """
        names = ["X-Object-Sysmeta-A", "x-object-sysmeta-b", "X-OBJECT-SYSMETA-\n",
                 "X-Object-Sysmeta-", "X-Object-Sysmeta", "X-Object-Meta-A",
                 "X-Container-Sysmeta-A", " X-Object-Sysmeta-A", "X-Object-Sysmeta-\xe9",
                 "x-account-sysmeta-c", "X-Container-Sysmeta-", "X-Account-SysMeta-\u0130"]
        names += [chr(code) + "-Object-Sysmeta-A" for code in range(256)]
        names += [chr(code) + "-Container-Sysmeta-A" for code in range(256)]
        names = list(dict.fromkeys(names))
        for server_type in ("object", "container", "account", "Object"):
            headers = {name: "v" for name in names}
            strip_sys_meta(server_type, headers)
            self.assertEqual(
                sorted(headers),
                sorted(name for name in names if not is_sys_meta(server_type, name)))


class MetadataTests(ErrorAssertions):
    def test_fine(self) -> None:
        req = request([("X-Object-Meta-Color", "blue"), ("X-Other", "x")])
        self.assertIsNone(check_metadata(req, "object"))

    def test_limits_at_boundary(self) -> None:
        req = request(
            [("X-Container-Meta-" + "k" * 128, "v"), ("X-Container-Meta-V", "v" * 256)]
        )
        self.assertIsNone(check_metadata(req, "container"))

    def test_name_too_long(self) -> None:
        name = "X-Account-Meta-" + "k" * 129
        self.assertError(
            check_metadata(request([(name, "v")]), "account"),
            400,
            b"Metadata name too long: x-account-meta-K" + b"k" * 128,
        )

    def test_value_too_long(self) -> None:
        self.assertError(
            check_metadata(request([("X-Object-Meta-too-long", "k" * 257)]), "object"),
            400,
            b"Metadata value longer than 256: x-object-meta-Too-Long",
        )

    def test_too_many(self) -> None:
        headers = [("X-Container-Meta-%d" % i, "v") for i in range(91)]
        self.assertError(
            check_metadata(request(headers), "container"),
            400,
            b"Too many metadata items; max 90",
        )
        self.assertIsNone(check_metadata(request(headers[:90]), "container"))

    def test_overall_size(self) -> None:
        # The sizes of the functional tests: exactly at the limit passes.
        headers = [("X-Container-Meta-%04d" % i, "k" * 256) for i in range(15)]
        size = 15 * (4 + 256)
        fitting = headers + [("X-Container-Meta-k", "v" * (4096 - size - 1))]
        self.assertIsNone(check_metadata(request(fitting), "container"))
        over = headers + [("X-Container-Meta-k", "v" * (4096 - size))]
        self.assertError(
            check_metadata(request(over), "container"),
            400,
            b"Total metadata too large; max 4096",
        )

    def test_empty_name(self) -> None:
        self.assertError(
            check_metadata(request([("X-Object-Meta-", "v")]), "object"),
            400,
            b"Metadata name cannot be empty",
        )

    def test_utf8_required_for_account_and_container(self) -> None:
        for headers in ([("X-Account-Meta-\xff", "v")], [("X-Account-Meta-k", "\xff")]):
            self.assertError(
                check_metadata(request(headers), "account"),
                400,
                b"Metadata must be valid UTF-8",
            )
        self.assertIsNone(check_metadata(request([("X-Object-Meta-k", "\xff")]), "object"))

    def test_header_value_too_long(self) -> None:
        """
        Any header, metadata or not, is limited; the name is reported as
        Swift's environ rebuilds it, with the original bytes.
        """
        self.assertError(
            check_metadata(request([("x-other-\xc3\xa9", "k" * 8193)]), "object"),
            400,
            b"Header value too long: X-Other-\xc3\xa9",
        )

    def test_content_type_checked_last(self) -> None:
        """
        Content-Type and Content-Length come after the other headers, as in
        a WSGI environ.
        """
        req = request([("Content-Type", "k" * 8193), ("X-Other", "k" * 8193)])
        self.assertError(
            check_metadata(req, "object"), 400, b"Header value too long: X-Other"
        )

    def test_custom_constraints(self) -> None:
        tight = Constraints(max_meta_count=1)
        headers = [("X-Object-Meta-A", "v"), ("X-Object-Meta-B", "v")]
        self.assertError(
            check_metadata(request(headers), "object", tight),
            400,
            b"Too many metadata items; max 1",
        )


class ObjectCreationTests(ErrorAssertions):
    def test_fine(self) -> None:
        self.assertIsNone(check_object_creation(object_put(), "o"))

    def test_too_large(self) -> None:
        req = object_put()
        req.headers["Content-Length"] = "5368709123"
        self.assertError(
            check_object_creation(req, "o"), 413, b"Your request is too large."
        )
        req.headers["Content-Length"] = "5368709122"
        self.assertIsNone(check_object_creation(req, "o"))

    def test_length_required(self) -> None:
        req = object_put()
        del req.headers["Content-Length"]
        self.assertError(
            check_object_creation(req, "o"), 411, b"Missing Content-Length header."
        )
        req.headers["Transfer-Encoding"] = "chunked"
        self.assertIsNone(check_object_creation(req, "o"))

    def test_chunked_spelling_matters(self) -> None:
        """
        Swift accepts C{Chunked} as a coding but still wants a length for
        anything not spelled exactly C{chunked}.
        """
        req = object_put()
        del req.headers["Content-Length"]
        req.headers["Transfer-Encoding"] = "Chunked"
        self.assertError(
            check_object_creation(req, "o"), 411, b"Missing Content-Length header."
        )

    def test_bad_transfer_encoding(self) -> None:
        req = object_put(("Transfer-Encoding", "gzip"))
        self.assertError(
            check_object_creation(req, "o"),
            400,
            b"Invalid Transfer-Encoding header value",
        )
        req.headers["Transfer-Encoding"] = "gzip, chunked"
        self.assertError(
            check_object_creation(req, "o"),
            501,
            b"Unsupported Transfer-Coding header value specified in "
            b"Transfer-Encoding header",
        )

    def test_bad_content_length(self) -> None:
        req = object_put()
        req.headers["Content-Length"] = "abc"
        self.assertError(
            check_object_creation(req, "o"),
            400,
            b"Invalid Content-Length header value",
        )

    def test_name_too_long(self) -> None:
        self.assertIsNone(check_object_creation(object_put(), "o" * 1024))
        self.assertError(
            check_object_creation(object_put(), "o" * 1025),
            400,
            b"Object name length of 1025 longer than 1024",
        )

    def test_no_content_type(self) -> None:
        req = object_put()
        del req.headers["Content-Type"]
        self.assertError(check_object_creation(req, "o"), 400, b"No content type")

    def test_invalid_content_type(self) -> None:
        req = object_put()
        req.headers["Content-Type"] = "\xff"
        self.assertError(check_object_creation(req, "o"), 400, b"Invalid Content-Type")

    def test_swift_params_refused(self) -> None:
        req = object_put()
        req.headers["Content-Type"] = "text/plain; swift_bytes=1"
        self.assertError(
            check_object_creation(req, "o"),
            400,
            b"Invalid Content-Type, swift_* is not a valid parameter name.",
        )
        req.environ["swift.content_type_overridden"] = True
        self.assertIsNone(check_object_creation(req, "o"))

    def test_metadata_checked(self) -> None:
        req = object_put(("X-Object-Meta-", "v"))
        self.assertError(
            check_object_creation(req, "o"), 400, b"Metadata name cannot be empty"
        )

    def test_delete_headers_checked(self) -> None:
        req = object_put(("X-Delete-At", str(int(NOW) - 1)))
        self.assertError(check_object_creation(req, "o"), 400, b"X-Delete-At in past")


class PrepareObjectPutTests(ErrorAssertions):
    """
    L{prepare_object_put}: the checks and header changes every object PUT
    goes through, replicated or erasure-coded.
    """

    def put(self, *headers: tuple[str, str], path: bytes = b"/v1/a/c/o") -> SwiftRequest:
        return request([("Content-Length", "0")] + list(headers), path=path)

    def test_readied(self) -> None:
        """
        A good PUT is let through with its Content-Type guessed from the
        path and its X-Timestamp set from C{now}; X-Remove-Object-Meta-*
        headers go to the object servers as they are.
        """
        req = self.put(("X-Remove-Object-Meta-Color", "x"), path=b"/v1/a/c/page.html")
        self.assertIsNone(prepare_object_put(req, "page.html", NOW))
        self.assertEqual(req.headers["Content-Type"], "text/html")
        self.assertEqual(req.headers["X-Timestamp"], Timestamp(NOW).internal)
        self.assertEqual(req.headers["X-Remove-Object-Meta-Color"], "x")

    def test_clientTimestampKept(self) -> None:
        req = self.put(("X-Timestamp", "12"))
        self.assertIsNone(prepare_object_put(req, "o", NOW))
        self.assertEqual(req.headers["X-Timestamp"], "0000000012.00000")

    def test_ifNoneMatchStar(self) -> None:
        for value in ("*", "a, *", " * "):
            self.assertIsNone(prepare_object_put(self.put(("If-None-Match", value)), "o", NOW))

    def test_ifNoneMatchNotStar(self) -> None:
        """
        An C{If-None-Match} without C{*} is refused before anything else is
        looked at (the request is left as it was).
        """
        req = self.put(("If-None-Match", '"abc"'), ("X-Timestamp", "junk"))
        self.assertError(
            prepare_object_put(req, "o", NOW), 400, b"If-None-Match only supports *")
        self.assertNotIn("Content-Type", req.headers)

    def test_badTimestamp(self) -> None:
        self.assertError(
            prepare_object_put(self.put(("X-Timestamp", "abc")), "o", NOW),
            400,
            b"X-Timestamp should be a UNIX timestamp float value; was 'abc'",
        )

    def test_creationChecked(self) -> None:
        """
        The errors of L{check_object_creation} come through, with the
        constraints given.
        """
        req = self.put()
        del req.headers["Content-Length"]
        self.assertError(
            prepare_object_put(req, "o", NOW), 411, b"Missing Content-Length header.")
        req = self.put()
        req.headers["Content-Length"] = "11"
        self.assertError(
            prepare_object_put(req, "o", NOW, Constraints(max_file_size=10)),
            413,
            b"Your request is too large.",
        )
        self.assertError(
            prepare_object_put(self.put(), "oooo", NOW, Constraints(max_object_name_length=3)),
            400,
            b"Object name length of 4 longer than 3",
        )

    def test_deleteAtJudgedByNow(self) -> None:
        """
        X-Delete-After becomes an X-Delete-At counted from the X-Timestamp
        that C{now} gave.
        """
        req = self.put(("X-Delete-After", "10"))
        self.assertIsNone(prepare_object_put(req, "o", NOW))
        self.assertEqual(req.headers["X-Delete-At"], str(int(NOW) + 10))

    def test_ifNoneMatchStarHelper(self) -> None:
        self.assertTrue(if_none_match_star("*"))
        self.assertTrue(if_none_match_star('"a", *'))
        self.assertFalse(if_none_match_star('"a"'))
        self.assertFalse(if_none_match_star(None))


class PrepareObjectPostTests(ErrorAssertions):
    """
    L{prepare_object_post}: the checks and header changes every object POST
    goes through, replicated or erasure-coded.
    """

    def test_readied(self) -> None:
        req = request([("X-Delete-After", "10"), ("X-Object-Meta-Color", "red")], method="POST")
        self.assertIsNone(prepare_object_post(req, NOW))
        self.assertEqual(req.headers["X-Delete-At"], str(int(NOW) + 10))

    def test_metadata(self) -> None:
        self.assertError(
            prepare_object_post(request([("X-Object-Meta-", "v")], method="POST"), NOW),
            400, b"Metadata name cannot be empty")
        self.assertError(
            prepare_object_post(request([("X-Object-Meta-Color", "red")], method="POST"),
                                NOW, Constraints(max_meta_value_length=2)),
            400, b"Metadata value longer than 2: x-object-meta-Color")

    def test_deleteAt(self) -> None:
        self.assertError(
            prepare_object_post(request([("X-Delete-At", str(int(NOW) - 1))], method="POST"),
                                NOW),
            400, b"X-Delete-At in past")


class FramingTests(ErrorAssertions):
    def test_length_and_coding(self) -> None:
        """
        Content-Length with any Transfer-Encoding is refused, as eventlet
        refuses it in front of Swift.
        """
        for coding in ("chunked", "gzip, Chunked"):
            req = request([("Transfer-Encoding", coding), ("Content-Length", "5")])
            self.assertError(
                check_framing_headers(req), 400,
                b"Content-Length and Transfer-Encoding are not allowed together")
        self.assertIsNone(check_framing_headers(request([("Transfer-Encoding", "chunked")])))

    def test_bad_length(self) -> None:
        for bad in ("-1", "x"):
            self.assertError(
                check_framing_headers(request([("Content-Length", bad)])),
                400,
                b"Invalid Content-Length",
            )
        self.assertIsNone(check_framing_headers(request([("Content-Length", "3")])))


class ContentTypeTests(SynchronousTestCase):
    def test_guess(self) -> None:
        self.assertEqual(guess_content_type("/v1/a/c/x.txt"), "text/plain")
        self.assertEqual(guess_content_type("x.TXT"), "text/plain")
        self.assertEqual(guess_content_type("/v1/a/c/x"), "application/octet-stream")
        self.assertEqual(guess_content_type("data:text/plain,x"), "application/octet-stream")

    def test_missing_is_guessed(self) -> None:
        req = request(path=b"/v1/a/c/page.html")
        update_content_type(req)
        self.assertEqual(req.headers["Content-Type"], "text/html")

    def test_empty_is_guessed(self) -> None:
        req = request([("Content-Type", "")], path=b"/v1/a/c/o")
        update_content_type(req)
        self.assertEqual(req.headers["Content-Type"], "application/octet-stream")

    def test_given_is_kept(self) -> None:
        req = request([("Content-Type", "a/b")], path=b"/v1/a/c/page.html")
        update_content_type(req)
        self.assertEqual(req.headers["Content-Type"], "a/b")

    def test_detect_overrides(self) -> None:
        req = request(
            [("Content-Type", "a/b"), ("X-Detect-Content-Type", "yes")],
            path=b"/v1/a/c/page.html",
        )
        update_content_type(req)
        self.assertEqual(req.headers["Content-Type"], "text/html")
        self.assertNotIn("X-Detect-Content-Type", req.headers)

    def test_detect_false_kept(self) -> None:
        req = request(
            [("Content-Type", "a/b"), ("X-Detect-Content-Type", "false")],
            path=b"/v1/a/c/page.html",
        )
        update_content_type(req)
        self.assertEqual(req.headers["Content-Type"], "a/b")
        self.assertIn("X-Detect-Content-Type", req.headers)


class XTimestampTests(ErrorAssertions):
    def test_set_when_missing(self) -> None:
        req = request()
        self.assertIsNone(ensure_x_timestamp(req, 1700000000.123456))
        self.assertEqual(req.headers["X-Timestamp"], "1700000000.12346")

    def test_client_value_normalised(self) -> None:
        req = request([("X-Timestamp", "12")])
        self.assertIsNone(ensure_x_timestamp(req, NOW))
        self.assertEqual(req.headers["X-Timestamp"], "0000000012.00000")

    def test_client_value_invalid(self) -> None:
        self.assertError(
            ensure_x_timestamp(request([("X-Timestamp", "abc")]), NOW),
            400,
            b"X-Timestamp should be a UNIX timestamp float value; was 'abc'",
        )

    def test_request_timestamp(self) -> None:
        for headers, body in (
            ([], b"Missing X-Timestamp header"),
            ([("X-Timestamp", "x")], b"Invalid X-Timestamp header"),
        ):
            result = request_timestamp(request(headers))
            assert isinstance(result, SwiftResponse)
            self.assertError(result, 400, body)
        self.assertEqual(request_timestamp(request([("X-Timestamp", "5")])), Timestamp(5))


class DeleteHeaderTests(ErrorAssertions):
    def test_after_becomes_at(self) -> None:
        req = request([("X-Delete-After", "60"), ("X-Delete-At", "1")])
        self.assertIsNone(check_delete_headers(req, NOW + 0.5))
        self.assertEqual(req.headers["X-Delete-At"], "1700000060")
        self.assertNotIn("X-Delete-After", req.headers)

    def test_at_normalised(self) -> None:
        req = request([("X-Delete-At", " 99999999999 ")])
        self.assertIsNone(check_delete_headers(req, NOW))
        self.assertEqual(req.headers["X-Delete-At"], "9999999999")

    def test_now_from_x_timestamp(self) -> None:
        req = request([("X-Delete-At", str(int(NOW))), ("X-Timestamp", str(NOW))])
        self.assertError(check_delete_headers(req), 400, b"X-Delete-At in past")
        self.assertError(
            check_delete_headers(request([("X-Delete-At", "1")])),
            400,
            b"Missing X-Timestamp header",
        )

    def test_errors(self) -> None:
        cases = [
            ("X-Delete-After", "x", b"Non-integer X-Delete-After"),
            ("X-Delete-After", "1.5", b"Non-integer X-Delete-After"),
            ("X-Delete-After", "0", b"X-Delete-After in past"),
            ("X-Delete-After", "-10", b"X-Delete-After in past"),
            ("X-Delete-At", "1.5", b"Non-integer X-Delete-At"),
            ("X-Delete-At", str(int(NOW)), b"X-Delete-At in past"),
            ("X-Delete-At", "-5", b"X-Delete-At in past"),
        ]
        for name, value, body in cases:
            self.assertError(check_delete_headers(request([(name, value)]), NOW), 400, body)

    def test_replication_may_set_past(self) -> None:
        req = request([("X-Delete-At", "5"), ("X-Backend-Replication", "True")])
        self.assertIsNone(check_delete_headers(req, NOW))


class NameTests(ErrorAssertions):
    def test_formats(self) -> None:
        self.assertIsNone(check_account_format("AUTH_test"))
        self.assertError(check_account_format(""), 412, b"Account name cannot be empty")
        self.assertError(
            check_container_format("a/b"), 412, b"Container name cannot contain slashes"
        )

    def test_unquote(self) -> None:
        self.assertEqual(unquote_name_header("c%C3%A9%2Fx"), "c\xc3\xa9/x")

    def test_length_limits(self) -> None:
        self.assertEqual(name_length_limit("account", "AUTH_test"), 256)
        self.assertEqual(name_length_limit("Container", ".expiring"), 512)
        self.assertRaises(ValueError, name_length_limit, "object", "a")

    def test_native_name(self) -> None:
        self.assertEqual(native_name("c\xc3\xa9"), "c\u00e9")
        self.assertEqual(native_name("c\u00e9\u4e2d"), "c\u00e9\u4e2d")
        # Swift unquotes split names once more.
        self.assertEqual(native_name("a%41"), "aA")

    def test_lengths_count_characters(self) -> None:
        self.assertIsNone(check_name_length("\xc3\xa9" * 256, "container", "a"))
        self.assertError(
            check_object_creation(object_put(), "\xc3\xa9" * 1025),
            400,
            b"Object name length of 1025 longer than 1024",
        )
        self.assertIsNone(check_object_creation(object_put(), "%41" * 1024))

    def test_check_length(self) -> None:
        self.assertIsNone(check_name_length("c" * 256, "container", "AUTH_test"))
        self.assertError(
            check_name_length("c" * 257, "container", "AUTH_test"),
            400,
            b"Container name length of 257 longer than 256",
        )
        self.assertError(
            check_name_length("a" * 257, "account", "a" * 257),
            400,
            b"Account name length of 257 longer than 256",
        )

    def test_check_length_is_html(self) -> None:
        """
        Swift's controllers send the name-length 400 as HTML, not as the
        constraint checks' plain text.
        """
        refused = check_name_length("c" * 257, "container", "AUTH_test")
        assert refused is not None
        self.assertEqual(refused.headers["Content-Type"], "text/html; charset=UTF-8")


class HeaderFilterTests(SynchronousTestCase):
    def test_remove_private(self) -> None:
        headers = HeaderDict(
            [
                ("X-Backend-Storage-Policy-Index", "1"),
                ("X-Backendish", "1"),
                ("X-Object-Sysmeta-Foo", "1"),
                ("x-container-sysmeta-foo", "1"),
                ("X-Account-Sysmeta-Foo", "1"),
                ("X-Object-Transient-Sysmeta-Crypto", "1"),
                ("X-Container-Host", "1"),
                ("X-Container-Hosts", "kept"),
                ("X-Delete-At-Container", "1"),
                ("X-Object-Meta-Foo", "kept"),
                ("X-Sysmeta-Foo", "kept"),
            ]
        )
        removed = remove_backend_and_sysmeta_headers(headers)
        self.assertEqual(len(removed), 8)
        self.assertEqual(
            sorted(headers), ["X-Container-Hosts", "X-Object-Meta-Foo", "X-Sysmeta-Foo"]
        )

    def test_inbound(self) -> None:
        headers = HeaderDict(
            [
                ("X-Timestamp", "5"),
                ("X-Backend-Thing", "1"),
                ("X-Allow-Reserved-Names", "true"),
            ]
        )
        filter_inbound_headers(headers)
        self.assertEqual(
            dict(headers.items()),
            {"X-Backend-Inbound-X-Timestamp": "5", "X-Allow-Reserved-Names": "true"},
        )
        filter_inbound_headers(headers, allow_reserved_names_header=True)
        self.assertEqual(headers["X-Backend-Allow-Reserved-Names"], "true")
        self.assertNotIn("X-Backend-Inbound-X-Timestamp", headers)

    def test_owner_headers(self) -> None:
        headers = HeaderDict(
            [("X-Container-Read", ".r:*"), ("X-Container-Meta-Temp-Url-Key", "k"),
             ("X-Container-Meta-Color", "blue")]
        )
        remove_owner_headers(headers)
        self.assertEqual(list(headers), ["X-Container-Meta-Color"])


class RemoveHeaderTests(SynchronousTestCase):
    def test_container(self) -> None:
        headers = HeaderDict(
            [
                ("X-Remove-Container-Meta-Color", "x"),
                ("X-Remove-Container-Read", "x"),
                ("X-Remove-Versions-Location", "x"),
                ("X-Remove-Container-Sync-To", "x"),
                ("X-Remove-Account-Meta-Color", "x"),
                ("X-Auth-Token", "t"),
            ]
        )
        added = transform_remove_headers(headers, "Container")
        expected = {
            "x-container-meta-color": "",
            "x-container-read": "",
            "x-versions-location": "",
            "x-container-sync-to": "",
        }
        self.assertEqual(dict(added.items()), expected)
        self.assertEqual(
            dict(headers.items()),
            dict(expected, **{"X-Remove-Account-Meta-Color": "x", "X-Auth-Token": "t"}),
        )

    def test_explicit_value_wins(self) -> None:
        headers = HeaderDict(
            [("X-Remove-Container-Meta-Color", "x"), ("X-Container-Meta-Color", "red")]
        )
        self.assertEqual(len(transform_remove_headers(headers, "container")), 0)
        self.assertEqual(dict(headers.items()), {"X-Container-Meta-Color": "red"})

    def test_account(self) -> None:
        headers = HeaderDict(
            [("X-Remove-Account-Meta-Color", "x"), ("X-Remove-Container-Read", "x")]
        )
        transform_remove_headers(headers, "account")
        self.assertEqual(
            dict(headers.items()),
            {"x-account-meta-color": "", "X-Remove-Container-Read": "x"},
        )

    def test_object_untouched(self) -> None:
        headers = HeaderDict([("X-Remove-Object-Meta-Color", "x")])
        self.assertEqual(len(transform_remove_headers(headers, "object")), 0)
        self.assertEqual(dict(headers.items()), {"X-Remove-Object-Meta-Color": "x"})
