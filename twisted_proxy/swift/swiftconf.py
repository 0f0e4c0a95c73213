# -*- test-case-name: tests.test_swiftconf,tests.e2e.test_swiftconf -*-
"""
Reading Swift's cluster-wide C{swift.conf}.

Three things in it matter to a proxy:

  - C{[swift-hash]}: the secret prefix and suffix mixed into every path hash,
    which decide where an account, container or object lives in the rings;
  - the C{[storage-policy:N]} sections: the object storage policies, each
    with its own object ring (C{object.ring.gz} for index 0,
    C{object-N.ring.gz} otherwise);
  - C{[swift-constraints]}: limits on names and sizes, kept here as raw
    strings for the code that interprets them.

L{load_swift_conf} reads the file and applies Swift's rules for policies,
raising L{SwiftConfError} with one line naming the file, the section and the
option for the first thing wrong.
"""

from __future__ import annotations

import configparser
import string
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Optional, Union

from twisted_proxy.swift.truthy import is_true

__all__ = [
    "ERASURE_CODING",
    "LEGACY_POLICY_NAME",
    "REPLICATION",
    "StoragePolicy",
    "SwiftConf",
    "SwiftConfError",
    "load_swift_conf",
]

REPLICATION = "replication"
ERASURE_CODING = "erasure_coding"

LEGACY_POLICY_NAME = "Policy-0"
"""
The name of the policy with index 0 when C{swift.conf} defines no policies;
no other index may use it.
"""

_HASH_SECTION = "swift-hash"
_PREFIX_OPTION = "swift_hash_path_prefix"
_SUFFIX_OPTION = "swift_hash_path_suffix"
_CONSTRAINTS_SECTION = "swift-constraints"
_POLICY_SECTION_PREFIX = "storage-policy:"

# Policy names travel in HTTP headers, so Swift keeps them to this alphabet.
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-")

_COMMON_POLICY_OPTIONS = frozenset(
    {"name", "aliases", "policy_type", "default", "deprecated", "diskfile_module"}
)
_EC_POLICY_OPTIONS = frozenset(
    {
        "ec_type",
        "ec_num_data_fragments",
        "ec_num_parity_fragments",
        "ec_object_segment_size",
        "ec_duplication_factor",
    }
)
_EC_REQUIRED_INTEGERS = ("ec_num_data_fragments", "ec_num_parity_fragments")
_EC_OPTIONAL_INTEGERS = ("ec_object_segment_size", "ec_duplication_factor")
# Makes the error for an option of the policy section being read:
# fail(option, problem).
_Fail = Callable[[str, str], "SwiftConfError"]

_POLICY_OPTIONS = {
    REPLICATION: _COMMON_POLICY_OPTIONS,
    ERASURE_CODING: _COMMON_POLICY_OPTIONS | _EC_POLICY_OPTIONS,
}


class SwiftConfError(Exception):
    """
    C{swift.conf} cannot be used. The message is one line naming the file,
    and where it applies the section and the option.
    """


@dataclass(frozen=True)
class StoragePolicy:
    """
    One object storage policy.

    @ivar index: the policy index, as sent in
        C{X-Backend-Storage-Policy-Index}.
    @ivar name: the primary name.
    @ivar aliases: every name of the policy, the primary name first, in the
        order Swift lists them (C{", ".join(aliases)} is Swift's C{aliases}
        in C{/info}).
    @ivar is_default: new containers get this policy unless told otherwise.
    @ivar is_deprecated: no new containers may use this policy.
    @ivar policy_type: L{REPLICATION} or L{ERASURE_CODING}.
    @ivar ring_name: the object ring's name, C{object} or C{object-N}; the
        ring file is C{<swift_dir>/<ring_name>.ring.gz}.
    @ivar options: the section's other options (C{diskfile_module},
        C{ec_type}, C{ec_num_data_fragments}, ...), as strings.
    """

    index: int
    name: str
    aliases: tuple[str, ...]
    is_default: bool
    is_deprecated: bool
    policy_type: str
    ring_name: str
    options: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def supported(self) -> bool:
        """
        Whether this proxy can serve objects in this policy: replication
        and erasure coding policies both can.
        """
        return self.policy_type in (REPLICATION, ERASURE_CODING)


