"""Simulators: the embedded engine, TraceWin, any command-line code, Python functions.

``make_simulator(spec, project=..., **options)`` builds one from ``"embedded"``,
``"tracewin"``, a :class:`Simulator` instance or a callable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import STATUSES, SimResult, Simulator, Status, failure
from .command import CommandResult, CommandSimulator
from .embedded import EmbeddedSimulator
from .function import FunctionSimulator
from .tracewin import TraceWinSimulator


def make_simulator(
    spec: str | Simulator | Callable[..., Any],
    project: str | Path | None = None,
    workdir: str | Path | None = None,
    **options: Any,
) -> Simulator:
    """A simulator from ``spec``: "embedded", "tracewin", an object with ``simulate`` or a
    function ``params -> metrics``. ``options`` go to the simulator's constructor."""
    if isinstance(spec, str):
        if project is None:
            raise ValueError(f"the {spec!r} simulator needs a project")
        if spec == "embedded":
            return EmbeddedSimulator(project, **options)
        if spec == "tracewin":
            return TraceWinSimulator(project, workdir=workdir, **options)
        raise ValueError(
            f"unknown simulator {spec!r}: use 'embedded', 'tracewin', an object "
            "with simulate(), or a function"
        )
    if hasattr(spec, "simulate"):
        return spec  # type: ignore[return-value]
    if callable(spec):
        return FunctionSimulator(spec)
    raise TypeError(f"cannot make a simulator from {type(spec).__name__}")


__all__ = [
    "STATUSES",
    "CommandResult",
    "CommandSimulator",
    "EmbeddedSimulator",
    "FunctionSimulator",
    "SimResult",
    "Simulator",
    "Status",
    "TraceWinSimulator",
    "failure",
    "make_simulator",
]
