"""Where an environment's simulations run: in-process (a laptop without Ray) or the named
SimulationPool service shared by every env runner and trial, on the task's simulator
(the embedded engine, TraceWin, or any Simulator object).

A backend never raises for a simulation: whatever goes wrong (a bad setting, a dead
service, a timeout) comes back as a failed :class:`SimResult`, so an env runner survives.
The one exception is a simulator that does not give a metric the task asks for: that is
a configuration error, raised (:class:`MetricUnavailable`) on the first such result.

Batching fits the simulator: when it vectorises (the embedded engine in envelope mode),
``evaluate_batch`` sends the sets as batch requests, one per slot of the service (so 2
slots compute halves in parallel while in-process runs one) once a part holds
:data:`MIN_SETS_PER_PART` sets (fewer: one request, as a part's fixed cost outweighs the
parallel computing); otherwise every parameter set is its own request, queued together,
spread over every free slot and gathered with a per-request timeout, so a slow or failed
run fails only its own sub-environment.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ..simulators import make_simulator
from ..simulators.base import SimResult, failure
from ..simulators.observe import TRANSMISSION, MetricUnavailable
from .task import TaskConfig

#: Fewest parameter sets a batch part of a vectorising simulator gets: below it one
#: more part's fixed cost (a Ray call to the actor and a slot exchange, ~5 ms on the
#: 2-core benchmark machine: ``bench_rl.py``'s ``hop_ms``) outweighs computing half the
#: sets (~26 us each) on another slot. Measured there: 64 sub-envs step faster as one
#: part on one slot than as two parts on two (4,000 against 3,670 env steps/s, medians
#: of 3); 256 as two parts of 128 (6,600 against 5,850).
MIN_SETS_PER_PART = 128
#: How long closing a service client waits for its runs in flight [s] before abandoning
#: them (an env runner stopping must not hang on a simulation that never answers).
CLOSE_TIMEOUT = 30.0


def observe_list(task: TaskConfig) -> list[tuple[str, int]]:
    return [(m.column, m.element) for m in task.metrics]


def task_simulator_options(task: TaskConfig) -> dict[str, Any]:
    """The task simulator's constructor options, with the metrics the task asks for."""
    return {**task.simulator_options, "observe": observe_list(task)}


def vectorises(task: TaskConfig) -> bool:
    """Whether the task's simulator runs many settings in one call (``simulate_batch``):
    the embedded engine in envelope mode, or an object with ``simulate_batch``."""
    if task.simulator == "embedded":
        return task.simulator_options.get("mode", "envelope") == "envelope"
    return not isinstance(task.simulator, str) and hasattr(task.simulator, "simulate_batch")


def _simulator_name(task: TaskConfig) -> str:
    kind = task.simulator
    return f"the {kind} simulator" if isinstance(kind, str) else type(kind).__name__


def required_metrics(task: TaskConfig) -> tuple[str, ...]:
    """The metrics every ok result must carry for ``task`` (its own, in the task's order,
    and transmission)."""
    return tuple(dict.fromkeys([m.metric for m in task.metrics] + [TRANSMISSION]))


def check_metrics(
    task: TaskConfig, result: SimResult, required: tuple[str, ...] | None = None
) -> SimResult:
    """``result``, or MetricUnavailable when it is ok but lacks a metric the task uses
    (``required``: :func:`required_metrics` of ``task``, when the caller keeps it)."""
    if not result.ok:
        return result
    required = required_metrics(task) if required is None else required
    missing = [name for name in required if name not in result.metrics]
    if missing:
        raise MetricUnavailable(
            f"{_simulator_name(task)} returned no {', '.join(map(repr, missing))}: the "
            "task observes or targets them; a simulator object must be built with "
            f"observe={observe_list(task)} and return 'transmission'"
        )
    return result


class InProcessBackend:
    """The task's simulator in this process (one run at a time)."""

    def __init__(self, task: TaskConfig) -> None:
        self.task = task
        if isinstance(task.simulator, str):
            self.sim = make_simulator(task.simulator, task.project, **task_simulator_options(task))
        else:
            self.sim = task.simulator
        self.batched = vectorises(task)
        self.required = required_metrics(task)

    def evaluate(self, params: Mapping[str, Any]) -> SimResult:
        result = self.sim.simulate(params, timeout=self.task.timeout)
        return check_metrics(self.task, result, self.required)

    def evaluate_batch(self, requests: Sequence[Mapping[str, Any]]) -> list[SimResult]:
        """One vectorised call when the simulator vectorises, else one run each."""
        if self.batched:
            results = self.sim.simulate_batch(requests)
            return [check_metrics(self.task, r, self.required) for r in results]
        return [self.evaluate(p) for p in requests]

    def close(self) -> None:
        """Nothing to release: an in-process run leaves no process or file behind."""


