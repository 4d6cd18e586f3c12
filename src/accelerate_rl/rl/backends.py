"""Where an environment's simulations run: in-process (a laptop without Ray) or the named
SimulationPool service shared by every env runner and trial.

A backend never raises for a simulation: whatever goes wrong (a bad setting, a dead
service, a timeout) comes back as a failed :class:`SimResult`, so an env runner survives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ..simulators.base import SimResult, failure
from ..simulators.embedded import EmbeddedSimulator
from .task import TaskConfig


def observe_list(task: TaskConfig) -> list[tuple[str, int]]:
    return [(m.column, m.element) for m in task.metrics]


class InProcessBackend:
    """The embedded engine in this process."""

    def __init__(self, task: TaskConfig) -> None:
        self.sim = EmbeddedSimulator(task.project, observe=observe_list(task))

    def evaluate(self, params: Mapping[str, Any]) -> SimResult:
        return self.sim.simulate(params)

    def evaluate_batch(self, requests: Sequence[Mapping[str, Any]]) -> list[SimResult]:
        """One vectorised engine call for all requests (see ``simulate_batch``)."""
        return self.sim.simulate_batch(requests)


class ServiceBackend:
    """A named SimulationPool (``SimulationPool.connect(name)``): simulations run on the
    service's actors, shared with every other env runner and trial."""

    def __init__(self, task: TaskConfig, name: str) -> None:
        from ..runtime import SimulationPool

        self.pool = SimulationPool.connect(name)
        self.timeout = task.timeout
        self.deadline = task.service_deadline

    def evaluate(self, params: Mapping[str, Any]) -> SimResult:
        try:
            return self.pool.submit(params, timeout=self.timeout).result(self.deadline)
        except Exception as exc:  # a bad setting or a service gone: a technical failure
            return failure(params, _named(exc, self.deadline))

    def evaluate_batch(self, requests: Sequence[Mapping[str, Any]]) -> list[SimResult]:
        """All requests as one batch request: one actor call, one engine call."""
        try:
            return self.pool.submit_batch(requests, timeout=self.timeout).result(self.deadline)
        except Exception as exc:
            return [failure(params, _named(exc, self.deadline)) for params in requests]


def _named(exc: Exception, deadline: float | None) -> Exception:
    if isinstance(exc, FutureTimeout):
        return RuntimeError(
            f"no answer from the simulation service within service_deadline={deadline} s "
            "(is the service running? raise service_deadline if it is only busy)"
        )
    return exc


def make_backend(task: TaskConfig):
    spec = task.backend
    if spec in (None, "inprocess"):
        return InProcessBackend(task)
    if isinstance(spec, Mapping) and "service" in spec:
        return ServiceBackend(task, spec["service"])
    raise ValueError(f"backend {spec!r}: use 'inprocess' or {{'service': NAME}}")


def start_service(task_config: Mapping[str, Any], name: str = "beamline", **pool_options):
    """Start the named SimulationPool an env with ``backend={"service": name}`` uses.

    Call it in the driver, outside Tune trials (its actors reserve no CPUs and are not
    captured by trial placement groups).
    """
    from ..runtime import SimulationPool

    task = TaskConfig(**task_config)
    options = {"observe": observe_list(task)}
    return SimulationPool(
        "embedded", task.project, name=name, simulator_options=options, **pool_options
    )
