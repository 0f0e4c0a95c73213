# -*- test-case-name: tests.test_s3api_bodies -*-
"""
The checksums of S3's C{x-amz-checksum-*} headers and trailers: CRC32,
CRC32C, CRC64NVME, SHA1 and SHA256, as hashers (C{update}, C{digest}).

CRC32 is zlib's. CRC32C and CRC64NVME use ISA-L when it can be loaded (the
copy bundled in pyeclib's wheel, or a system-wide one), as Swift does, and
otherwise a table-driven implementation in Python, correct but slow.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import struct
import zlib
from importlib.metadata import PackageNotFoundError, files
from typing import Any, Callable, Optional, Protocol

__all__ = ["Hasher", "CHECKSUM_HEADERS", "new_hasher", "CRCHasher"]


class Hasher(Protocol):
    """
    A hashlib-like hasher.
    """

    name: str
    digest_size: int

    def update(self, data: bytes) -> None: ...

    def digest(self) -> bytes: ...


def _find_isal() -> Optional[Any]:
    """
    ISA-L: the copy pyeclib's wheel bundles, else a system-wide one
    (C{find_library} runs C{ldconfig}, so it comes second).
    """
    path: Optional[str] = None
    try:
        found = [f for f in (files("pyeclib") or []) if f.name.startswith("libisal")]
    except PackageNotFoundError:
        found = []
    if len(found) == 1:
        path = str(found[0].locate())
    if path is None:
        path = ctypes.util.find_library("isal")
    if path is None:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


def _table(poly: int, width: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc & ((1 << width) - 1))
    return table


_CRC32C_TABLE = _table(0x82F63B78, 32)
_CRC64NVME_TABLE = _table(0x9A6C9329AC4BC9B5, 64)


def _python_crc(table: list[int], mask: int) -> Callable[[bytes, int], int]:
    def crc(data: bytes, value: int = 0) -> int:
        value ^= mask
        for byte in data:
            value = table[(value ^ byte) & 0xFF] ^ (value >> 8)
        return value ^ mask
    return crc


def _crc32c_function(isal: Optional[Any]) -> Callable[[bytes, int], int]:
    if isal is not None and hasattr(isal, "crc32_iscsi"):
        native = isal.crc32_iscsi
        native.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
        native.restype = ctypes.c_uint

        def crc32c(data: bytes, value: int = 0) -> int:
            result = native(data, len(data), value ^ 0xFFFFFFFF)
            return int((result & 0xFFFFFFFF) ^ 0xFFFFFFFF)
        return crc32c
    return _python_crc(_CRC32C_TABLE, 0xFFFFFFFF)


def _crc64nvme_function(isal: Optional[Any]) -> Callable[[bytes, int], int]:
    if isal is not None and hasattr(isal, "crc64_rocksoft_refl"):
        native = isal.crc64_rocksoft_refl
        native.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_uint64]
        native.restype = ctypes.c_uint64

        def crc64(data: bytes, value: int = 0) -> int:
            return int(native(value, data, len(data)))
        return crc64
    return _python_crc(_CRC64NVME_TABLE, 0xFFFFFFFFFFFFFFFF)


def _crc32(data: bytes, value: int = 0) -> int:
    return zlib.crc32(data, value)


class CRCHasher:
    """
    A CRC as a hasher: its digest is the big-endian CRC.
    """

    def __init__(self, name: str, function: Callable[[bytes, int], int], width: int) -> None:
        self.name = name
        self._function = function
        self.digest_size = width // 8
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._function(data, self._value)

    def digest(self) -> bytes:
        return struct.pack(">Q" if self.digest_size == 8 else ">I", self._value)


_NATIVE: dict[str, Callable[[bytes, int], int]] = {}


def _native(name: str) -> Callable[[bytes, int], int]:
    """
    The CRC function C{name} (C{crc32c}, C{crc64nvme}), ISA-L's when it
    can be loaded; looked for once, on first use.
    """
    if not _NATIVE:
        isal = _find_isal()
        _NATIVE["crc32c"] = _crc32c_function(isal)
        _NATIVE["crc64nvme"] = _crc64nvme_function(isal)
    return _NATIVE[name]


def _sha(name: str) -> Callable[[], Hasher]:
    return lambda: hashlib.new(name)  # type: ignore[return-value]


#: The checksum headers (lower case) and their hashers' factories.
CHECKSUM_HEADERS: dict[str, Callable[[], Hasher]] = {
    "x-amz-checksum-crc32": lambda: CRCHasher("crc32", _crc32, 32),
    "x-amz-checksum-crc32c": lambda: CRCHasher("crc32c", _native("crc32c"), 32),
    "x-amz-checksum-crc64nvme": lambda: CRCHasher("crc64nvme", _native("crc64nvme"), 64),
    "x-amz-checksum-sha1": _sha("sha1"),
    "x-amz-checksum-sha256": _sha("sha256"),
}


def new_hasher(header: str) -> Hasher:
    """
    A fresh hasher for the checksum header C{header} (lower case).

    @raise KeyError: for an unknown one.
    """
    return CHECKSUM_HEADERS[header]()
