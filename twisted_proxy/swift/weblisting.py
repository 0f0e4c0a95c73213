# -*- test-case-name: tests.test_staticweb -*-
"""
The HTML pages of Swift's static web sites: a container's listing as a
web page, and the page that says listings are off, as Swift 2.38.3's
C{staticweb} middleware writes them (the same markup, so that style sheets
written for Swift's pages style these).

Names and labels are text here (the UTF-8 of a WSGI string decoded); the
pages are returned as UTF-8 bytes.
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import quote

__all__ = [
    "DEFAULT_DIRECTORY_TYPE",
    "human_readable",
    "stylesheet_href",
    "listing_label",
    "listing_page",
    "listings_disabled_page",
]

#: The content type of directory markers when a container names none.
DEFAULT_DIRECTORY_TYPE = "application/directory"

_SUFFIXES = "KMGTPEZY"

_LISTING_STYLE = (
    "  <style type=\"text/css\">\n"
    "   h1 {font-size: 1em; font-weight: bold;}\n"
    "   th {text-align: left; padding: 0px 1em 0px 1em;}\n"
    "   td {padding: 0px 1em 0px 1em;}\n"
    "   a {text-decoration: none;}\n"
    "  </style>\n"
)

_DISABLED_STYLE = (
    "  <style type=\"text/css\">\n"
    "   h1 {font-size: 1em; font-weight: bold;}\n"
    "   p {font-size: 2}\n"
    "  </style>\n"
)

_NO_CELL = "&nbsp;"


def human_readable(size: float) -> str:
    """
    A byte count as Swift shows it: below 1024 as is (C{"999"}), else
    divided by 1024, rounded, as many times as it takes, with a binary
    suffix (C{"1Ki"}, C{"3Mi"}, up to C{"Yi"}).
    """
    value = float(size)
    level = -1
    while value >= 1024 and level + 1 < len(_SUFFIXES):
        level += 1
        value = round(value / 1024)
    if level < 0:
        return "%d" % value
    return "%d%si" % (round(value), _SUFFIXES[level])


def _quote(text: str, safe: str = "/") -> str:
    return quote(text, safe=safe, errors="surrogateescape")


def stylesheet_href(css: str, prefix: str) -> str:
    """
    Where a listing of the pseudo-directory C{prefix} (C{""} for the
    container) links its style sheet C{css}: an absolute path or URL as
    given, anything else relative to the container.

    @param css: the container's C{X-Container-Meta-Web-Listings-CSS}, text.
    @param prefix: the listed prefix (ending in C{/}), text.
    """
    if css.startswith(("/", "http://", "https://")):
        return _quote(css, ":/")
    return "../" * prefix.count("/") + _quote(css)


def listing_label(path: str, label: str) -> str:
    """
    The name a listing page goes by: the request's path, or with the
    container's C{X-Container-Meta-Web-Listings-Label}, that label and
    the path below the container.

    @param path: the request's path (C{/v1/a/c/dir/}), text.
    @param label: the container's label, C{""} for none.
    """
    if not label:
        return path
    return "{0}/{1}".format(label, "/".join(path.split("/")[4:]))


def _head(style: str, css_href: Optional[str]) -> str:
    if css_href is not None:
        return ('  <link rel="stylesheet" type="text/css" '
                f'href="{css_href}" />\n')
    return style


def listings_disabled_page(label: str, css_href: Optional[str],
                           index: str) -> bytes:
    """
    The body of the 404 for a pseudo-directory with no index whose
    container has listings off.

    @param index: the container's index name, C{""} for none (when set,
        the page says it was not found).
    """
    page = ("<!DOCTYPE html>\n<html>\n<head>\n"
            f"<title>Listing of {escape(label)}</title>\n"
            + _head(_DISABLED_STYLE, css_href)
            + "</head>\n<body>"
            "  <h1>Web Listing Disabled</h1>"
            "   <p>The owner of this web site has disabled web listing."
            "   <p>If you are the owner of this web site, you can enable"
            "   web listing by setting X-Container-Meta-Web-Listings.</p>")
    if index:
        # As in Swift, the owner's own index name is shown as set.
        page += ("<h1>Index File Not Found</h1>"
                 " <p>The owner of this web site has set "
                 f" <b>X-Container-Meta-Web-Index: {index}</b>. "
                 " However, this file is not found.</p>")
    page += " </body>\n</html>\n"
    return page.encode("utf-8", "surrogateescape")


def _row(classes: str, href: str, name: str, size: str, date: str,
         row_id: str = "") -> str:
    opening = f'   <tr id="{row_id}" class="{classes}">\n' if row_id else \
        f'   <tr class="{classes}">\n'
    return (opening
            + f'    <td class="colname"><a href="{href}">{name}</a></td>\n'
            + f'    <td class="colsize">{size}</td>\n'
            + f'    <td class="coldate">{date}</td>\n'
            + "   </tr>\n")


def _link(name: str, link_query: str) -> str:
    # Dots are quoted too, so that no name reads as a relative step.
    return "./" + _quote(name).replace(".", "%2E") + link_query


def listing_page(label: str, css_href: Optional[str], items: Iterable[Mapping[str, Any]],
                 prefix: str, parent_link: bool, link_query: str = "") -> bytes:
    """
    The web page listing a container or a pseudo-directory: a table of its
    pseudo-directories, then its objects (name, size, last modified, and
    classes from the content type), each linked relative to the page.

    @param items: the entries of a JSON container listing made with
        C{delimiter=/} (and C{prefix}).
    @param prefix: the listed prefix, text: it is taken off each name.
    @param parent_link: whether to begin with a C{../} row.
    @param link_query: what every link ends with (a temp URL's
        parameters, C{?...} with C{&amp;} separators), or C{""}.
    """
    items = list(items)
    parts = [
        "<!DOCTYPE html>\n<html>\n <head>\n",
        f"  <title>Listing of {escape(label)}</title>\n",
        _head(_LISTING_STYLE, css_href),
        " </head>\n <body>\n",
        f'  <h1 id="title">Listing of {escape(label)}</h1>\n',
        '  <table id="listing">\n',
        '   <tr id="heading">\n',
        '    <th class="colname">Name</th>\n',
        '    <th class="colsize">Size</th>\n',
        '    <th class="coldate">Date</th>\n',
        "   </tr>\n",
    ]
    if parent_link:
        parts.append(_row("item", f"../{link_query}", "../", _NO_CELL, _NO_CELL,
                          row_id="parent"))
    for item in items:
        if "subdir" in item:
            subdir = str(item["subdir"])[len(prefix):]
            parts.append(_row("item subdir", _link(subdir, link_query), escape(subdir),
                              _NO_CELL, _NO_CELL))
    for item in items:
        if "name" in item:
            name = str(item["name"])[len(prefix):]
            content_type = str(item.get("content_type", ""))
            classes = " ".join("type-" + escape(part.lower())
                               for part in content_type.split("/"))
            modified = escape(str(item.get("last_modified", ""))).split(".")[0]
            parts.append(_row(f"item {classes}", _link(name, link_query), escape(name),
                              human_readable(item.get("bytes", 0)),
                              modified.replace("T", " ")))
    parts.append("  </table>\n </body>\n</html>\n")
    return "".join(parts).encode("utf-8", "surrogateescape")
