# -*- test-case-name: tests.test_formpost,tests.e2e.test_formpost -*-
"""
The C{formpost} plugin: uploads from a browser's HTML form, as Swift
2.38.3's C{formpost} middleware.

A C{POST} whose C{Content-Type} is C{multipart/form-data} (with a
C{boundary}) to C{/v1/<account>/<container>[/<prefix>]} is a form post. Its
fields come first:

 - C{redirect}: where to send the browser afterwards (optional);
 - C{max_file_size}: the most bytes one file may have;
 - C{max_file_count}: the most files the form may carry;
 - C{expires}: the unix time until which the form may be used;
 - C{signature}: the HMAC (SHA-1, SHA-256 or SHA-512, as C{allowed_digests}
   allows), under one of the account's or container's temp URL keys, of
   C{<path>\n<redirect>\n<max_file_size>\n<max_file_count>\n<expires>},
   in hex or as C{<digest>:<base64>};
 - optionally C{x_delete_at} or C{x_delete_after}, and C{content-type} or
   C{content-encoding} for every file (a file part's own C{Content-Type}
   and C{Content-Encoding} count when these are not given).

Each file part (a part with a C{filename}) then becomes an object C{PUT} of
C{<path>[/]<filename>} sent through the rest of the pipeline as the
proxy's own, pre-authorized request (logged with C{swift.source} C{FP}),
its data streamed from the client into the upload as it arrives: nothing
is held but a few chunks. Fields after a file apply to the files after
them only.

The answer is the last upload's status line (C{201 Created}), or that of
the one that failed (as Swift's: it means to send the failed upload's body
but drops its first chunk, which is the whole of a proxy's error body);
with C{redirect}, a C{303} to
C{<redirect>?status=<code>&message=<message>}. C{400 FormPost: <why>} for
a body that does not start with its boundary, a field that is not an
integer, a file larger than C{max_file_size}; C{401 FormPost: Invalid
Signature} or C{Form Expired}. Too many files, or none, is told like an
upload's status: C{400} with C{Max File Count Exceeded} or C{No Files To
Process}.

The plugin adds C{formpost} (C{allowed_digests}, C{deprecated_digests}) to
C{/info}. Put it before the auth plugin in the pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.formpost import MAX_VALUE_LENGTH, READ_CHUNK_SIZE, FormPost

__all__ = ["FormPost", "formpostPlugin", "MAX_VALUE_LENGTH", "READ_CHUNK_SIZE"]

_CODE = "twisted_proxy.plugins._lazy.formpost"

formpostPlugin: LazyPluginFactory[FormPost] = LazyPluginFactory(
    "formpost", _CODE, "formpostPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
