# -*- test-case-name: tests.test_small_plugins -*-
"""
The code of the C{name_check} plugin: see
L{twisted_proxy.plugins.name_check}, which declares it and imports this
module only when a pipeline runs it.
"""

from __future__ import annotations

import re
from typing import Optional

from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.config import ConfigError, int_option
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.swift.http import HTML, SwiftRequest, SwiftResponse, error_response

__all__ = ["NameCheck", "nameCheckPlugin", "FORBIDDEN_CHARS", "MAX_LENGTH",
           "FORBIDDEN_REGEXP"]

FORBIDDEN_CHARS = "'\"`<>"
MAX_LENGTH = 255
FORBIDDEN_REGEXP = r"/\./|/\.\./|/\.$|/\.\.$"


@implementer(IProxyFilter)
class NameCheck:
    """
    Checks every request's path before passing it on.
    """

    def __init__(self, forbidden_chars: str = FORBIDDEN_CHARS, maximum_length: int = MAX_LENGTH,
                 forbidden_regexp: str = FORBIDDEN_REGEXP) -> None:
        self.forbidden_chars = forbidden_chars
        self.maximum_length = maximum_length
        self.forbidden_regexp = forbidden_regexp
        self._pattern: Optional[re.Pattern[str]] = (
            re.compile(forbidden_regexp) if forbidden_regexp else None)

    def problem(self, path: str) -> Optional[str]:
        """
        Why C{path} (decoded) is refused, or C{None} when it is not.
        """
        if any(char in path for char in self.forbidden_chars):
            return ("Object/Container/Account name contains forbidden chars from "
                    f"{self.forbidden_chars}")
        if len(path) > self.maximum_length:
            return ("Object/Container/Account name longer than the allowed maximum "
                    f"{self.maximum_length}")
        if self._pattern is not None and self._pattern.search(path):
            return ("Object/Container/Account name contains a forbidden substring from "
                    f"regular expression {self.forbidden_regexp}")
        return None

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        problem = self.problem(request.path)
        if problem is None:
            return app(request)  # type: ignore[no-any-return]
        return succeed(error_response(400, problem, method=request.method, content_type=HTML))


@implementer(IPlugin, IProxyPluginFactory)
class _NameCheckFactory:
    name = "name_check"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> NameCheck:
        """
        @raise ConfigError: C{maximum_length} is not a non-negative
            integer, or C{forbidden_regexp} does not compile.
        """
        maximum_length = int_option(conf, "name_check", "maximum_length", MAX_LENGTH)
        regexp = conf.get("forbidden_regexp", FORBIDDEN_REGEXP)
        try:
            check = NameCheck(conf.get("forbidden_chars", FORBIDDEN_CHARS), maximum_length,
                              regexp)
        except re.error as error:
            raise ConfigError(f"[filter:name_check] forbidden_regexp: {error}: {regexp!r}")
        context.register_info("name_check", forbidden_chars=check.forbidden_chars,
                              maximum_length=check.maximum_length,
                              forbidden_regexp=check.forbidden_regexp)
        return check


nameCheckPlugin = _NameCheckFactory()
