# -*- test-case-name: tests.test_account_quotas -*-
"""
The C{account_quotas} plugin: per-account limits on bytes and object
count, overall and per storage policy, as Swift 2.38.3's
C{account_quotas} middleware. Place it after the auth stage.

Only a reseller (C{reseller_request}, e.g. tempauth's C{.reseller_admin})
sets them, on an account C{PUT} or C{POST}:

 - C{X-Account-Quota-Bytes} (or the legacy C{X-Account-Meta-Quota-Bytes})
   and C{X-Account-Quota-Count};
 - C{X-Account-Quota-Bytes-Policy-NAME} and
   C{X-Account-Quota-Count-Policy-NAME} for the storage policy C{NAME};
 - C{X-Remove-...} of any of them, or an empty value, removes it.

They are kept as account system metadata; a value that is not a string of
digits is a C{400}, anyone else setting one a C{403}. Account C{GET} and
C{HEAD} show them back under the same names, to anyone who may read the
account.

An object C{PUT} (a copy's destination included: the C{copy} plugin makes
it a C{PUT} passing through here) that would take the account, or the
container's policy within it, past a limit is refused with C{413 Upload
exceeds quota.} (C{Upload exceeds policy quota.}); a request the auth
plugin would refuse anyway gets its refusal instead, so a quota tells a
stranger nothing. A reseller's uploads are never limited. Usage comes
from the account's info, as stale as C{recheck_account_existence} allows;
a chunked upload is refused only once the account is over its limit.

The plugin adds C{account_quotas} to C{/info}.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import (
    INFO_ENVIRON_KEY,
    AccountInfo,
    ContainerInfo,
    InfoCache,
    account_key,
)
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import (
    account_info_now,
    container_info_now,
    fetch_account_info,
    fetch_container_info,
    preauthorized,
)
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse, error_response
from twisted_proxy.swift.paths import split_path

__all__ = ["AccountQuotas", "accountQuotasPlugin"]

_KINDS = ("Quota-Bytes", "Quota-Count")


def _limit(value: Any) -> int:
    """
    A stored limit as Swift reads it: C{-1} (none) unless an integer.
    """
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class _Refused(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


@implementer(IProxyFilter)
class AccountQuotas:
    """
    Keeps resellers' account quotas and refuses uploads over them.

    @param policies: C{(index, name)} of every storage policy.
    """

    def __init__(self, info_cache: InfoCache, policies: list[tuple[int, str]]) -> None:
        self._info_cache = info_cache
        self._policies = policies

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        try:
            version, account, container, obj = split_path(request.path, 2, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        assert version is not None and account is not None
        if not container:
            return self._account(request, app, account)
        if not (request.method == "PUT" and obj):
            return app(request)  # type: ignore[no-any-return]
        if request.environ.get("reseller_request") is True:
            return app(request)  # type: ignore[no-any-return]
        try:
            length = request.content_length or 0
        except ValueError:
            # The application answers a bad Content-Length.
            return app(request)  # type: ignore[no-any-return]
        info = account_info_now(request, self._info_cache, account)
        container_info = None
        if info is not None and self._over_account(info, length) is None:
            container_info = container_info_now(request, self._info_cache, account,
                                                container)
            if container_info is not None and self._over_container_policy(
                    info, container_info, length) is None:
                # Most uploads: both are known and have room.
                return app(request)  # type: ignore[no-any-return]
        return Deferred.fromCoroutine(self._put(request, app, version, account, container,
                                                length, info, container_info))

    # Setting and showing quotas

    def _translate(self, request: SwiftRequest, kind: str) -> None:
        """
        Turn the client's C{kind} quota headers into system metadata.

        @raise _Refused: 400 for a value that is not digits, 403 for a
            client that is not a reseller.
        """
        headers = request.headers
        wanted: dict[Optional[int], Optional[str]] = {None: headers.get(f"X-Account-{kind}")}
        if headers.get(f"X-Remove-Account-{kind}"):
            wanted[None] = ""
        for index, name in self._policies:
            tail = f"Account-{kind}-Policy-{name}"
            if headers.get(f"X-Remove-{tail}"):
                wanted[index] = ""
                headers.pop(f"X-{tail}", None)
            else:
                wanted[index] = headers.pop(f"X-{tail}", None)
        if request.environ.get("reseller_request") is True:
            if any(value and not (value.isascii() and value.isdigit())
                   for value in wanted.values()):
                raise _Refused(400)
            for policy_index, value in wanted.items():
                if value is None:
                    continue
                if policy_index is None:
                    headers[f"X-Account-Sysmeta-{kind}"] = value
                else:
                    headers[f"X-Account-Sysmeta-{kind}-Policy-{policy_index}"] = value
        elif any(value is not None for value in wanted.values()):
            raise _Refused(403)

    def _account(self, request: SwiftRequest, app: IProxyApplication, account: str
                 ) -> "Deferred[SwiftResponse]":
        headers = request.headers
        if request.method in ("POST", "PUT"):
            for legacy in ("X-Account-Meta-Quota-Bytes", "X-Remove-Account-Meta-Quota-Bytes"):
                current = legacy.replace("-Meta-", "-")
                if legacy in headers and not headers.get(current):
                    headers[current] = headers[legacy]
            try:
                for kind in _KINDS:
                    self._translate(request, kind)
            except _Refused as refused:
                return succeed(error_response(refused.status, method=request.method))

        def show(response: SwiftResponse) -> SwiftResponse:
            # The controller keeps sysmeta from clients; what the account
            # server said is in the info it kept for this request.
            if request.method not in ("GET", "HEAD") or not response.is_success:
                return response
            info = request.environ.get(INFO_ENVIRON_KEY, {}).get(account_key(account)) or {}
            sysmeta: dict[str, str] = info.get("sysmeta") or {}
            for kind in _KINDS:
                value = sysmeta.get(kind.lower())
                if value:
                    response.headers[f"X-Account-{kind}"] = value
            for index, name in self._policies:
                for kind in _KINDS:
                    value = sysmeta.get(f"{kind.lower()}-policy-{index}")
                    if value:
                        response.headers[f"X-Account-{kind}-Policy-{name}"] = value
            return response

        answered: Deferred[SwiftResponse] = app(request)
        return answered.addCallback(show)

    # Uploads

    async def _put(self, request: SwiftRequest, app: IProxyApplication, version: str,
                   account: str, container: str, length: int,
                   info: Optional[AccountInfo] = None,
                   container_info: Optional[ContainerInfo] = None) -> SwiftResponse:
        """
        An upload of C{length} bytes, refused when it would exceed a quota;
        the account's C{info} and the C{container_info}, when they are
        known already, are not looked up again.
        """
        environ_of = preauthorized("AQ")
        if info is None:
            info = await fetch_account_info(request, app, self._info_cache, version, account,
                                            environ_of)
        refusal = self._over_account(info, length)
        if refusal is None:
            if container_info is None:
                container_info = await fetch_container_info(
                    request, app, self._info_cache, version, account, container, environ_of)
            refusal = self._over_container_policy(info, container_info, length)
        if refusal is not None:
            return await self._refuse(request, app, refusal)
        return await app(request)  # type: ignore[no-any-return]

    def _over_container_policy(self, info: AccountInfo, container_info: ContainerInfo,
                               length: int) -> Optional[str]:
        policy = container_info.get("storage_policy")
        if policy is None:
            return None
        return self._over_policy(info, policy, length)

    def _over_account(self, info: AccountInfo, length: int) -> Optional[str]:
        sysmeta = info.get("sysmeta") or {}
        meta = info.get("meta") or {}
        quota = _limit(sysmeta.get("quota-bytes", meta.get("quota-bytes", -1)))
        if 0 <= quota < (info.get("bytes") or 0) + length:
            return "Upload exceeds quota."
        quota = _limit(sysmeta.get("quota-count", -1))
        if 0 <= quota < (info.get("total_object_count") or 0) + 1:
            return "Upload exceeds quota."
        return None

    def _over_policy(self, info: AccountInfo, policy: str, length: int) -> Optional[str]:
        sysmeta = info.get("sysmeta") or {}
        names = {str(index): name.lower() for index, name in self._policies}
        stats = (info.get("storage_policies") or {}).get(names.get(policy, ""), {})
        quota = _limit(sysmeta.get(f"quota-bytes-policy-{policy}", -1))
        if 0 <= quota < int(stats.get("bytes", 0)) + length:
            return "Upload exceeds policy quota."
        quota = _limit(sysmeta.get(f"quota-count-policy-{policy}", -1))
        if 0 <= quota < int(stats.get("object_count", 0)) + 1:
            return "Upload exceeds policy quota."
        return None

    async def _refuse(self, request: SwiftRequest, app: IProxyApplication, body: str
                      ) -> SwiftResponse:
        """
        The 413 for an upload over quota. With an auth plugin, the request
        goes on with its authorization made to answer the 413 where it
        would have let the request by (container ACLs are judged later, by
        the controller): its own refusal stays what the client sees.
        """
        over = error_response(413, body, method=request.method)
        environ = request.environ
        authorize = environ.get("swift.authorize")
        if authorize is None:
            return over

        def refuse_authorized(req: SwiftRequest) -> Optional[SwiftResponse]:
            return authorize(req) or over  # type: ignore[no-any-return]

        environ["swift.authorize"] = refuse_authorized
        return await app(request)  # type: ignore[no-any-return]


@implementer(IPlugin, IProxyPluginFactory)
class _AccountQuotasFactory:
    name = "account_quotas"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> AccountQuotas:
        """
        @param conf: unused; Swift's middleware has no options.
        """
        context.register_info("account_quotas")
        policies = [(policy.index, policy.name) for policy in context.swift_conf.policies]
        return AccountQuotas(context.info_cache, policies)


accountQuotasPlugin = _AccountQuotasFactory()
