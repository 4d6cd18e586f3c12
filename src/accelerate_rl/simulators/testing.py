"""Small simulators for tests, benchmarks and fault drills (picklable, importable in
worker processes): no-op, sleep, and ones that crash, hang or return garbage."""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import SimResult, Status

#: The faults :class:`FaultySimulator` knows, and what each does.
FAULTS = {
    "crash": "kills its process (exit code 7)",
    "hang": "sleeps an hour",
    "raise": "raises an exception",
    "garbage": "returns a string instead of a SimResult",
    "nan": "returns a NaN metric with status ok",
    "bad-elapsed": "returns elapsed='soon'",
    "bad-metric": "returns a metric that is a list",
    "huge-metric": "returns a 2 MB string as a metric",
    "bogus-status": "returns the status 'bogus-status'",
}


class NoopSimulator:
    """Returns at once: ``{"x": params.get("x", 0)}``."""

    def simulate(self, params: Mapping[str, Any], *, seed=None, timeout=None) -> SimResult:
        return SimResult(dict(params), Status.OK, {"x": float(params.get("x", 0.0))}, seed=seed)


class SleepSimulator:
    """Sleeps ``params["sleep"]`` seconds (default ``default``), then returns ``x``."""

    def __init__(self, default: float = 0.1) -> None:
        self.default = default

    def simulate(self, params: Mapping[str, Any], *, seed=None, timeout=None) -> SimResult:
        time.sleep(float(params.get("sleep", self.default)))
        return SimResult(
            dict(params),
            Status.OK,
            {"x": float(params.get("x", 0.0)), "pid": float(os.getpid())},
            seed=seed,
        )


class FaultySimulator:
    """Misbehaves on request: ``params["fault"]`` is one of :data:`FAULTS` or absent (ok:
    returns ``x`` and the process id). ``sleep`` [s] is slept first when given."""

    def validate(self, params: Mapping[str, Any]) -> None:
        fault = params.get("fault")
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault: unknown fault {fault!r}; valid: {sorted(FAULTS)}")

    def simulate(self, params: Mapping[str, Any], *, seed=None, timeout=None) -> Any:
        if params.get("sleep"):
            time.sleep(float(params["sleep"]))
        fault = params.get("fault")
        if fault == "crash":
            os._exit(7)
        if fault == "hang":
            time.sleep(3600)
        if fault == "raise":
            raise RuntimeError("simulator bug")
        if fault == "garbage":
            return "not a result"
        value = math.nan if fault == "nan" else float(params.get("x", 0.0))
        result = SimResult(
            dict(params), Status.OK, {"x": value, "pid": float(os.getpid())}, seed=seed
        )
        if fault == "bad-elapsed":
            result.elapsed = "soon"  # type: ignore[assignment]
        elif fault == "bad-metric":
            result.metrics["x"] = [1.0, 2.0]  # type: ignore[assignment]
        elif fault == "huge-metric":
            result.metrics["x"] = "x" * 2_000_000  # type: ignore[assignment]
        elif fault == "bogus-status":
            result.status = "bogus-status"
        return result


class FaultyBatchSimulator(FaultySimulator):
    """A FaultySimulator with ``simulate_batch``, as a vectorised code behaves: one fault
    takes the whole batch down (a crash kills the process, a hang holds every set), and
    ``timeout`` [s] is the whole batch's budget: sets not started within it come back
    ``timeout``. Results from a batch carry the metric ``batched`` = 1."""

    def simulate_batch(self, requests, *, timeout=None) -> list[Any]:
        t0 = time.monotonic()
        results = []
        for params in requests:
            if timeout is not None and time.monotonic() - t0 > timeout:
                error = f"the batch's budget of {timeout} s was spent"
                late = SimResult.failed(params, Status.TIMEOUT, error, error_type="Timeout")
                results.append(late)
                continue
            results.append(self.simulate(params))
        for result in results:
            if isinstance(result, SimResult) and isinstance(result.metrics, dict):
                result.metrics["batched"] = 1.0
        return results


