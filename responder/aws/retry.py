"""The one retry layer for AWS calls: per call, with tenacity, for throttling and transient faults only.

botocore's own retries are off (``total_max_attempts=1``), and the engine does not retry AWS errors a
second time: a call that is still throttled after the bound raises :class:`RetriesExhausted`, which
the engine records as a failed step (a later resume or redelivery may try again). Retrying the one
call, not the whole action, keeps a burst of findings cheap: an action's earlier reads are not redone.
Access denied, validation and not-found errors pass through at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..errors import RetriesExhausted, Transient
from .errors import translate

__all__ = ["CallRetryPolicy", "RetriesExhausted", "install"]


@dataclass(frozen=True)
class CallRetryPolicy:
    attempts: int = 5  # total sends
    backoff: float = 0.5  # base of the exponential backoff, seconds; full jitter
    max_backoff: float = 20.0
    sleep: Callable[[float], None] | None = None


def _retryable(exc: BaseException) -> bool:
    return isinstance(translate(exc), Transient)


def install(client: Any, policy: CallRetryPolicy) -> Any:
    """Wrap ``client._make_api_call`` (which operations and paginators both go through)."""
    original = client._make_api_call

    def make_api_call(operation_name: str, api_params: dict[str, Any]) -> Any:
        kwargs: dict[str, Any] = {
            "stop": stop_after_attempt(policy.attempts),
            "wait": wait_random_exponential(multiplier=policy.backoff, max=policy.max_backoff),
            "retry": retry_if_exception(_retryable),
            "reraise": True,
        }
        if policy.sleep is not None:
            kwargs["sleep"] = policy.sleep
        try:
            return Retrying(**kwargs)(original, operation_name, api_params)
        except Exception as exc:
            mapped = translate(exc)
            if isinstance(mapped, Transient):
                raise RetriesExhausted(f"{mapped.message} — gave up after {policy.attempts} attempts") from exc
            raise

    client._make_api_call = make_api_call
    client._responder_retry = policy
    return client
