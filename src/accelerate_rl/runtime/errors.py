"""Typed errors for simulation requests that did not succeed (``errors="raise"``)."""

from __future__ import annotations

from ..simulators.base import SimResult, Status


class SimulationError(RuntimeError):
    """A request ended with a status other than ``ok``; ``result`` says how."""

    def __init__(self, result: SimResult) -> None:
        self.result = result
        super().__init__(
            f"request {result.request_id} {result.status}: {result.error or ''} "
            f"(params {result.params})"
        )


class BeamLostError(SimulationError):
    """Physical failure: the beam was lost (status ``lost``)."""


class SimulationTimeoutError(SimulationError):
    """The simulation exceeded its timeout (status ``timeout``)."""


class InvalidRequestError(SimulationError, ValueError):
    """Bad parameters (status ``invalid``)."""


class RequestCancelledError(SimulationError):
    """The request was cancelled (status ``cancelled``)."""


class WorkerLostError(SimulationError):
    """The actors running it died more often than ``max_retries`` (status ``actor_died``)."""


class PoolFullError(RuntimeError):
    """``submit`` would block and the pool was told not to (``on_full="raise"`` or timeout)."""


_BY_STATUS = {
    Status.LOST: BeamLostError,
    Status.TIMEOUT: SimulationTimeoutError,
    Status.INVALID: InvalidRequestError,
    Status.CANCELLED: RequestCancelledError,
    Status.ACTOR_DIED: WorkerLostError,
}


def error_for(result: SimResult) -> SimulationError:
    """The typed error for a non-ok result."""
    return _BY_STATUS.get(result.status, SimulationError)(result)
