# -*- test-case-name: tests.test_formpost,tests.e2e.test_formpost -*-
"""
The code of the C{formpost} plugin: see L{twisted_proxy.plugins.formpost},
which declares it and imports this module only when a pipeline runs it.
"""

from __future__ import annotations

import hmac
from typing import Any, Iterable, Optional
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.plugin import IPlugin
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.bodystream import BodyStream
from twisted_proxy.plugins._support.signing import digests_option, temp_url_keys
from twisted_proxy.plugins._support.subrequest import (
    PulledBody,
    drop_body,
    preauthorized,
)
from twisted_proxy.swift.digest import SUPPORTED_DIGESTS, hmac_hex, parse_signature
from twisted_proxy.swift.http import (
    HTML,
    ClientGone,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    str_to_wsgi,
    wire_quote,
    wsgi_to_bytes,
)
from twisted_proxy.swift.multipart import (
    FormDataError,
    FormDataParser,
    MimeInvalid,
    parse_content_disposition,
)

__all__ = ["FormPost", "formpostPlugin", "MAX_VALUE_LENGTH", "READ_CHUNK_SIZE"]

#: The most bytes of a field's value that are kept (the rest is dropped).
MAX_VALUE_LENGTH = 4096

#: The most bytes of a file handed to its upload at once.
READ_CHUNK_SIZE = 65536

#: Bytes of the form waiting to be read past which the client is paused.
_HIGH_WATER = 256 * 1024

#: The client request headers a file's upload carries, as Swift's
#: C{make_pre_authed_env} keeps them.
_KEPT_HEADERS = ("User-Agent", "Host", "Origin", "Access-Control-Request-Method",
                 "X-User-Id", "X-Project-Id", "Referer")

_PLAIN = "text/plain"


class _FormInvalid(Exception):
    """
    The form cannot be used: C{400 FormPost: <message>}.
    """


class _FormUnauthorized(Exception):
    """
    The form is not (or no longer) signed: C{401 FormPost: <Message>}.
    """


class _FormStream:
    """
    The form's parts as they arrive: the body's chunks wait in a
    L{BodyStream} (the client is paused while more than L{_HIGH_WATER} bytes
    wait) and go to a L{FormDataParser} only as it needs them.

    @param body: the request body, or C{None} for none.
    @param boundary: the body's boundary.
    """

    def __init__(self, body: Optional[IBodyProducer], boundary: bytes) -> None:
        self._raw = BodyStream(body, _HIGH_WATER)
        self._parser = FormDataParser(boundary)
        self._ended = False

    @property
    def finished(self) -> bool:
        """
        Whether the form's last part has been read.
        """
        return self._parser.finished

    def next_part(self) -> Optional[HeaderDict]:
        """
        See L{FormDataParser.next_part}.
        """
        while True:
            headers = self._parser.next_part()
            if headers is not None or self._parser.finished or not self._feed():
                return headers

    def read(self, size: int) -> Optional[bytes]:
        """
        See L{FormDataParser.read}.
        """
        while True:
            data = self._parser.read(size)
            if data != b"" or not self._feed():
                return data

    def _feed(self) -> bool:
        """
        Hand the parser the next chunk, or the body's end; C{False} when
        nothing has arrived yet.
        """
        chunk = self._raw.take()
        if chunk is not None:
            self._parser.feed(chunk)
            return True
        if self._raw.exhausted and not self._ended:
            self._ended = True
            self._parser.end()
            return True
        return False

    def wait(self) -> "Deferred[None]":
        """
        See L{BodyStream.wait}.
        """
        return self._raw.wait()

    def close(self) -> None:
        """
        Read no more: the rest of the request body is dropped.
        """
        self._raw.close()


class _FileBody:
    """
    The body of one file's upload: the file part's data, taken from the
    form as the upload can send it (a L{PulledBody}).

    @ivar too_large: whether the file went past C{max_size} bytes (the
        upload then failed, as Swift makes it fail: nothing is stored).
    """

    def __init__(self, form: _FormStream, max_size: int) -> None:
        self._form = form
        self._max_size = max_size
        self.received = 0
        self.too_large = False
        self.producer = PulledBody(self._pull, form.wait, UNKNOWN_LENGTH)

    def _pull(self) -> Optional[bytes]:
        data = self._form.read(READ_CHUNK_SIZE)
        if data:
            self.received += len(data)
            if self.received > self._max_size:
                self.too_large = True
                raise _FormInvalid("max_file_size exceeded")
        return data


async def _next_part(form: _FormStream) -> Optional[HeaderDict]:
    """
    The headers of the form's next part, or C{None} after its last.
    """
    while True:
        headers = form.next_part()
        if headers is not None or form.finished:
            return headers
        await form.wait()


async def _read_value(form: _FormStream) -> bytes:
    """
    The first L{MAX_VALUE_LENGTH} bytes of the current part's data; the
    rest is read and dropped.
    """
    value = bytearray()
    while True:
        room = MAX_VALUE_LENGTH - len(value)
        data = form.read(room if room > 0 else READ_CHUNK_SIZE)
        if data is None:
            return bytes(value)
        if not data:
            await form.wait()
        elif room > 0:
            value += data


