# -*- test-case-name: tests.test_s3api_request -*-
"""
The C{[filter:s3api]} options, with Swift 2.38.3's names and defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from twisted_proxy.swift.truthy import is_true

__all__ = ["S3Options", "read_options", "KNOWN_OPTIONS"]


@dataclass
class S3Options:
    """
    How the plugin behaves (see README.rst for each option).
    """

    location: str = "us-east-1"
    storage_domains: list[str] = field(default_factory=list)
    dns_compliant_bucket_names: bool = True
    max_bucket_listing: int = 1000
    max_parts_listing: int = 1000
    max_multi_delete_objects: int = 1000
    multi_delete_concurrency: int = 2
    max_upload_part_num: int = 1000
    min_segment_size: int = 5242880
    allowable_clock_skew: int = 900
    allow_multipart_uploads: bool = True
    allow_no_owner: bool = False
    check_bucket_owner: bool = False
    force_swift_request_proxy_log: bool = False
    ratelimit_as_client_error: bool = False
    auth_pipeline_check: bool = True
    cors_preflight_allow_origin: list[str] = field(default_factory=list)
    #: Known from swift.conf and the pipeline, not options.
    max_object_name_length: int = 1024
    object_versioning: bool = False


#: Every option the plugin reads (others in the section are warned about).
KNOWN_OPTIONS = frozenset({
    "use", "location", "storage_domain", "dns_compliant_bucket_names", "max_bucket_listing",
    "max_parts_listing", "max_multi_delete_objects", "multi_delete_concurrency",
    "max_upload_part_num", "min_segment_size", "allowable_clock_skew",
    "allow_multipart_uploads", "allow_no_owner", "check_bucket_owner",
    "force_swift_request_proxy_log", "ratelimit_as_client_error", "auth_pipeline_check",
    "cors_preflight_allow_origin", "s3_acl",
})


def _positive(conf: Mapping[str, str], name: str, default: int) -> int:
    text = conf.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer: {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer: {text!r}")
    return value


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def read_options(conf: Mapping[str, str]) -> S3Options:
    """
    The options of a C{[filter:s3api]} section (over C{[DEFAULT]}).

    @raise ValueError: for a bad value, for C{s3_acl = true} (S3 ACLs kept
        in sysmeta are not supported), and for a C{cors_preflight_allow_origin}
        that mixes C{*} with domains.
    """
    if is_true(conf.get("s3_acl", "false")):
        raise ValueError("s3_acl = true is not supported: S3 ACLs are translated into "
                         "Swift container ACLs only")
    origins = _csv(conf.get("cors_preflight_allow_origin", ""))
    if "*" in origins and len(origins) > 1:
        raise ValueError("if cors_preflight_allow_origin should include all domains, "
                         "* must be the only entry")
    return S3Options(
        location=conf.get("location", "us-east-1"),
        storage_domains=_csv(conf.get("storage_domain", "")),
        dns_compliant_bucket_names=is_true(conf.get("dns_compliant_bucket_names", "true")),
        max_bucket_listing=_positive(conf, "max_bucket_listing", 1000),
        max_parts_listing=_positive(conf, "max_parts_listing", 1000),
        max_multi_delete_objects=_positive(conf, "max_multi_delete_objects", 1000),
        multi_delete_concurrency=_positive(conf, "multi_delete_concurrency", 2),
        max_upload_part_num=_positive(conf, "max_upload_part_num", 1000),
        min_segment_size=_positive(conf, "min_segment_size", 5242880),
        allowable_clock_skew=_positive(conf, "allowable_clock_skew", 900),
        allow_multipart_uploads=is_true(conf.get("allow_multipart_uploads", "true")),
        allow_no_owner=is_true(conf.get("allow_no_owner", "false")),
        check_bucket_owner=is_true(conf.get("check_bucket_owner", "false")),
        force_swift_request_proxy_log=is_true(
            conf.get("force_swift_request_proxy_log", "false")),
        ratelimit_as_client_error=is_true(conf.get("ratelimit_as_client_error", "false")),
        auth_pipeline_check=is_true(conf.get("auth_pipeline_check", "true")),
        cors_preflight_allow_origin=origins,
    )
