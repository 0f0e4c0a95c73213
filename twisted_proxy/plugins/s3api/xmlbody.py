# -*- test-case-name: tests.test_s3api_signing -*-
"""
S3's XML documents: building them (in S3's namespace, with the declaration
S3 sends) and reading the small documents clients send, whose S3 namespace
is dropped so that elements are found by their plain names. Documents with
a DTD are refused: no entity is ever expanded or fetched.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Iterable, Optional

__all__ = [
    "XMLElement",
    "XMLError",
    "XMLNS_S3",
    "XMLNS_XSI",
    "element",
    "sub",
    "to_xml",
    "parse_xml",
    "check_children",
]

XMLNS_S3 = "http://s3.amazonaws.com/doc/2006-03-01/"
XMLNS_XSI = "http://www.w3.org/2001/XMLSchema-instance"

XMLElement = ET.Element

#: Characters XML 1.0 cannot hold, even escaped.
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class XMLError(ValueError):
    """
    A client's document is not well-formed, or not the document expected.
    """


def element(tag: str, text: Optional[str] = None) -> XMLElement:
    """
    A new root element.
    """
    new = ET.Element(tag)
    if text is not None:
        new.text = text
    return new


def sub(parent: XMLElement, tag: str, text: Optional[str] = None) -> XMLElement:
    """
    A new child of C{parent}, last among its children, with C{text}.
    """
    new = ET.SubElement(parent, tag)
    if text is not None:
        new.text = text
    return new


def _check_text(root: XMLElement) -> None:
    for node in root.iter():
        if node.text and _INVALID.search(node.text):
            node.text = "(invalid string)"


def to_xml(root: XMLElement, namespace: bool = True, declaration: bool = True) -> bytes:
    """
    The UTF-8 document of C{root}: in S3's namespace unless C{namespace}
    is false, with the XML declaration unless C{declaration} is false.
    """
    if namespace:
        root.set("xmlns", XMLNS_S3)
    _check_text(root)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=False,
                       short_empty_elements=False)
    if declaration:
        return b"<?xml version='1.0' encoding='UTF-8'?>\n" + body
    return body


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def parse_xml(body: bytes, root_tag: Optional[str] = None) -> XMLElement:
    """
    The root of a client's document, with every element's namespace
    dropped (S3's or any default one).

    @param root_tag: the root element's name, if it must be that.
    @raise XMLError: not well-formed, holding a DTD, or another root.
    """
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise XMLError("DTDs are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise XMLError(str(error)) from None
    for node in root.iter():
        if isinstance(node.tag, str):
            node.tag = _local(node.tag)
    if root_tag is not None and root.tag != root_tag:
        raise XMLError(f"expected {root_tag}, got {root.tag}")
    return root


def check_children(parent: XMLElement, allowed: dict[str, tuple[int, Optional[int]]]) -> None:
    """
    Check C{parent}'s children against a schema: each name allowed with
    its least and most occurrences (C{None}: no limit), in any order.

    @raise XMLError: for an unknown child or a count out of bounds.
    """
    counts: dict[str, int] = {}
    for child in parent:
        if child.tag not in allowed:
            raise XMLError(f"unexpected {child.tag} in {parent.tag}")
        counts[child.tag] = counts.get(child.tag, 0) + 1
    for name, (least, most) in allowed.items():
        count = counts.get(name, 0)
        if count < least or (most is not None and count > most):
            raise XMLError(f"{name} occurs {count} times in {parent.tag}")


def texts(parent: XMLElement, tag: str) -> Iterable[str]:
    """
    The texts of C{parent}'s children named C{tag}.
    """
    return [child.text or "" for child in parent if child.tag == tag]
