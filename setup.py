"""
Packaging for twisted-proxy: an OpenStack Swift proxy server on Twisted.
"""

from setuptools import find_packages, setup

setup(
    name="twisted-proxy",
    version="0.1.0",
    description="An OpenStack Swift proxy server built on Twisted",
    long_description=open("README.rst").read(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.10",
    # twisted/plugins is a namespace shared by every Twisted dropin: it has no
    # __init__.py, so it is named here rather than found.
    packages=find_packages(include=["twisted_proxy", "twisted_proxy.*",
                                    "twisted_proxy_aio", "twisted_proxy_aio.*"])
    + ["twisted.plugins"],
    package_data={"twisted_proxy": ["py.typed"]},
    install_requires=[
        "twisted[tls]>=23.10,<27",
        # cert_file / key_file: PEM certificate chains and keys.
        "cryptography>=39",
        "treq>=23.11",
        "txredisapi>=1.6.0",
        # Erasure-coded policies; its wheels bundle liberasurecode and ISA-L.
        "pyeclib>=1.6.0",
        "zope.interface>=6",
        # The metrics plugin's /metrics (Prometheus text format).
        "prometheus-client>=0.17",
    ],
    extras_require={
        # The all-in-one cluster runs Swift's own storage servers.
        "aio": ["swift==2.38.3"],
        "test": [
            "swift==2.38.3",
            "hypothesis>=6.100",
            "python-swiftclient>=4.4",
            "mypy>=1.10",
            "mypy-zope>=1.0.4",
            "pyflakes>=3.0",
            # tests/test_bench.py draws bench/compare's chart.
            "matplotlib>=3.5",
            # The S3 API's end-to-end tests.
            "boto3>=1.26",
        ],
        # bench/compare draws its chart with matplotlib.
        "bench": ["matplotlib>=3.5"],
    },
)