@dataclass(frozen=True)
class SwiftConf:
    """
    The parts of C{swift.conf} a proxy uses.

    @ivar hash_prefix: C{swift_hash_path_prefix} as bytes (may be empty, but
        not together with C{hash_suffix}).
    @ivar hash_suffix: C{swift_hash_path_suffix} as bytes.
    @ivar policies: the storage policies, in the order of their sections in
        the file; exactly one is the default.
    @ivar constraints: the C{[swift-constraints]} options, unparsed.
    """

    # The hash secrets are kept out of repr(), and so out of logs.
    hash_prefix: bytes = field(repr=False)
    hash_suffix: bytes = field(repr=False)
    policies: tuple[StoragePolicy, ...]
    constraints: dict[str, str] = field(default_factory=dict, hash=False)

    def default_policy(self) -> StoragePolicy:
        """
        The default storage policy (there is always exactly one).
        """
        for policy in self.policies:
            if policy.is_default:
                return policy
        raise AssertionError("a SwiftConf always has a default policy")

    def policy_by_index(self, index: Union[int, str, None]) -> Optional[StoragePolicy]:
        """
        The policy with index C{index}, or C{None} if there is none.

        As in Swift, C{None} and the empty string mean index 0, and a string
        is read as a decimal integer (a header value may be passed as is).
        """
        if index is None or index == "":
            index = 0
        elif isinstance(index, str):
            try:
                index = int(index)
            except ValueError:
                return None
        for policy in self.policies:
            if policy.index == index:
                return policy
        return None

    def policy_by_name(self, name: str) -> Optional[StoragePolicy]:
        """
        The policy called C{name} (its name or one of its aliases, compared
        case-insensitively), or C{None} if there is none.
        """
        wanted = name.upper()
        for policy in self.policies:
            if any(alias.upper() == wanted for alias in policy.aliases):
                return policy
        return None


def load_swift_conf(path: str) -> SwiftConf:
    """
    Read and validate the C{swift.conf} at C{path}.

    Values are read as Swift reads them: option names are case-insensitive,
    C{%(name)s} interpolation applies, the hash prefix and suffix are the
    file's raw bytes.

    @raise SwiftConfError: if the file cannot be read or parsed, if neither
        a hash prefix nor a hash suffix is set, or if the storage policies
        break one of Swift's rules (see L{_check_policies}).
    """
    parser = _read(path)
    prefix, suffix = _hash_path_affixes(parser, path)
    return SwiftConf(
        hash_prefix=prefix,
        hash_suffix=suffix,
        policies=_policies(parser, path),
        constraints=_constraints(parser, path),
    )


def _read(path: str) -> configparser.ConfigParser:
    """
    Parse the file at C{path}.

    It is decoded as latin-1, as Swift does, so that any bytes at all may be
    used in the hash prefix and suffix; L{_text} recovers UTF-8 text.
    """
    # Swift lets sections and options repeat, the later winning.
    parser = configparser.ConfigParser(strict=False)
    try:
        with open(path, encoding="latin-1") as conf_file:
            parser.read_file(conf_file)
    except OSError as e:
        raise SwiftConfError(f"{path}: cannot read: {e.strerror or e}") from e
    except configparser.Error as e:
        raise SwiftConfError(f"{path}: {_one_line(e)}") from e
    return parser


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _text(value: str) -> str:
    """
    Turn a latin-1 decoded value back into the text it was written as, if
    it was UTF-8.
    """
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return value


def _get(
    parser: configparser.ConfigParser, path: str, section: str, option: str
) -> Optional[str]:
    """
    An option's interpolated value, or C{None} if it is not set.

    @raise SwiftConfError: if interpolation fails.
    """
    try:
        return parser.get(section, option, fallback=None)
    except configparser.Error as e:
        raise SwiftConfError(f"{path}: [{section}] {option}: {_one_line(e)}") from e


