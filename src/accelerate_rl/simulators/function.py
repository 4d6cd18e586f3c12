"""A plain Python function as a simulator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .base import SimResult, Status, failure, scalar_metrics


class FunctionSimulator:
    """Wraps ``fn(params) -> Mapping[str, float] | SimResult``; exceptions become failed
    results (a ValueError: ``invalid``)."""

    def __init__(self, fn: Callable[[dict[str, Any]], Any]) -> None:
        self.fn = fn

    def simulate(
        self, params: Mapping[str, Any], *, seed: int | None = None, timeout: float | None = None
    ) -> SimResult:
        try:
            out = self.fn(dict(params))
        except Exception as exc:
            return failure(params, exc, seed)
        if isinstance(out, SimResult):
            return out
        if not isinstance(out, Mapping):
            error = f"simulator returned {type(out).__name__}, expected a mapping"
            return SimResult.failed(params, Status.FAILED, error, error_type="TypeError", seed=seed)
        return SimResult(dict(params), Status.OK, scalar_metrics(out), seed=seed)
