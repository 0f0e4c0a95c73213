"""
twisted-proxy's end-to-end tests: each of these modules starts processes
(twistd, Swift's storage servers and tools, redis-server, pip) or talks over
real sockets. They take minutes; C{scripts/test} runs them, C{scripts/test
--unit} does not.
"""

__all__: list[str] = []
