"""The one retry policy for talking to servers (the broker, the artifact repository, Airflow's
API).

RETRY_CONFIG gives the attempts, the first delay, its growth per retry, its cap and a random
jitter; tenacity runs the loop. Callers say which errors are worth another attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import tenacity

if TYPE_CHECKING:
    from processing_core.config import RetryConfig


def _policy(config: RetryConfig, retry_if: Callable[[BaseException], bool]) -> dict[str, Any]:
    return {
        "stop": tenacity.stop_after_attempt(config.attempts),
        "wait": tenacity.wait_exponential(
            multiplier=config.delay_seconds,
            exp_base=config.backoff,
            max=config.max_delay_seconds,
        )
        + tenacity.wait_random(0, config.jitter_seconds),
        "retry": tenacity.retry_if_exception(retry_if),
        "reraise": True,
    }


def retrying(
    config: RetryConfig,
    *,
    retry_if: Callable[[BaseException], bool],
) -> tenacity.Retrying:
    """Iterate it (`for attempt in retrying(...): with attempt: ...`); the last error re-raises."""
    return tenacity.Retrying(**_policy(config, retry_if))


def async_retrying(
    config: RetryConfig,
    *,
    retry_if: Callable[[BaseException], bool],
) -> tenacity.AsyncRetrying:
    """`retrying` for coroutines: `async for attempt in async_retrying(...): with attempt:`."""
    return tenacity.AsyncRetrying(**_policy(config, retry_if))
