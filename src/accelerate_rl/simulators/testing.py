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
