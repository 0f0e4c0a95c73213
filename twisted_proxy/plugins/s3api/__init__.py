"""
Swift's S3 API (the C{s3api} middleware of Swift 2.38.3) as a plugin: S3
requests are checked (signatures, headers, bodies), translated into Swift
requests sent down the rest of the pipeline, and their answers translated
back into S3's XML. The filter is L{twisted_proxy.plugins.s3api.filter},
its factory L{twisted_proxy.plugins.s3api_plugin} (imported by plugin
discovery, it imports the rest only when the pipeline has C{s3api}); each
module here holds one idea.
"""

__all__: list[str] = []
