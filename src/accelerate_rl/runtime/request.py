"""The one request type, from ``submit`` to the slot's ``simulate``.

A :class:`Request` is built and validated once, on the driver, and travels unchanged
(frozen) to the actor and over the slot's pipe; a retry is a copy with ``attempts`` + 1.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..simulators.base import SimResult, Status, short

#: The pools' default per-request timeout [s] (``timeout=None`` disables it explicitly).
DEFAULT_TIMEOUT = 600.0


#: Simulations faster than this [s] are batched deeply: the pool sends an actor more
#: requests per call (``Dispatcher._capacity``), the actor gives its slots groups of them.
FAST_SIMULATION = 0.005

#: Characters of an exception message a failed result keeps (its end: the cause).
ERROR_TAIL_CHARS = 2000


@dataclass(frozen=True)
class Request:
    """One simulation request.

    Attributes:
        params: one parameter set, or a tuple of them when ``batch`` (``submit_batch``:
            run on one slot in one exchange).
        seed: the random seed (None: the simulator's default). Not used by batches.
        timeout: wall-time limit [s] for the request (a batch: for all its sets), or None.
        request_id: the pool's id. attempts: dispatches so far (0 while queued).
    """

    params: Any
    seed: int | None = None
    timeout: float | None = None
    request_id: int = -1
    attempts: int = 0
    batch: bool = False

    @classmethod
    def one(cls, params: Mapping[str, Any], seed: Any, timeout: Any, request_id: int) -> Request:
        """A single request; ``seed`` and ``timeout`` checked here (ValueError naming them)."""
        return cls(dict(params), _seed(seed), _timeout(timeout), request_id)

    @classmethod
    def many(cls, sets: Sequence[Mapping[str, Any]], timeout: Any, request_id: int) -> Request:
        """A batch request of several parameter sets."""
        return cls(tuple(dict(p) for p in sets), None, _timeout(timeout), request_id, batch=True)

    @staticmethod
    def rejected(params: Any, exc: Exception, request_id: int) -> SimResult:
        """The ``invalid`` result of a request ``submit`` refused with ``exc``."""
        mapping = dict(params) if isinstance(params, Mapping) else {"params": params}
        result = SimResult.failed(mapping, Status.INVALID, str(exc), error_type=type(exc).__name__)
        result.request_id = request_id
        return result

    @property
    def sets(self) -> list[dict[str, Any]]:
        """The parameter sets (one for a single request)."""
        return list(self.params) if self.batch else [self.params]

    def dispatched(self) -> Request:
        """This request as sent once more (``attempts`` + 1)."""
        return dataclasses.replace(self, attempts=self.attempts + 1)

    def stamp(self, result: SimResult) -> SimResult:
        """Mark ``result`` as this request's."""
        result.request_id = self.request_id
        result.attempts = max(result.attempts, self.attempts)
        return result

    def failed(
        self, status: Status | str, error: str, error_type: str | None = None
    ) -> SimResult | list[SimResult]:
        """This request's result for a failure: one SimResult, or a list for a batch."""
        results = [
            self.stamp(SimResult.failed(p, status, error, error_type=error_type, seed=self.seed))
            for p in self.sets
        ]
        return results if self.batch else results[0]


def _seed(seed: Any) -> int | None:
    if seed is None:
        return None
    try:
        if isinstance(seed, bool):
            raise TypeError
        return operator.index(seed)
    except TypeError:
        raise ValueError(f"seed must be an integer or None, got {short(seed)}") from None


def _timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ValueError(
            f"timeout must be a number of seconds or None, got {short(timeout)}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"timeout must be > 0 s and finite (None: no limit), got {short(timeout)}")
    return value
