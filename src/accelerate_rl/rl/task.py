"""The beam-tuning task an environment poses, configured by one dict (RLlib ``env_config``).

    {
      "project": "adige_demo.toml",
      "knobs": [{"key": "ele[5][1]", "low": -150, "high": 150}, ...],          # units of the key
      "observe": [{"column": "x0", "element": 37, "scale": 5.0}, ...],          # mm / scale
      "targets": [{"column": "x0", "element": 37, "value": 0, "tolerance": 0.5}, ...],
      "disturbances": [{"key": "ele[5][1]", "low": -75, "high": 75}, ...],     # hidden
      "transmission_min": 0.95, "hold": 1, "max_steps": 10,
      "action": "delta", "action_scale": 2.0, "reset_fraction": 1.0,
      "backend": "inprocess" | {"service": "beamline"},
      "simulator": "embedded" | "tracewin" | a Simulator object,
      "simulator_options": {"executable": "arl-tracewin"},                 # its options
    }

``project`` is a TOML project or a TraceWin ``.ini`` project. ``simulator`` says what
runs the simulations, in-process or in the service (:func:`~.backends.start_service`
starts it from the task): the ``observe`` and ``targets`` metrics are asked of it as
``column@element`` (see :mod:`accelerate_rl.simulators.observe`), and it decides how a
vector env batches (one vectorised request for the embedded engine, one request per
sub-environment otherwise).

Success: every target within its tolerance and transmission above ``transmission_min``,
held for ``hold`` consecutive steps.

Disturbances model field errors of the knobs' elements (miscalibration, remanence, stray
fields): drawn uniformly per episode and never observed, the machine applies
``knob + offset``. Without them the best settings would be the same in every episode and
a policy could ignore its observations.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..examples import ADIGE_DEMO
from ..simulators.observe import metric_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored


class Knob(_Strict):
    """A setting the agent moves: an ``ele[n][v]`` key within [low, high] (its own units)."""

    key: str
    low: float
    high: float

    @model_validator(mode="after")
    def _range(self) -> Knob:
        if not self.high > self.low:
            raise ValueError(f"knob {self.key}: high ({self.high}) must exceed low ({self.low})")
        return self


class Disturbance(Knob):
    """A hidden per-episode offset in [low, high] added to knob ``key`` in the simulation."""


class Observed(_Strict):
    """A beam quantity at an element's exit, divided by ``scale`` in the observation."""

    column: str
    element: int = Field(ge=0)
    scale: float = Field(default=1.0, gt=0)

    @property
    def metric(self) -> str:
        """The simulator's metric name, ``"column@element"``."""
        return metric_name(self.column, self.element)


class Target(Observed):
    """Bring ``column`` at ``element`` to ``value`` within ``tolerance`` (weight in the reward)."""

    value: float
    tolerance: float = Field(gt=0)
    weight: float = Field(default=1.0, ge=0)


