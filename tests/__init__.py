"""
twisted-proxy's tests, run with trial.

Hypothesis runs with a deterministic profile, so a run is repeatable.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "twisted-proxy",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("twisted-proxy")

__all__: list[str] = []
