# -*- test-case-name: tests.test_s3api_request -*-
"""
The C{s3api} plugin: Swift's S3 API in front of the auth plugin, as Swift
2.38.3's C{s3api} middleware (see L{twisted_proxy.plugins.s3api}).

A request with S3 credentials (an C{Authorization: AWS ...} or
C{AWS4-HMAC-SHA256 ...} header, or a presigned URL's query) is checked and
answered through Swift sub-requests on C{/v1/<access key>/...}, carrying
its L{twisted_proxy.interfaces.IS3Signature} in
C{environ['s3api.auth_details']}: the auth plugin behind (tempauth) checks
the signature with the user's key and puts the user's account in the
path. Every other request passes on untouched, but container listings in
JSON show a multipart upload's C{s3_etag}, as with Swift's s3api in the
pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.config import ConfigError
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyPluginFactory

if TYPE_CHECKING:
    from twisted_proxy.plugins.s3api.filter import S3Api

__all__ = ["S3ApiPluginFactory", "s3apiPlugin"]


@implementer(IPlugin, IProxyPluginFactory)
class S3ApiPluginFactory:
    """
    Makes L{S3Api} filters for C{[filter:s3api]}.

    The filter's module and its options' (and with them the S3 API's:
    signatures, XML, ...) are imported only when one is made: plugin
    discovery imports every plugin module in every proxy process.
    """

    name = "s3api"

    def make_filter(self, conf: Mapping[str, str], context: ProxyContext) -> S3Api:
        """
        Build the filter and register the C{s3api} section of C{/info}, as
        Swift does.

        @raise ConfigError: for a bad option.
        """
        from twisted_proxy.plugins.s3api.options import read_options

        try:
            options = read_options(conf)
        except ValueError as error:
            raise ConfigError(f"s3api: {error}") from error
        options.max_object_name_length = context.constraints.max_object_name_length
        context.register_info(
            "s3api",
            max_bucket_listing=options.max_bucket_listing,
            max_parts_listing=options.max_parts_listing,
            max_upload_part_num=options.max_upload_part_num,
            max_multi_delete_objects=options.max_multi_delete_objects,
            allow_multipart_uploads=options.allow_multipart_uploads,
            min_segment_size=options.min_segment_size,
            s3_acl=False,
        )
        from twisted_proxy.plugins.s3api.filter import S3Api

        names = {str(policy.index): policy.name for policy in context.swift_conf.policies}
        return S3Api(options, context.reactor, context.info_cache, names,
                     context.info_registry)


s3apiPlugin = S3ApiPluginFactory()