class TaskConfig(_Strict):
    """A beam-tuning task (see the module docstring)."""

    project: str = str(ADIGE_DEMO)
    knobs: list[Knob]
    observe: list[Observed] = []
    targets: list[Target]
    disturbances: list[Disturbance] = []
    transmission_min: float = Field(default=0.95, ge=0, le=1)
    hold: int = Field(default=1, ge=1)
    max_steps: int = Field(default=10, ge=1)
    action: Literal["delta", "absolute"] = "delta"
    action_scale: float = Field(default=2.0, gt=0)
    reset_fraction: float = Field(default=1.0, gt=0, le=1)
    success_bonus: float = 10.0
    loss_penalty: float = 10.0
    backend: Any = "inprocess"
    simulator: Any = "embedded"  # "embedded", "tracewin", or an object with simulate()
    simulator_options: dict[str, Any] = {}  # the simulator's constructor options
    timeout: float | None = 30.0  # [s] per simulation (per batch when one is vectorised)
    service_deadline: float | None = 300.0  # [s] the longest an env waits for the service

    @field_validator("project")
    @classmethod
    def _project_exists(cls, value: str) -> str:
        if not Path(value).is_file():
            raise ValueError(f"project {value!r} not found")
        return value

    @field_validator("simulator")
    @classmethod
    def _known_simulator(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("embedded", "tracewin"):
            raise ValueError(
                f"simulator {value!r}: use 'embedded', 'tracewin' or an object with simulate()"
            )
        if not isinstance(value, str) and not hasattr(value, "simulate"):
            raise ValueError(f"simulator: a {type(value).__name__} has no simulate()")
        return value

    @field_validator("simulator_options")
    @classmethod
    def _no_observe_option(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "observe" in value:
            raise ValueError(
                "simulator_options: leave out 'observe': the task asks for its observe and "
                "targets metrics itself"
            )
        return value

    @model_validator(mode="after")
    def _disturbed_knobs(self) -> TaskConfig:
        keys = {k.key for k in self.knobs}
        for d in self.disturbances:
            if d.key not in keys:
                raise ValueError(
                    f"disturbance {d.key}: not a knob; disturbances offset knobs ({sorted(keys)})"
                )
        return self

    def errors(self, metrics: Mapping[str, float]) -> np.ndarray:
        """|value - target| / tolerance for every target (inf when missing)."""
        return np.array(
            [abs(metrics.get(t.metric, np.inf) - t.value) / t.tolerance for t in self.targets]
        )

    def met(self, metrics: Mapping[str, float], errors: np.ndarray | None = None) -> bool:
        """Every target within tolerance and transmission >= ``transmission_min``
        (``errors``: ``self.errors(metrics)`` when already computed)."""
        errors = self.errors(metrics) if errors is None else errors
        return bool(
            np.all(errors <= 1.0) and metrics.get("transmission", 0.0) >= self.transmission_min
        )

    @property
    def metrics(self) -> list[Observed]:
        """Every per-element quantity the simulator must report (observations, targets)."""
        seen: dict[str, Observed] = {}
        for item in [*self.observe, *self.targets]:
            seen.setdefault(item.metric, item)
        return list(seen.values())


def adige_task(**overrides: Any) -> dict[str, Any]:
    """The benchmark task on the example beamline (kept fixed; see the README).

    From random settings of the two electrostatic steerers (AD.ST.01, AD.ST.02: E.L in x
    and y, +-150 V) and the last quadrupole doublet (AD.1EQ.03/04 voltages), with hidden
    steerer field errors of +-75 V drawn per episode, bring the beam at the final
    diagnostic (element 37) to the axis (|x0|, |y0| <= 0.5 mm) with rms sizes of
    3.0 +- 1.0 mm and at least 95 % transmission, in at most 10 steps.
    """
    task = {
        "project": str(ADIGE_DEMO),
        "knobs": [
            {"key": "ele[5][1]", "low": -150.0, "high": 150.0},
            {"key": "ele[5][2]", "low": -150.0, "high": 150.0},
            {"key": "ele[11][1]", "low": -150.0, "high": 150.0},
            {"key": "ele[11][2]", "low": -150.0, "high": 150.0},
            {"key": "ele[29][2]", "low": 2000.0, "high": 3800.0},
            {"key": "ele[31][2]", "low": -4200.0, "high": -2500.0},
        ],
        "observe": [
            {"column": "x0", "element": 9, "scale": 5.0},
            {"column": "y0", "element": 9, "scale": 5.0},
        ],
        "targets": [
            {"column": "x0", "element": 37, "value": 0.0, "tolerance": 0.5, "scale": 5.0},
            {"column": "y0", "element": 37, "value": 0.0, "tolerance": 0.5, "scale": 5.0},
            {"column": "SizeX", "element": 37, "value": 3.0, "tolerance": 1.0, "scale": 5.0},
            {"column": "SizeY", "element": 37, "value": 3.0, "tolerance": 1.0, "scale": 5.0},
        ],
        "disturbances": [
            {"key": "ele[5][1]", "low": -75.0, "high": 75.0},
            {"key": "ele[5][2]", "low": -75.0, "high": 75.0},
            {"key": "ele[11][1]", "low": -75.0, "high": 75.0},
            {"key": "ele[11][2]", "low": -75.0, "high": 75.0},
        ],
        "transmission_min": 0.95,
        "hold": 1,
        "max_steps": 10,
        "action": "delta",
        "action_scale": 2.0,
    }
    task.update(overrides)
    return task
