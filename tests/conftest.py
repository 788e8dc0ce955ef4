"""Suite-wide test settings.

Hypothesis: the default profile has no per-example deadline and no "too
slow" health check.  Both measure wall-clock time, so on a busy machine they
fail (or report a flaky example) on how fast the code ran, not on what it
did.  A test's own ``@settings`` still wins for what it sets explicitly.

Internal errors: the ICE core's catch-all in ``IceAgent.handle_stun`` logs
a bug and drops the datagram, so nothing else would notice it.  Every test
fails when the core logs one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "icekit",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("icekit")

#: The logger of the core's catch-all and the start of its message.
CORE_LOGGER = "icekit.ice.agent"
INTERNAL_ERROR = "internal error"


class _InternalErrors(logging.Handler):
    """Keeps the core's internal-error records."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(INTERNAL_ERROR):
            self.records.append(record)


@pytest.fixture(autouse=True)
def _fail_on_core_internal_error() -> Iterator[None]:
    handler = _InternalErrors()
    logger = logging.getLogger(CORE_LOGGER)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.records:
        first = handler.records[0]
        trace = logging.Formatter().formatException(first.exc_info) if first.exc_info else ""
        pytest.fail(f"the ICE core logged {len(handler.records)} internal error(s): "
                    f"{first.getMessage()}\n{trace}")
