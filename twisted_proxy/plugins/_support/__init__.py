"""
What several plugins share: sub-requests through the pipeline, streaming
large-object segments, and keep-alive bodies for long requests.

Not a plugin itself: L{twisted.plugin.getPlugins} finds nothing here.
"""

__all__: list[str] = []
