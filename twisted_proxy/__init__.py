"""
twisted-proxy: an OpenStack Swift proxy server built on Twisted.

It speaks Swift's client API to clients and Swift's backend protocol to the
account, container and object servers named by the rings.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
