"""The Simulator protocol and the result every simulator returns.

A simulator is any object with

    simulate(params: Mapping[str, Any], *, seed: int | None, timeout: float | None) -> SimResult
    validate(params: Mapping[str, Any]) -> None      # optional: raise ValueError naming a key

``simulate`` never raises for a failed simulation: it returns a ``SimResult`` whose
``status`` says what happened. Statuses: ``ok``; ``lost`` (a physical failure: the beam
was lost); ``failed`` (a technical failure); ``timeout``; ``invalid`` (bad parameters);
and, set by the runtime, ``cancelled`` and ``actor_died`` (retries exhausted).
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pandas as pd

STATUSES = ("ok", "lost", "failed", "timeout", "invalid", "cancelled", "actor_died")


@dataclass
class SimResult:
    """One simulation request's outcome.

    Attributes:
        params: the parameters asked for. status: see the module docstring.
        metrics: scalar results (e.g. SizeX [mm], transmission [0..1]).
        table: the per-element table when asked for, else None.
        elapsed: wall time of the simulation [s]. actor, slot: where it ran.
        seed: the random seed used. error, error_type: why it failed.
        request_id: the pool's id of the request. attempts: dispatches it took.
    """

    params: dict[str, Any]
    status: str = "ok"
    metrics: dict[str, float] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    elapsed: float = 0.0
    actor: str = ""
    slot: int = -1
    seed: int | None = None
    error: str | None = None
    error_type: str | None = None
    request_id: int | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_row(self) -> dict[str, Any]:
        """A flat record: parameters, metrics, then status columns (for DataFrames)."""
        row: dict[str, Any] = {}
        if self.request_id is not None:
            row["request_id"] = self.request_id
        row.update(self.params)
        row.update(self.metrics)
        row.update(
            status=self.status,
            error=self.error,
            elapsed=self.elapsed,
            actor=self.actor,
            slot=self.slot,
            seed=self.seed,
            attempts=self.attempts,
        )
        return row


@runtime_checkable
class Simulator(Protocol):
    """Anything that turns parameters into a :class:`SimResult`."""

    def simulate(
        self, params: Mapping[str, Any], *, seed: int | None = None, timeout: float | None = None
    ) -> SimResult: ...


def failure(params: Mapping[str, Any], exc: BaseException, seed: int | None = None) -> SimResult:
    """A SimResult for an exception raised by simulation code."""
    from ..external.errors import InvalidParameterError, SimulationTimeout
    from ..external.errors import RunError as TraceWinError

    if isinstance(exc, InvalidParameterError):
        status = "invalid"
    elif isinstance(exc, SimulationTimeout):
        status = "timeout"
    elif isinstance(exc, TraceWinError):
        status = "lost" if exc.physical else "failed"
    elif isinstance(exc, ValueError):
        status = "invalid"
    else:
        status = "failed"
    text = (
        str(exc)
        if status != "failed" or isinstance(exc, TraceWinError)
        else ("".join(traceback.format_exception_only(type(exc), exc)).strip())
    )
    return SimResult(dict(params), status, seed=seed, error=text, error_type=type(exc).__name__)


def scalar_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite-or-NaN numeric scalars of ``values`` as floats."""
    out = {}
    for k, v in values.items():
        if isinstance(v, bool):
            out[k] = float(v)
        elif isinstance(v, (int, float)) or (hasattr(v, "dtype") and getattr(v, "ndim", 1) == 0):
            f = float(v)
            out[k] = f if math.isfinite(f) else math.nan
    return out