def _preauthorized_put(environ: dict[str, Any]) -> dict[str, Any]:
    """
    The environ of a file's upload: the proxy's own request, as Swift's
    C{make_pre_authed_env} makes it.
    """
    sub = preauthorized("FP")(environ)
    sub["REMOTE_USER"] = ".wsgi.pre_authed"
    return sub


def _integer(attributes: dict[str, str], name: str, problem: str) -> Optional[int]:
    """
    The integer field C{name}, C{None} when absent.

    @raise _FormInvalid: with C{problem} when it is not an integer.
    """
    if name not in attributes:
        return None
    try:
        return int(attributes[name])
    except ValueError:
        raise _FormInvalid(problem) from None


@implementer(IProxyFilter)
class FormPost:
    """
    Turns form posts into object uploads.

    @param clock: the time, for C{expires}.
    @param info_cache: the proxy's account and container info.
    @param allowed_digests: the digests a signature may use.
    @param valid_api_versions: the versions of Swift paths.
    """

    def __init__(self, clock: IReactorTime, info_cache: InfoCache,
                 allowed_digests: Iterable[str] = SUPPORTED_DIGESTS,
                 valid_api_versions: Iterable[str] = ("v1", "v1.0")) -> None:
        self._clock = clock
        self._info_cache = info_cache
        self._digests = frozenset(allowed_digests)
        self._versions = frozenset(valid_api_versions)

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        if request.method == "POST":
            content_type, attributes = parse_content_disposition(
                request.headers.get("Content-Type") or "")
            if content_type == "multipart/form-data" and "boundary" in attributes:
                return Deferred.fromCoroutine(
                    self._handle(request, app, attributes["boundary"].encode("utf-8")))
        return app(request)  # type: ignore[no-any-return]

    async def _handle(self, request: SwiftRequest, app: IProxyApplication,
                      boundary: bytes) -> SwiftResponse:
        agent = request.headers.get("User-Agent", "")
        request.headers["User-Agent"] = f"{agent} FormPost".strip()
        form: Optional[_FormStream] = None
        try:
            keys = await self._keys(request, app)
            form = _FormStream(request.body, boundary)
            return await self._translate(request, app, form, keys)
        except MimeInvalid:
            return error_response(400, "FormPost: invalid starting boundary",
                                  content_type=_PLAIN)
        except (_FormInvalid, FormDataError) as error:
            return error_response(400, f"FormPost: {error}", content_type=_PLAIN)
        except ClientGone:
            return error_response(499)
        except _FormUnauthorized as error:
            return error_response(401, f"FormPost: {str(error).title()}", content_type=HTML,
                                  headers={"Www-Authenticate": 'Swift realm="unknown"'})
        finally:
            if form is not None:
                form.close()

    async def _keys(self, request: SwiftRequest, app: IProxyApplication) -> list[str]:
        """
        The temp URL keys of the account and the container the form posts
        to; none when its path names no container.
        """
        parts = request.path.split("/", 4)
        if len(parts) < 4 or parts[0] or parts[1] not in self._versions \
                or not parts[2] or not parts[3]:
            return []
        keys = await temp_url_keys(request, app, self._info_cache, parts[2], parts[3],
                                   preauthorized("FP"))
        return [key for key, _scope in keys]

    async def _translate(self, request: SwiftRequest, app: IProxyApplication,
                         form: _FormStream, keys: list[str]) -> SwiftResponse:
        """
        Upload the form's files, one after another, and answer as Swift.
        """
        attributes: dict[str, str] = {}
        status: Optional[tuple[int, str]] = None
        message = ""
        last_headers = HeaderDict()
        file_count = 0
        while True:
            headers = await _next_part(form)
            if headers is None:
                break
            disposition, part = parse_content_disposition(
                headers.get("Content-Disposition", ""))
            if disposition == "form-data" and part.get("filename"):
                file_count += 1
                try:
                    max_file_count = int(attributes.get("max_file_count") or 0)
                except ValueError:
                    raise _FormInvalid("max_file_count not an integer") from None
                if file_count > max_file_count:
                    status, message = (400, "Bad Request"), "max file count exceeded"
                    break
                file_attributes = dict(attributes, filename=part["filename"] or "filename")
                if "content-type" not in attributes and "Content-Type" in headers:
                    file_attributes["content-type"] = (
                        headers["Content-Type"] or "application/octet-stream")
                if "content-encoding" not in attributes and "Content-Encoding" in headers:
                    file_attributes["content-encoding"] = headers["Content-Encoding"]
                response = await self._upload(request, app, form, file_attributes, keys)
                status, last_headers = (response.status, response.reason), response.headers
                if not response.is_success:
                    break
            else:
                value = await _read_value(form)
                if "name" in part:
                    # Swift fails (500) on a value that is not UTF-8.
                    text = value.decode("utf-8", "replace")
                    attributes[part["name"].lower()] = text.rstrip("\r\n-")
        if status is None:
            status, message = (400, "Bad Request"), "no files to process"
        return self._answer(status, message, attributes.get("redirect"), last_headers)

    def _answer(self, status: tuple[int, str], message: str, redirect: Optional[str],
                last_headers: HeaderDict) -> SwiftResponse:
        code, reason = status
        headers = HeaderDict([(name, value) for name, value in last_headers.items()
                              if name.lower().startswith("access-control")])
        if not redirect:
            text = f"{code} {reason}"
            if message:
                text += "\r\nFormPost: " + message.title()
            headers["Content-Type"] = _PLAIN
            return SwiftResponse(code, headers, text.encode("utf-8"), reason)
        redirect += "&" if "?" in redirect else "?"
        redirect += f"status={quote(str(code))}&message={quote(message)}"
        page = f'<html><body><p><a href="{redirect}">Click to continue...</a></p></body></html>'
        headers["Location"] = str_to_wsgi(redirect)
        return SwiftResponse(303, headers, page.encode("utf-8"), "See Other")

    async def _upload(self, request: SwiftRequest, app: IProxyApplication,
                      form: _FormStream, attributes: dict[str, str], keys: list[str]
                      ) -> SwiftResponse:
        """
        Check the form's signature and upload the current file part.

        @return: the upload's response (its body dropped).
        @raise _FormUnauthorized: when no key signs the form, or it has
            expired.
        @raise _FormInvalid: for a field that is not an integer, or a file
            larger than C{max_file_size}.
        """
        if not keys:
            raise _FormUnauthorized("invalid signature")
        try:
            max_file_size = int(attributes.get("max_file_size") or 0)
        except ValueError:
            raise _FormInvalid("max_file_size not an integer") from None
        headers = HeaderDict([(name, request.headers[name]) for name in _KEPT_HEADERS
                              if name in request.headers])
        headers["Transfer-Encoding"] = "chunked"
        delete_at = _integer(attributes, "x_delete_at",
                             "x_delete_at not an integer: Unix timestamp required.")
        if delete_at is not None:
            headers["X-Delete-At"] = str(delete_at)
        delete_after = _integer(attributes, "x_delete_after",
                                "x_delete_after not an integer: Number of seconds required.")
        if delete_after is not None:
            headers["X-Delete-After"] = str(delete_after)
        if "content-type" in attributes:
            headers["Content-Type"] = str_to_wsgi(
                attributes["content-type"] or "application/octet-stream")
        if "content-encoding" in attributes:
            headers["Content-Encoding"] = str_to_wsgi(attributes["content-encoding"])
        try:
            expires = int(attributes.get("expires") or 0)
        except ValueError:
            raise _FormInvalid("expired not an integer") from None
        if expires < self._clock.seconds():
            raise _FormUnauthorized("form expired")
        self._check_signature(request.path, attributes, keys)

        path = request.path
        if not path.endswith("/") and path.count("/") < 4:
            path += "/"
        path += str_to_wsgi(attributes["filename"])
        body = _FileBody(form, max_file_size)
        put = SwiftRequest("PUT", wire_quote(path).encode("ascii"), headers, body.producer,
                           request.client_ip, _preauthorized_put(request.environ))
        response: SwiftResponse = await app(put)
        drop_body(response.body)
        if body.too_large:
            raise _FormInvalid("max_file_size exceeded")
        return response

    def _check_signature(self, path: str, attributes: dict[str, str], keys: list[str]
                         ) -> None:
        """
        @raise _FormUnauthorized: unless one of C{keys} signed the form.
        """
        fields = [attributes.get(name) or default for name, default in (
            ("redirect", ""), ("max_file_size", "0"), ("max_file_count", "0"),
            ("expires", "0"))]
        message = b"\n".join([wsgi_to_bytes(path)] +
                             [field.encode("utf-8") for field in fields])
        try:
            digest, signature = parse_signature(attributes.get("signature", ""))
        except ValueError:
            raise _FormUnauthorized("invalid signature") from None
        if digest not in self._digests:
            raise _FormUnauthorized("invalid signature")
        if not any(hmac.compare_digest(hmac_hex(key, message, digest), signature)
                   for key in keys):
            raise _FormUnauthorized("invalid signature")


@implementer(IPlugin, IProxyPluginFactory)
class _FormPostFactory:
    name = "formpost"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> FormPost:
        """
        @param conf: C{allowed_digests} (whitespace-separated; all of
            sha1, sha256 and sha512 by default).
        @param context: provides C{reactor}, C{info_cache}, C{constraints}
            and C{register_info}.
        """
        allowed, info = digests_option(conf, "formpost")
        context.register_info("formpost", **info)
        return FormPost(context.reactor, context.info_cache, allowed,
                        context.constraints.valid_api_versions)


formpostPlugin = _FormPostFactory()