class ServiceBackend:
    """A named SimulationPool (``SimulationPool.connect(name)``): simulations run on the
    service's actors, shared with every other env runner and trial."""

    def __init__(self, task: TaskConfig, name: str) -> None:
        from ..runtime import SimulationPool

        self.task = task
        self.pool = SimulationPool.connect(name)
        self.timeout = task.timeout
        self.deadline = task.service_deadline
        self.batched = vectorises(task)
        self.required = required_metrics(task)

    def evaluate(self, params: Mapping[str, Any]) -> SimResult:
        try:
            result = self.pool.submit(params, timeout=self.timeout).result(self.deadline)
        except Exception as exc:  # a bad setting or a service gone: a technical failure
            return failure(params, _named(exc, self.deadline))
        return check_metrics(self.task, result, self.required)

    def evaluate_batch(self, requests: Sequence[Mapping[str, Any]]) -> list[SimResult]:
        """A vectorising simulator: the requests as batch requests, one per free slot of
        the service (at least :data:`MIN_SETS_PER_PART` sets each), which compute in
        parallel. Otherwise one request each over every free slot, gathered with
        ``timeout`` per run (enforced by the actors) and ``service_deadline`` for the
        whole gather: a run that fails or does not come back fails alone."""
        if self.batched:
            parts = max(1, min(self.pool.total_slots, len(requests) // MIN_SETS_PER_PART))
            try:
                fut = self.pool.submit_batch(requests, timeout=self.timeout, parts=parts)
                results = fut.result(self.deadline)
            except Exception as exc:
                return [failure(params, _named(exc, self.deadline)) for params in requests]
            return [check_metrics(self.task, r, self.required) for r in results]
        try:
            futures = self.pool.submit_many(requests, timeout=self.timeout, errors="return")
        except Exception as exc:  # the service is gone or shut down
            return [failure(params, _named(exc, self.deadline)) for params in requests]
        end = None if self.deadline is None else time.monotonic() + self.deadline
        results = []
        for params, fut in zip(requests, futures):
            left = None if end is None else max(0.0, end - time.monotonic())
            try:
                results.append(check_metrics(self.task, fut.result(left), self.required))
            except MetricUnavailable:
                raise
            except Exception as exc:
                results.append(failure(params, _named(exc, self.deadline)))
        return results

    def close(self, timeout: float | None = CLOSE_TIMEOUT) -> None:
        """Close this client of the service (the service itself runs on): its queued
        requests are cancelled, runs in flight waited for at most ``timeout`` s (None:
        without limit) and then abandoned (their futures fail; a warning says how many),
        its dispatcher thread stopped and its demand withdrawn, so nothing of it calls
        into Ray once Ray shuts down (a thread left running then ends the process with
        "The core worker has already been shutdown" and exit code 1). Safe after Ray is
        down and when called twice."""
        self.pool.shutdown(wait=True, cancel_futures=True, timeout=timeout)


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


def start_service(
    task_config: Mapping[str, Any],
    name: str = "beamline",
    *,
    simulator: Any = None,
    simulator_options: Mapping[str, Any] | None = None,
    **pool_options: Any,
):
    """Start the named SimulationPool an env with ``backend={"service": name}`` uses, on
    the task's simulator asked for the task's metrics (a metric it cannot give fails
    here, naming it). ``simulator`` / ``simulator_options`` default to the task's; when
    given they must be the task's (the envs decide how to batch from the task), e.g.
    ``start_service(adige_task(simulator="tracewin", simulator_options={"executable":
    "arl-tracewin"}), resources_per_slot={"tracewin_licence": 1}, slots=4)``.
    ``pool_options`` go to SimulationPool (slots, max_actors, resources_per_slot,
    resource_wait, ...): a ``resources_per_slot`` resource no node has (a licence on a Ray
    started without it) fails with :class:`~accelerate_rl.runtime.MissingResources` after
    ``resource_wait`` seconds, unless an autoscaler may add such nodes
    (:mod:`accelerate_rl.runtime.resources`).

    Call it in the driver, outside Tune trials (its actors reserve no CPUs and are not
    captured by trial placement groups).
    """
    from ..runtime import SimulationPool

    task = TaskConfig(**task_config)
    for key, given, own in (
        ("simulator", simulator, task.simulator),
        ("simulator_options", simulator_options, task.simulator_options),
    ):
        if given is not None and given != own:
            raise ValueError(
                f"start_service({key}={given!r}) differs from the task's {key} ({own!r}): "
                f"set the task's {key!r} instead, so its environments batch as the "
                "simulator needs"
            )
    if isinstance(task.simulator, str):
        return SimulationPool(
            task.simulator,
            task.project,
            name=name,
            simulator_options=task_simulator_options(task),
            **pool_options,
        )
    return SimulationPool(task.simulator, name=name, **pool_options)
