"""The beam-tuning task an environment poses, configured by one dict (RLlib ``env_config``).

    {
      "project": "adige_demo.toml",
      "knobs": [{"key": "ele[5][1]", "low": -150, "high": 150}, ...],          # units of the key
      "observe": [{"column": "x0", "element": 37, "scale": 5.0}, ...],          # mm / scale
      "targets": [{"column": "x0", "element": 37, "value": 0, "tolerance": 0.5}, ...],
      "transmission_min": 0.95, "hold": 1, "max_steps": 10,
      "action": "delta", "action_scale": 1.0, "reset_fraction": 1.0,
      "backend": "inprocess" | {"service": "beamline"},
    }

Success: every target within its tolerance and transmission above ``transmission_min``,
held for ``hold`` consecutive steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from ..examples import ADIGE_DEMO


class Knob(BaseModel):
    """A setting the agent moves: an ``ele[n][v]`` key within [low, high] (its own units)."""

    key: str
    low: float
    high: float

    @model_validator(mode="after")
    def _range(self) -> Knob:
        if not self.high > self.low:
            raise ValueError(f"knob {self.key}: high ({self.high}) must exceed low ({self.low})")
        return self


class Observed(BaseModel):
    """A beam quantity at an element's exit, divided by ``scale`` in the observation."""

    column: str
    element: int = Field(ge=0)
    scale: float = Field(default=1.0, gt=0)

    @property
    def metric(self) -> str:
        return f"{self.column}@{self.element}"


class Target(Observed):
    """Bring ``column`` at ``element`` to ``value`` within ``tolerance`` (weight in the reward)."""

    value: float
    tolerance: float = Field(gt=0)
    weight: float = Field(default=1.0, ge=0)


class TaskConfig(BaseModel):
    """A beam-tuning task (see the module docstring)."""

    project: str = str(ADIGE_DEMO)
    knobs: list[Knob]
    observe: list[Observed] = []
    targets: list[Target]
    transmission_min: float = Field(default=0.95, ge=0, le=1)
    hold: int = Field(default=1, ge=1)
    max_steps: int = Field(default=10, ge=1)
    action: Literal["delta", "absolute"] = "delta"
    action_scale: float = Field(default=1.0, gt=0)
    reset_fraction: float = Field(default=1.0, gt=0, le=1)
    success_bonus: float = 10.0
    loss_penalty: float = 10.0
    backend: Any = "inprocess"
    timeout: float | None = 30.0

    @field_validator("project")
    @classmethod
    def _project_exists(cls, value: str) -> str:
        if not Path(value).is_file():
            raise ValueError(f"project {value!r} not found")
        return value

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
    and y, +-150 V) and the last quadrupole doublet (AD.1EQ.03/04 voltages), bring the beam
    at the final diagnostic (element 37) to the axis (|x0|, |y0| <= 0.5 mm) with rms sizes
    of 3.0 +- 1.0 mm and at least 95 % transmission.
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
        "transmission_min": 0.95,
        "hold": 1,
        "max_steps": 10,
        "action": "delta",
        "action_scale": 1.0,
    }
    task.update(overrides)
    return task
