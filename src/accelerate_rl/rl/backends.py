"""Where an environment's simulations run: in-process (a laptop without Ray) or the named
SimulationPool service shared by every env runner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..simulators.base import SimResult
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


class ServiceBackend:
    """A named SimulationPool (``SimulationPool.connect(name)``): simulations run on the
    service's actors, shared with every other env runner and trial."""

    def __init__(self, task: TaskConfig, name: str, timeout: float | None) -> None:
        from ..runtime import SimulationPool

        self.pool = SimulationPool.connect(name)
        self.timeout = timeout

    def evaluate(self, params: Mapping[str, Any]) -> SimResult:
        return self.pool.submit(params, timeout=self.timeout).result()


def make_backend(task: TaskConfig):
    spec = task.backend
    if spec in (None, "inprocess"):
        return InProcessBackend(task)
    if isinstance(spec, Mapping) and "service" in spec:
        return ServiceBackend(task, spec["service"], task.timeout)
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
