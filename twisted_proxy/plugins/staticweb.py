# -*- test-case-name: tests.test_staticweb -*-
"""
The C{staticweb} plugin: containers served as static web sites, as Swift
2.38.3's C{staticweb} middleware serves them.

A container's metadata turns it on:

 - C{X-Container-Meta-Web-Index: index.html}: a request for the
   container or a pseudo-directory (C{.../dir/}) gets that object of it;
   without the trailing slash, a C{301} to the path with one.
 - C{X-Container-Meta-Web-Listings: true}: where there is no index, an
   HTML listing of the container or pseudo-directory (its
   C{X-Container-Meta-Web-Listings-CSS} style sheet linked, titled with
   C{X-Container-Meta-Web-Listings-Label} for the container's path when
   set); listings still need the client to be allowed to list (for
   anonymous clients, C{X-Container-Read: .r:*,.rlistings}). With listings
   off, a pseudo-directory without index is a C{404} saying so.
 - C{X-Container-Meta-Web-Error: error.html}: a C{401} or C{404} (and any
   error of the container's pages) is answered with the object
   C{<status>error.html} (C{401error.html}, C{404error.html}) when it
   exists, under the error's status.
 - C{X-Container-Meta-Web-Directory-Type} (C{application/directory}):
   objects of this type of at most one byte are directory markers, which
   count as missing.

Only C{GET} and C{HEAD} of containers and objects are served so, and only
for anonymous requests, requests a temp URL admitted (their listings link
with the URL's parameters), and authenticated ones that send
C{X-Web-Mode: true}; with C{X-Web-Mode: true} a container with neither
index nor listings is a C{404}. The plugin needs an auth plugin before it
in the pipeline (Swift's C{swift.authorize}): without one it logs a
warning and lets each request by. Its own requests (the index, listings,
error pages) go through the rest of the pipeline as the client's, with
C{StaticWeb} added to the client's C{User-Agent}, logged with
C{swift.source} C{SW}.

Option: C{url_base} (none): the scheme and/or host redirects name, when
the proxy cannot tell what clients use (C{https:}, C{//www.example.com},
C{https://www.example.com:8443}); otherwise the request's own.

The plugin adds C{staticweb} to C{/info}. As in Swift, put it right after
the auth plugin; Swift's required filters C{copy}, C{dlo} and
C{versioned_writes}, when the proxy adds them, come after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.staticweb import (
        CONTENT_GENERATOR,
        SOURCE,
        StaticWeb,
        web_setting,
    )

__all__ = ["StaticWeb", "staticwebPlugin", "CONTENT_GENERATOR", "SOURCE", "web_setting"]

_CODE = "twisted_proxy.plugins._lazy.staticweb"

staticwebPlugin: LazyPluginFactory[StaticWeb] = LazyPluginFactory(
    "staticweb", _CODE, "staticwebPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
