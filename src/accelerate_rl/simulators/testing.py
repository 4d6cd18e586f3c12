"""Small simulators for tests, benchmarks and fault drills (picklable, importable in
worker processes): no-op, sleep, and ones that crash, hang or return garbage."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

from .base import SimResult


class NoopSimulator:
    """Returns at once: ``{"x": params.get("x", 0)}``."""

    def simulate(self, params: Mapping[str, Any], *, seed=None, timeout=None) -> SimResult:
        return SimResult(dict(params), "ok", {"x": float(params.get("x", 0.0))}, seed=seed)


class SleepSimulator:
    """Sleeps ``params["sleep"]`` seconds (default ``default``), then returns ``x``."""

    def __init__(self, default: float = 0.1) -> None:
        self.default = default

    def simulate(self, params: Mapping[str, Any], *, seed=None, timeout=None) -> SimResult:
        time.sleep(float(params.get("sleep", self.default)))
        return SimResult(
            dict(params),
            "ok",
            {"x": float(params.get("x", 0.0)), "pid": float(os.getpid())},
            seed=seed,
        )


class FaultySimulator:
    """Misbehaves on request: ``params["fault"]`` is "crash" (kills its process), "hang"
    (sleeps an hour), "raise" (an exception), "garbage" (returns a non-result), "nan"
    (non-finite metrics) or absent (ok)."""

    def validate(self, params: Mapping[str, Any]) -> None:
        fault = params.get("fault")
        if fault not in (None, "crash", "hang", "raise", "garbage", "nan"):
            from ..tracewin.errors import InvalidParameterError

            raise InvalidParameterError("fault", f"unknown fault {fault!r}")

    def simulate(self, params: Mapping[str, Any], *, seed=None, timeout=None) -> Any:
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
        return SimResult(dict(params), "ok", {"x": value, "pid": float(os.getpid())}, seed=seed)


class LatencySimulator:
    """The embedded engine on ``project`` behind a fixed latency: each run sleeps
    ``latency`` seconds (no CPU used, like a remote licensed code waiting on its
    process) and reports when it ran, ``started_at`` / ``finished_at`` (Unix time [s]),
    with the engine's metrics (``observe``: see :mod:`.observe`); ``record``: a file
    each run appends ``started finished pid`` to (one line). For fan-out tests and the
    slow-simulator benchmark. A run longer than its ``timeout`` stops there with
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
            return SimResult(
                dict(params), "timeout", seed=seed, error=f"exceeded its timeout ({timeout} s)"
            )
        time.sleep(latency)
        result = self._sim.simulate(params, seed=seed)
        finished = time.time()
        result.metrics.update(started_at=started, finished_at=finished)
        if self.record is not None:
            with open(self.record, "a") as log:
                log.write(f"{started!r} {finished!r} {os.getpid()}\n")
        return result
