# -*- test-case-name: tests.e2e.test_packaging -*-
"""
The twistd dropin: C{twistd -n twisted-proxy --config proxy-server.conf}.
"""

from twisted.application.service import ServiceMaker

twistedProxy = ServiceMaker(
    "twisted-proxy",
    "twisted_proxy.service.tap",
    "An OpenStack Swift proxy server on Twisted.",
    "twisted-proxy",
)
