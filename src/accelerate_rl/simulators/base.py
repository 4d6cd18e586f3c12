"""The Simulator protocol and the result every simulator returns.

A simulator is any object with

    simulate(params: Mapping[str, Any], *, seed: int | None, timeout: float | None) -> SimResult
    validate(params: Mapping[str, Any]) -> None      # optional: raise ValueError naming a key

``simulate`` never raises for a failed simulation: it returns a ``SimResult`` whose
``status`` (a :class:`Status`) says what happened. :func:`checked` is how the runtime
judges a returned result: anything that is not a well-formed ``SimResult`` becomes a
``failed`` one naming the bad field, so garbage never passes as ``ok``.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from ..external.errors import brief

#: Longest value echoed into an error message [characters].
ERROR_VALUE_CHARS = 200


class Status(StrEnum):
    """A request's outcome. ``ok``; ``lost`` (a physical failure: the beam was lost);
    ``failed`` (a technical failure); ``timeout``; ``invalid`` (bad parameters); and, set
    by the runtime, ``cancelled`` and ``actor_died`` (retries exhausted)."""

    OK = "ok"
    LOST = "lost"
    FAILED = "failed"
    TIMEOUT = "timeout"
    INVALID = "invalid"
    CANCELLED = "cancelled"
    ACTOR_DIED = "actor_died"


STATUSES = tuple(s.value for s in Status)


def short(value: Any, limit: int = ERROR_VALUE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters (a 2 MB string is not echoed whole)."""
    return brief(value, limit)


@dataclass
class SimResult:
    """One simulation request's outcome.

    Attributes:
        params: the parameters asked for. status: a :class:`Status` (plain strings equal
            to a status compare equal to it).
        metrics: scalar results (e.g. SizeX [mm], transmission [0..1]).
        table: the per-element table when asked for, else None.
        elapsed: wall time of the simulation [s]. actor, slot: where it ran.
        seed: the random seed used. error, error_type: why it failed.
        request_id: the pool's id of the request. attempts: dispatches it took.
    """

    params: dict[str, Any]
    status: Status | str = Status.OK
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

    @classmethod
    def failed(
        cls,
        params: Mapping[str, Any],
        status: Status | str,
        error: str,
        *,
        error_type: str | None = None,
        seed: int | None = None,
        elapsed: float = 0.0,
    ) -> SimResult:
        """A result for a request that did not succeed (``status`` is not ``ok``)."""
        return cls(
            dict(params),
            Status(status),
            seed=seed,
            elapsed=elapsed,
            error=error,
            error_type=error_type,
        )

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def to_row(self) -> dict[str, Any]:
        """A flat record: parameters, metrics, then status columns (for DataFrames)."""
        row: dict[str, Any] = {}
        if self.request_id is not None:
            row["request_id"] = self.request_id
        row.update(self.params)
        row.update(self.metrics)
        row.update(
            status=str(self.status),
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
    """A SimResult for an exception raised by simulation code.

    The status is the exception's own ``status`` attribute when it names a
    :class:`Status` (the TraceWin and subprocess errors carry one), else ``invalid`` for
    a ``ValueError`` and ``failed`` for anything else (reported with its type).
    """
    own = getattr(exc, "status", None)
    if isinstance(own, str) and own in STATUSES:
        status, text = Status(own), str(exc)
    elif isinstance(exc, ValueError):
        status, text = Status.INVALID, str(exc)
    else:
        status = Status.FAILED
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return SimResult.failed(params, status, text, error_type=type(exc).__name__, seed=seed)


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


def checked(result: Any, params: Mapping[str, Any], seed: int | None = None) -> SimResult:
    """``result`` if it is a well-formed SimResult, else a ``failed`` one saying which
    field is wrong: not a SimResult, an unknown status, a non-numeric or negative
    ``elapsed``, metrics that are not a mapping of names to numbers, or (for an ``ok``
    result) a non-finite metric. Metric values are returned as floats."""

    def bad(error: str, error_type: str = "InvalidResult") -> SimResult:
        return SimResult.failed(params, Status.FAILED, error, error_type=error_type, seed=seed)

    if not isinstance(result, SimResult):
        return bad(
            f"simulator returned {type(result).__name__}, not a SimResult", error_type="TypeError"
        )
    if not isinstance(result.status, str) or result.status not in STATUSES:
        return bad(
            f"simulator returned the unknown status {short(result.status)}; valid: {STATUSES}"
        )
    result.status = Status(result.status)
    elapsed = result.elapsed
    if (
        isinstance(elapsed, bool)
        or not isinstance(elapsed, (int, float))
        or not math.isfinite(elapsed)
        or elapsed < 0
    ):
        return bad(f"simulator returned elapsed={short(elapsed)}, not a time >= 0 [s]")
    if not isinstance(result.metrics, Mapping):
        return bad(f"simulator returned metrics={short(result.metrics)}, not a mapping")
    metrics = {}
    for name, value in result.metrics.items():
        if not isinstance(name, str):
            return bad(f"metric name {short(name)} is not a string")
        try:
            number = float(value) if _is_number(value) else None
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is None:
            return bad(f"metric {short(name)} is {short(value)}, not a number")
        if result.status == Status.OK and not math.isfinite(number):
            return bad(f"metric {short(name)} is {number} in an ok result")
        metrics[name] = number
    result.metrics = metrics
    if result.error is not None and not isinstance(result.error, str):
        result.error = short(result.error)
    return result


def _is_number(value: Any) -> bool:
    if isinstance(value, (bool, int, float)):
        return True
    return hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0 and value.dtype.kind in "biuf"
