"""
Packaging for twisted-proxy: an OpenStack Swift proxy server on Twisted.
"""

from setuptools import find_packages, setup


def _cpython_only(requirement: str) -> str:
    return requirement + '; platform_python_implementation != "PyPy"'


setup(
    name="twisted-proxy",
    version="0.1.0",
    description="An OpenStack Swift proxy server built on Twisted",
    long_description=open("README.rst").read(),
    long_description_content_type="text/x-rst",
    license="MIT",
    # 3.9 for PyPy, whose Debian build (pypy3 7.3.11) is a Python 3.9;
    # CI runs CPython 3.11.
    python_requires=">=3.9",
    # twisted/plugins is a namespace shared by every Twisted dropin: it has no
    # __init__.py, so it is named here rather than found.
    packages=find_packages(include=["twisted_proxy", "twisted_proxy.*",
                                    "twisted_proxy_aio", "twisted_proxy_aio.*"])
    + ["twisted.plugins"],
    package_data={"twisted_proxy": ["py.typed"]},
    install_requires=[
        "twisted[tls]>=23.10,<27",
        # cert_file / key_file: PEM certificate chains and keys. Under PyPy
        # 3.9, the last releases with a wheel (later ones would be built from
        # source with Rust and crates.io); one requirement per platform, as
        # pip builds the newest sdist's metadata before it sees a bound
        # given in a second requirement.
        'cryptography>=39; platform_python_implementation != "PyPy"'
        ' or python_version >= "3.10"',
        'cryptography>=39,<44; platform_python_implementation == "PyPy"'
        ' and python_version < "3.10"',
        "treq>=23.11",
        "txredisapi>=1.6.0",
        # Required, NotRequired and friends before they reached typing.
        "typing_extensions>=4.2",
        # Erasure-coded policies; its wheels bundle liberasurecode and ISA-L.
        # There is no PyPy wheel: under PyPy it is the ec extra, built from
        # source against Debian's liberasurecode-dev and pypy3-dev (README).
        'pyeclib>=1.6.0; platform_python_implementation != "PyPy"',
        "zope.interface>=6",
        # The metrics plugin's /metrics (Prometheus text format).
        "prometheus-client>=0.17",
    ],
    extras_require={
        # The all-in-one cluster runs Swift's own storage servers. They run
        # under CPython, also for a proxy under PyPy ([aio] swift_bin_dir,
        # or PATH), so PyPy installs none.
        "aio": [_cpython_only("swift==2.38.3")],
        # Erasure coding under PyPy (CPython has it anyway).
        "ec": ["pyeclib>=1.6.0"],
        # Under PyPy the unit tests run; mypy, the e2e tests (Swift's code)
        # and the chart stay with CPython.
        "test": [
            _cpython_only("swift==2.38.3"),
            "hypothesis>=6.100",
            "python-swiftclient>=4.4",
            _cpython_only("mypy>=1.10"),
            _cpython_only("mypy-zope>=1.0.4"),
            "pyflakes>=3.0",
            # tests/test_bench.py draws bench/compare's chart.
            _cpython_only("matplotlib>=3.5"),
            # The S3 API's end-to-end tests.
            "boto3>=1.26",
        ],
        # bench/compare draws its chart with matplotlib.
        "bench": ["matplotlib>=3.5"],
    },
)
