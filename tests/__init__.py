"""
twisted-proxy's tests, run with trial.

Hypothesis runs with a deterministic profile, so a run is repeatable.

The modules here are the unit tests: they start no process and use no real
socket (with C{TWISTED_PROXY_UNIT_ONLY=1}, as C{scripts/test --unit} sets,
L{tests.unitguard} makes either fail the test). The end-to-end tests are in
L{tests.e2e}.
"""

import os

from hypothesis import HealthCheck, settings

from tests import unitguard

settings.register_profile(
    "twisted-proxy",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("twisted-proxy")

if os.environ.get(unitguard.ENVIRONMENT_VARIABLE) == "1":
    unitguard.install()

__all__: list[str] = []
