"""
The code of the plugins Swift's stock pipeline does not run, each declared
in its module of L{twisted_proxy.plugins} (a
L{twisted_proxy.plugins._support.lazy.LazyPluginFactory}) and imported from
here only when a pipeline runs it or one of its names is looked up.

Not a plugin itself: L{twisted.plugin.getPlugins} finds nothing here.
"""

__all__: list[str] = []
