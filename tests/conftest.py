"""Suite-wide test settings.

Hypothesis: the default profile has no per-example deadline and no "too
slow" health check.  Both measure wall-clock time, so on a busy machine they
fail (or report a flaky example) on how fast the code ran, not on what it
did.  A test's own ``@settings`` still wins for what it sets explicitly.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "icekit",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("icekit")