def _hash_path_affixes(
    parser: configparser.ConfigParser, path: str
) -> tuple[bytes, bytes]:
    """
    The hash path prefix and suffix, as bytes.

    @raise SwiftConfError: if both are missing or empty.
    """
    prefix = _get(parser, path, _HASH_SECTION, _PREFIX_OPTION) or ""
    suffix = _get(parser, path, _HASH_SECTION, _SUFFIX_OPTION) or ""
    if not prefix and not suffix:
        raise SwiftConfError(
            f"{path}: [{_HASH_SECTION}] {_PREFIX_OPTION}, {_SUFFIX_OPTION}: "
            f"neither is set; at least one must be a non-empty secret"
        )
    return prefix.encode("latin-1"), suffix.encode("latin-1")


def _constraints(parser: configparser.ConfigParser, path: str) -> dict[str, str]:
    """
    The C{[swift-constraints]} options as strings (empty if no section).
    """
    if not parser.has_section(_CONSTRAINTS_SECTION):
        return {}
    constraints = {}
    for option in parser.options(_CONSTRAINTS_SECTION):
        value = _get(parser, path, _CONSTRAINTS_SECTION, option)
        constraints[option] = _text(value or "")
    return constraints


def _policies(
    parser: configparser.ConfigParser, path: str
) -> tuple[StoragePolicy, ...]:
    """
    The storage policies, checked against Swift's rules; a lone implicit
    L{LEGACY_POLICY_NAME} if the file defines none.
    """
    sections = [
        section
        for section in parser.sections()
        if section.startswith(_POLICY_SECTION_PREFIX)
    ]
    if not sections:
        return (_legacy_policy(),)
    return _check_policies(
        [(section, _policy(parser, path, section)) for section in sections], path
    )


def _legacy_policy() -> StoragePolicy:
    return StoragePolicy(
        index=0,
        name=LEGACY_POLICY_NAME,
        aliases=(LEGACY_POLICY_NAME,),
        is_default=True,
        is_deprecated=False,
        policy_type=REPLICATION,
        ring_name="object",
    )


def _policy(
    parser: configparser.ConfigParser, path: str, section: str
) -> StoragePolicy:
    """
    Read one C{[storage-policy:N]} section.

    @raise SwiftConfError: for a bad index, type, option or name.
    """

    def fail(option: str, problem: str) -> SwiftConfError:
        where = f"[{section}] {option}: " if option else f"[{section}]: "
        return SwiftConfError(f"{path}: {where}{problem}")

    index_text = section[len(_POLICY_SECTION_PREFIX) :]
    try:
        index = int(index_text)
    except ValueError:
        index = -1
    if index < 0:
        raise fail("", f"policy index {index_text!r} is not a non-negative integer")

    values = {
        option: _text(_get(parser, path, section, option) or "")
        for option in parser.options(section)
    }
    policy_type = values.pop("policy_type", REPLICATION).strip()
    if policy_type not in _POLICY_OPTIONS:
        raise fail(
            "policy_type",
            f"unknown policy type {policy_type!r}; "
            f"expected {REPLICATION!r} or {ERASURE_CODING!r}",
        )
    for option in values:
        if option not in _POLICY_OPTIONS[policy_type]:
            raise fail(option, f"not an option of a {policy_type} policy")
    if policy_type == ERASURE_CODING:
        _check_ec_options(values, fail)

    name = values.pop("name", "")
    names = _policy_names(index, name, values.pop("aliases", ""), fail)
    # The file is read as latin-1 so configparser strips only ASCII-range
    # space around a value; Swift reads UTF-8 and strips any Unicode space.
    is_default = is_true(values.pop("default", "").strip())
    is_deprecated = is_true(values.pop("deprecated", "").strip())
    if is_default and is_deprecated:
        raise fail("default", "a deprecated policy cannot be the default")
    return StoragePolicy(
        index=index,
        name=names[0],
        aliases=names,
        is_default=is_default,
        is_deprecated=is_deprecated,
        policy_type=policy_type,
        ring_name="object" if index == 0 else f"object-{index}",
        options=values,
    )


