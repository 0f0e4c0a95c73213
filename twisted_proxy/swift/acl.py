# -*- test-case-name: tests.test_acl -*-
"""
Swift's access control lists, as its auth systems understand them.

Two formats live here:

 - I{Container ACLs} (C{X-Container-Read}, C{X-Container-Write}): a comma
   separated list of grantees. A grantee is a group name (for tempauth an
   account, an C{account:user} pair or an account id such as C{AUTH_test}),
   the C{.rlistings} directive, or a referrer designation
   C{.r:[-]<host>}: C{.r:*} lets any referrer in, C{.r:www.example.com} one
   host, C{.r:.example.com} a whole domain, and a leading C{-} turns the
   designation into a denial. Designations apply in the order written, the
   last match winning. L{clean_acl} validates and normalises one before it
   is stored; L{parse_acl} splits a stored one; L{referrer_allowed} applies
   its referrer part.

 - I{Account ACLs} (C{X-Account-Access-Control}, stored as the account
   sysmeta C{X-Account-Sysmeta-Core-Access-Control}): a JSON object mapping
   the access levels C{admin}, C{read-write} and C{read-only} to lists of
   grantees (Swift's "version 2" ACLs). L{check_account_acl} applies
   tempauth's rules to one a client sends, L{parse_account_acl} and
   L{format_account_acl} convert between text and dictionary, and
   L{account_acl_grants} reads a stored one for authorisation.

Values are C{str}; callers holding WSGI strings (headers as the proxy sees
them) get the same results Swift gives, since Swift applies these rules to
the same strings.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import unquote, urlparse

__all__ = [
    "ACCOUNT_ACL_ENVIRON_KEY",
    "ACCOUNT_ACL_LEVELS",
    "clean_acl",
    "format_acl",
    "parse_acl",
    "referrer_allowed",
    "parse_account_acl",
    "format_account_acl",
    "check_account_acl",
    "account_acl_grants",
]

# Every spelling of the referrer designator; all are stored as ".r".
_REFERRER_DESIGNATORS = frozenset([".r", ".ref", ".referer", ".referrer"])

#: The access levels of an account ACL, most powerful first.
ACCOUNT_ACL_LEVELS = ("admin", "read-write", "read-only")


def _clean_referrer(header_name: str, item: str, target: str) -> str:
    """
    Normalise the host part of one referrer designation.

    @param item: the whole designation as written, for error messages.
    @param target: what followed the colon, stripped.
    @return: the designation in stored form, C{.r:[-]host}.
    @raise ValueError: in a write ACL, or when no host remains.
    """
    if "write" in header_name:
        raise ValueError(f"Referrers not allowed in write ACL: {item!r}")
    denial = target.startswith("-")
    if denial:
        target = target[1:].strip()
    # "*.example.com" means the same as ".example.com"; a lone "*" is kept.
    if target.startswith("*") and target != "*":
        target = target[1:].strip()
    if target in ("", "."):
        raise ValueError(
            "No host/domain value after referrer designation in ACL: "
            f"{item!r}"
        )
    return ".r:" + ("-" if denial else "") + target


def clean_acl(name: str, value: str) -> str:
    """
    Validate a container ACL header and return it in the form Swift stores.

    Whitespace around items and around the designator colon goes, empty
    items go, the referrer designator spellings (C{.ref}, C{.referer},
    C{.referrer}) become C{.r}, and C{*.domain} becomes C{.domain}. Items
    without a designator (C{bob}, C{acct:user}, C{.rlistings}) are kept as
    written.

    @param name: the header name, e.g. C{X-Container-Read}; referrers are
        refused in any header whose name contains C{write}.
    @param value: the header value.
    @return: the cleaned value.
    @raise ValueError: for a bad ACL; the message is the one Swift sends
        back in its 400 response body.
    """
    header_name = name.lower()
    cleaned = []
    for piece in value.split(","):
        item = piece.strip()
        if not item:
            continue
        designator, colon, target = item.partition(":")
        designator = designator.strip()
        if not colon or not designator.startswith("."):
            # A group, or an account:user pair.
            cleaned.append(item)
        elif designator in _REFERRER_DESIGNATORS:
            cleaned.append(_clean_referrer(header_name, item, target.strip()))
        else:
            raise ValueError(
                f"Unknown designator {designator!r} in ACL: {item!r}"
            )
    return ",".join(cleaned)


def format_acl(
    groups: Iterable[str] = (), referrers: Iterable[str] = ()
) -> str:
    """
    Build a container ACL from its parts: the inverse of L{parse_acl}.

    @param groups: grantees, written as they are (no quoting).
    @param referrers: referrer designations without their C{.r:}.
    """
    return ",".join(list(groups) + [".r:" + referrer for referrer in referrers])


def parse_acl(value: Optional[str]) -> tuple[list[str], list[str]]:
    """
    Split a stored (cleaned) container ACL into its referrer designations
    and its groups.

    @param value: the ACL, or C{None} when the container has none.
    @return: C{(referrers, groups)}: the referrer designations without
        their C{.r:} prefix (a denial keeps its C{-}), and the other items
        percent-decoded, both in the order written. C{.rlistings} is one of
        the groups.
    """
    referrers: list[str] = []
    groups: list[str] = []
    if value:
        for item in value.split(","):
            if item.startswith(".r:"):
                referrers.append(item[3:])
            else:
                groups.append(unquote(item))
    return referrers, groups


def _host_matches(pattern: str, host: str) -> bool:
    return pattern == host or (pattern.startswith(".") and host.endswith(pattern))


def referrer_allowed(referrer: Optional[str], referrer_acl: Iterable[str]) -> bool:
    """
    Whether a request with this C{Referer} header is let in by these
    referrer designations.

    @param referrer: the C{Referer} header value, or C{None}. A referrer
        without a host name counts as the host C{unknown}.
    @param referrer_acl: designations as L{parse_acl} returns them.
    @return: C{True} when the last designation matching the referrer's host
        grants access; C{False} when none matches or it is a denial.
    """
    try:
        host = urlparse(referrer or "").hostname or "unknown"
    except ValueError:
        # A malformed URL (an unclosed IPv6 bracket, a bad port) names no
        # host that a designation could match.
        host = "unknown"
    allowed = False
    for designation in referrer_acl:
        if designation.startswith("-"):
            if _host_matches(designation[1:], host):
                allowed = False
        elif designation == "*" or _host_matches(designation, host):
            allowed = True
    return allowed


#: Where the proxy puts the account's stored ACL (the value of
#: C{X-Account-Sysmeta-Core-Access-Control}) before calling authorize.
ACCOUNT_ACL_ENVIRON_KEY = "tempauth.account_acl"


def parse_account_acl(data: Optional[str]) -> Optional[dict[str, Any]]:
    """
    Read a JSON (version 2) ACL.

    @param data: the header or sysmeta value, or C{None}.
    @return: the decoded object; C{{}} for an empty string; C{None} when
        C{data} is C{None}, is not JSON, or is JSON but not an object.
    """
    if data is None:
        return None
    if data == "":
        return {}
    try:
        decoded = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def format_account_acl(acl: Mapping[str, Any]) -> str:
    """
    Write a JSON (version 2) ACL as Swift does: keys sorted, no spaces, and
    every non-ASCII character escaped so that the header is pure ASCII.
    """
    return json.dumps(acl, ensure_ascii=True, separators=(",", ":"), sort_keys=True)


def check_account_acl(data: str) -> dict[str, Any]:
    """
    Apply tempauth's rules to an C{X-Account-Access-Control} value a client
    sends: a JSON object whose keys are among L{ACCOUNT_ACL_LEVELS} and
    whose values are lists of strings.

    @return: the decoded ACL.
    @raise ValueError: when it breaks a rule; the message is the one
        tempauth reports in its 400 response.
    """
    acl = parse_account_acl(data)
    if acl is None:
        raise ValueError(f"Syntax error in input ({data!r})")
    for key in acl:
        if key not in ACCOUNT_ACL_LEVELS:
            raise ValueError(f"Key {json.dumps(key)} not recognized")
    for level in ACCOUNT_ACL_LEVELS:
        if level not in acl:
            continue
        grantees = acl[level]
        if not isinstance(grantees, list):
            raise ValueError(f"Value for key {json.dumps(level)} must be a list")
        if not all(isinstance(grantee, str) for grantee in grantees):
            raise ValueError(
                f"Elements of {json.dumps(level)} list must be strings"
            )
    return acl


def account_acl_grants(data: Optional[str]) -> Optional[dict[str, list[str]]]:
    """
    Read a stored account ACL for authorisation.

    @param data: the account's C{X-Account-Sysmeta-Core-Access-Control}
        value, or C{None} when it has none.
    @return: C{None} when the ACL is missing, unreadable or grants nothing;
        otherwise a C{dict} with all three L{ACCOUNT_ACL_LEVELS} as keys,
        each mapped to its grantees (strings; anything else in a list is
        dropped).
    """
    acl = parse_account_acl(data)
    if acl is None:
        return None
    grants: dict[str, list[str]] = {}
    for level in ACCOUNT_ACL_LEVELS:
        grantees = acl.get(level)
        if isinstance(grantees, list):
            grants[level] = [g for g in grantees if isinstance(g, str)]
        else:
            # Stored ACLs were checked on the way in; anything else is not
            # a grant.
            grants[level] = []
    if not any(grants.values()):
        return None
    return grants