class RestartFailingSimulator(NoopSimulator):
    """Builds once per actor process: a rebuild in a slot whose actor already built one
    (a slot restart after ``{"fault": "crash"}``) fails while ``marker`` exists."""

    def __init__(self, marker: str | Path) -> None:
        self.marker = str(marker)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if multiprocessing.parent_process() is None:
            return  # unpickled in the actor, not in a slot's process
        actor = str(os.getppid())
        built = Path(f"{self.marker}.built-{actor}")
        if built.exists() and Path(self.marker).exists():
            raise RuntimeError(f"cannot rebuild the simulator in actor {actor}")
        built.touch()

    def simulate(self, params: Mapping[str, Any], *, seed=None, timeout=None) -> SimResult:
        if params.get("fault") == "crash":
            os._exit(7)
        return SimResult(dict(params), Status.OK, {"pid": float(os.getpid())}, seed=seed)


class RestartFailingBatchSimulator(RestartFailingSimulator):
    """A RestartFailingSimulator with ``simulate_batch`` (one crash takes the batch down)."""

    def simulate_batch(self, requests, *, timeout=None) -> list[SimResult]:
        return [self.simulate(params) for params in requests]


class BigResultSimulator:
    """Returns ``x`` with a ``rows`` x 8 table of floats (8 rows ~ 64 bytes; 100,000 rows
    ~ 6 MB: big enough for Ray's object store rather than an inline reply)."""

    def __init__(self, rows: int = 100_000) -> None:
        self.rows = rows

    def simulate(self, params: Mapping[str, Any], *, seed=None, timeout=None) -> SimResult:
        import numpy as np
        import pandas as pd

        table = pd.DataFrame(np.full((self.rows, 8), float(params.get("x", 0.0))))
        table.columns = [f"c{i}" for i in range(8)]
        metrics = {"x": float(params.get("x", 0.0)), "pid": float(os.getpid())}
        return SimResult(dict(params), Status.OK, metrics, table, seed=seed)


class LatencySimulator:
    """The embedded engine on ``project`` behind a fixed latency: each run lasts
    ``latency`` seconds, the engine's run included (the rest is a sleep: no CPU used,
    like a remote licensed code waiting on its process), and reports when it ran,
    ``started_at`` / ``finished_at`` (Unix time [s]), with the engine's metrics
    (``observe``: see :mod:`.observe`); ``record``: a file each run appends
    ``started finished pid`` to (one line). For fan-out tests and the slow-simulator
    benchmark. A run longer than its ``timeout`` stops there with
    status ``timeout``. The engine is built on first use (a small pickle)."""

    def __init__(self, project: str, latency: float = 1.0, observe=(), record=None) -> None:
        self.project = str(project)
        self.latency = float(latency)
        self.observe = list(observe)
        self.record = None if record is None else str(record)
        self._sim = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sim": None}

    def latency_for(self, params: Mapping[str, Any]) -> float:
        """The latency of a run of ``params`` [s] (``latency``; override to vary it)."""
        return self.latency

    def simulate(self, params: Mapping[str, Any], *, seed=None, timeout=None) -> SimResult:
        if self._sim is None:
            from .embedded import EmbeddedSimulator

            self._sim = EmbeddedSimulator(self.project, observe=self.observe)
        started = time.time()
        latency = self.latency_for(params)
        if timeout is not None and latency > timeout:  # as a subprocess killed at its timeout
            time.sleep(timeout)
            return SimResult.failed(
                dict(params), Status.TIMEOUT, f"exceeded its timeout ({timeout} s)", seed=seed
            )
        result = self._sim.simulate(params, seed=seed)
        time.sleep(max(0.0, latency - (time.time() - started)))  # the run lasts `latency`
        finished = time.time()
        result.metrics.update(started_at=started, finished_at=finished)
        if self.record is not None:
            with open(self.record, "a") as log:
                log.write(f"{started!r} {finished!r} {os.getpid()}\n")
        return result