def _policy_names(
    index: int, name: str, aliases: str, fail: _Fail
) -> tuple[str, ...]:
    """
    A policy's names, primary first, as Swift accepts them.

    @raise SwiftConfError: for a missing name, a bad character, the legacy
        name on a policy other than 0, or a name given twice.
    """
    if not name:
        raise fail("name", "a storage policy needs a name")
    names = [name]
    _check_name(index, name, [], "name", fail)
    for alias in (a.strip() for a in aliases.split(",")):
        # An alias spelled exactly like the name is tolerated, as in Swift.
        if not alias or alias == name:
            continue
        _check_name(index, alias, names, "aliases", fail)
        names.append(alias)
    return tuple(names)


def _check_name(
    index: int, name: str, taken: list[str], option: str, fail: _Fail
) -> None:
    if not set(name) <= _NAME_CHARACTERS:
        raise fail(
            option, f"{name!r} may only contain ASCII letters, digits and '-'"
        )
    if name.upper() == LEGACY_POLICY_NAME.upper() and index != 0:
        raise fail(option, f"{name!r} is reserved for policy index 0")
    if name.upper() in (other.upper() for other in taken):
        raise fail(option, f"{name!r} is given twice")


def _check_ec_options(values: dict[str, str], fail: _Fail) -> None:
    """
    Check what can be checked of an erasure coding policy without an
    erasure coding library: the type is given and the counts are positive.
    """
    if not values.get("ec_type", "").strip():
        raise fail("ec_type", "an erasure_coding policy needs an ec_type")
    for option in _EC_REQUIRED_INTEGERS + _EC_OPTIONAL_INTEGERS:
        if option not in values and option in _EC_OPTIONAL_INTEGERS:
            continue
        value = values.get(option, "")
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number <= 0:
            raise fail(option, f"{value!r} is not a positive integer")


def _check_policies(
    sections: list[tuple[str, StoragePolicy]], path: str
) -> tuple[StoragePolicy, ...]:
    """
    Apply Swift's rules across the policies: indexes and names (with
    aliases, ignoring case) are unique; policy 0 exists; at least one policy
    is not deprecated; exactly one is the default, except that a lone policy
    is the default without saying so.

    @param sections: each policy and the name of its section.
    @return: the policies, the lone one marked default if need be.
    @raise SwiftConfError: naming the section that breaks a rule.
    """
    policies = [policy for _, policy in sections]
    by_index: dict[int, StoragePolicy] = {}
    by_name: dict[str, StoragePolicy] = {}
    default: Optional[StoragePolicy] = None
    for section_name, policy in sections:
        section = f"[{section_name}]"
        if policy.index in by_index:
            raise SwiftConfError(
                f"{path}: {section}: policy index {policy.index} is defined twice"
            )
        by_index[policy.index] = policy
        for alias in policy.aliases:
            other = by_name.get(alias.upper())
            if other is not None:
                raise SwiftConfError(
                    f"{path}: {section} name: {alias!r} is already a name of "
                    f"policy {other.index}"
                )
            by_name[alias.upper()] = policy
        if policy.is_default:
            if default is not None:
                raise SwiftConfError(
                    f"{path}: {section} default: policy {default.index} is "
                    f"already the default"
                )
            default = policy

    if 0 not in by_index:
        raise SwiftConfError(
            f"{path}: [{_POLICY_SECTION_PREFIX}0]: policy index 0 must be "
            f"defined when any storage policy is"
        )
    if all(policy.is_deprecated for policy in policies):
        raise SwiftConfError(
            f"{path}: [{_POLICY_SECTION_PREFIX}*] deprecated: every storage "
            f"policy is deprecated; at least one must not be"
        )
    if default is None:
        if len(policies) > 1:
            raise SwiftConfError(
                f"{path}: [{_POLICY_SECTION_PREFIX}*] default: no storage "
                f"policy is the default; exactly one must be"
            )
        policies = [_as_default(policies[0])]
    return tuple(policies)


def _as_default(policy: StoragePolicy) -> StoragePolicy:
    return replace(policy, is_default=True)

