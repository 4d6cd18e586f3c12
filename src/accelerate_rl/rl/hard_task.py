"""The hard beam-tuning benchmark: per-episode hidden beam and magnet state, per-episode
targets, noisy screens, limited moves (see :func:`hard_task` and the README section "The
hard tuning benchmark").

The task dict is a :class:`~.task.TaskConfig` plus the hidden state a real line has and
its model does not know, drawn afresh every episode:

    "beam":   [{"key": "alpx1", "low": -1.0, "high": 0.0}, ...]   # incoming beam (TraceWin keys)
    "gains":  [{"key": "ele[13][2]", "design": -4433, "low": -0.01, "high": 0.01}, ...]
    "kicks":  [{"key": "ele[33][1]", "scales_with": "ele[29][2]", "design": 2882,
                "low": -30, "high": 30}, ...]                     # misaligned-lens kicks
    "target_ranges": [[-1.0, 1.0], ...]     # per target: its value drawn per episode
    "position_noise": 0.02, "size_noise": 0.01,                  # screen noise (mm, relative)
    "machine": {"partran": 1, ...}                               # constant extra run keys

The machine applies ``(knob + offset) * (1 + gain)`` to a knob, ``design * (1 + gain)``
to any other element parameter with a gain, and a kick ``draw * source / design`` (the
dipole kick of a lens displaced from the axis grows with its strength; thin-lens
approximation) on a corrector no agent moves. The observation holds the noisy screen
readings (the observed quantities and the targets' measured minus requested values,
divided by their scales), the requested values / scale, the transmission and the knobs
in [-1, 1]. Success and the reward use the true beam (the referee), never the noise.
The reward is BeamlineEnv's; ``precision_bonus`` (training only, 0 in the benchmark)
adds a success bonus that grows as the final error shrinks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field, model_validator

from ..examples import ADIGE_DEMO
from .env import OBS_LIMIT, BeamlineEnv, BeamlineVectorEnv
from .task import Knob, TaskConfig, _Strict, adige_task

#: Columns read by position monitors (absolute noise, mm); the others are sizes
#: (relative noise).
POSITION_COLUMNS = ("x0", "y0")


class BeamSpread(Knob):
    """A TraceWin beam key of the incoming beam drawn uniformly in [low, high] per episode."""


class Gain(_Strict):
    """A relative field error in [low, high] of element parameter ``key`` (``design``: its
    lattice value, needed when ``key`` is not a knob)."""

    key: str
    low: float
    high: float
    design: float | None = None


class Kick(_Strict):
    """A hidden corrector kick ``draw * value(scales_with) / design`` (draw in [low, high],
    the corrector's units): a misaligned lens steers in proportion to its strength."""

    key: str
    scales_with: str
    design: float
    low: float
    high: float


class HardTaskConfig(TaskConfig):
    """TaskConfig plus the per-episode hidden state (see the module docstring)."""

    beam: list[BeamSpread] = []
    gains: list[Gain] = []
    kicks: list[Kick] = []
    target_ranges: list[tuple[float, float]] = []
    position_noise: float = Field(default=0.0, ge=0)  # [mm] rms
    size_noise: float = Field(default=0.0, ge=0)  # relative rms
    machine: dict[str, Any] = {}
    #: Training-only reward shaping (0 in hard_task(): not part of the benchmark): on a
    #: held success the reward gains ``precision_bonus * (1 - largest |error| /
    #: tolerance)``, so a policy is paid for ending closer to the targets than needed.
    precision_bonus: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> HardTaskConfig:
        if self.target_ranges and len(self.target_ranges) != len(self.targets):
            raise ValueError(
                f"target_ranges: {len(self.target_ranges)} ranges for "
                f"{len(self.targets)} targets; give one [low, high] per target"
            )
        knobs = {k.key for k in self.knobs}
        for g in self.gains:
            if g.key not in knobs and g.design is None:
                raise ValueError(f"gain {g.key}: not a knob, so give its lattice 'design' value")
        for k in self.kicks:
            if k.key in knobs:
                raise ValueError(f"kick {k.key}: a knob; kicks act on correctors nobody moves")
        return self


class HardTuningEnv(BeamlineEnv):
    """BeamlineEnv with the hard task's hidden state, per-episode targets and screen noise.

    After every reset/step: ``targets`` (this episode's requested values), ``measured``
    (the noisy readings of every observed/target metric) and ``hidden`` (the drawn state,
    for analysis only) are attributes.
    """

    config_class = HardTaskConfig

    def __init__(self, config: Mapping[str, Any] | None = None, *, backend: Any = None) -> None:
        super().__init__(config if config else hard_task(), backend=backend)
        task: HardTaskConfig = self.task  # type: ignore[assignment]
        self.targets = np.array([t.value for t in task.targets])
        self.measured: dict[str, float] = {}
        self.hidden: dict[str, float] = {}
        self._keys = [k.key for k in task.knobs]
        size = self.observation_space.shape[0] + len(task.targets)
        self.observation_space = gym.spaces.Box(-OBS_LIMIT, OBS_LIMIT, (size,), np.float32)

    def _begin_reset(self, seed: int | None, options: dict | None) -> dict[str, float]:
        super()._begin_reset(seed, options)
        task: HardTaskConfig = self.task  # type: ignore[assignment]
        rng = self.np_random
        hidden = {
            f"offset:{self._keys[i]}": float(v)
            for i, v in zip(self._disturbed, self.offsets[self._disturbed])
        }
        for b in task.beam:
            hidden[b.key] = float(rng.uniform(b.low, b.high))
        for g in task.gains:
            hidden[f"gain:{g.key}"] = float(rng.uniform(g.low, g.high))
        for k in task.kicks:
            hidden[f"kick:{k.key}"] = float(rng.uniform(k.low, k.high))
        if task.target_ranges:
            lo, hi = np.array(task.target_ranges, dtype=float).T
            self.targets = rng.uniform(lo, hi)
        if options and "targets" in options:
            self.targets = np.asarray(options["targets"], dtype=float)
        if options and "hidden" in options:
            hidden.update(options["hidden"])
        self.hidden = hidden
        return self._params()

    def _params(self) -> dict[str, float]:
        task: HardTaskConfig = self.task  # type: ignore[assignment]
        params = super()._params()
        for g in task.gains:
            base = params[g.key] if g.key in params else float(g.design)  # type: ignore[arg-type]
            params[g.key] = base * (1 + self.hidden.get(f"gain:{g.key}", 0.0))
        for k in task.kicks:
            source = params.get(k.scales_with, k.design)
            params[k.key] = self.hidden.get(f"kick:{k.key}", 0.0) * source / k.design
        for b in task.beam:
            params[b.key] = self.hidden.get(b.key, (b.low + b.high) / 2)
        params.update(task.machine)
        return params

    def _end_step(self, result):
        obs, reward, terminated, truncated, info = super()._end_step(result)
        bonus = self.task.precision_bonus  # type: ignore[attr-defined]
        if bonus and info["success"]:
            reward += bonus * (1.0 - max(info["errors"]))
        return obs, reward, terminated, truncated, info

    def measure(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """Noisy screen readings of every observed and target metric (mm)."""
        task: HardTaskConfig = self.task  # type: ignore[assignment]
        rng = self.np_random
        out = {}
        for m in task.metrics:
            value = metrics.get(m.metric, 0.0)
            if m.column in POSITION_COLUMNS:
                value += task.position_noise * rng.standard_normal()
            else:
                value *= 1 + task.size_noise * rng.standard_normal()
            out[m.metric] = float(value)
        return out

    def errors(self, metrics: Mapping[str, float]) -> np.ndarray:
        """|value - this episode's target| / tolerance (true beam; inf when missing)."""
        return np.array(
            [
                abs(metrics.get(t.metric, np.inf) - v) / t.tolerance
                for t, v in zip(self.task.targets, self.targets)
            ]
        )

    def _observation(self, metrics: Mapping[str, float]) -> np.ndarray:
        self.measured = self.measure(metrics)
        m = self.measured
        parts = [m[o.metric] / o.scale for o in self.task.observe]
        parts += [(m[t.metric] - v) / t.scale for t, v in zip(self.task.targets, self.targets)]
        parts += [v / t.scale for t, v in zip(self.task.targets, self.targets)]
        parts.append(metrics.get("transmission", 0.0))
        obs = np.concatenate(
            [np.nan_to_num(np.array(parts, dtype=float)), self._normalised(self.values)]
        )
        return np.clip(obs, -OBS_LIMIT, OBS_LIMIT).astype(np.float32)


class HardVectorEnv(BeamlineVectorEnv):
    """``num_envs`` HardTuningEnvs stepped with one batched request (see BeamlineVectorEnv)."""

    env_class = HardTuningEnv

    def __init__(self, config: Mapping[str, Any] | None = None, num_envs: int | None = None):
        super().__init__(config if config else hard_task(), num_envs)


def make_hard_env(config: Mapping[str, Any] | None = None) -> gym.Env | gym.vector.VectorEnv:
    """RLlib's env creator for the hard task (a HardVectorEnv when ``num_envs`` is given)."""
    config = dict(config or hard_task())
    if "num_envs" in config:
        return HardVectorEnv(config)
    return HardTuningEnv(config)


def _widened(low: float, high: float, factor: float) -> tuple[float, float]:
    centre, half = (low + high) / 2, (high - low) / 2 * factor
    return centre - half, centre + half


def hard_task(machine: str = "design", **overrides: Any) -> dict[str, Any]:
    """The hard tuning benchmark on the example beamline (kept fixed; see the README).

    Every episode, from knobs drawn within the middle half of their ranges, bring the
    beam on the final screen (AD.EMIT, element 37) to a requested position (x, y in
    +-1 mm, within 0.1 mm) and requested rms sizes (x in 3.5-5.5 mm, y in 1.5-4.0 mm,
    within 0.15 mm) with >= 98 % transmission, and hold it 3 steps, in at most 40 steps,
    moving the steerers AD.ST.01/02 (x, y, +-150 V) and the quadrupoles AD.1EQ.03/04
    (2600-3200 V, -3700 to -3000 V) by at most 10 % of their range per step. The agent
    sees only screens: the position monitor DIA.01 (x, y), the profile monitor DIA.02
    (rms sizes) and the final screen (x, y, sizes), with 0.02 mm position and 1 % size
    noise, and the requested values.

    Hidden per episode (never observed): the incoming beam as the charge breeder delivers
    it (offsets +-0.5 mm, angles +-0.5 mrad, alpha -1..0, beta 0.9-1.6 mm/mrad, normalised
    emittances 0.011-0.019 mm.mrad, i.e. +-25 %), steerer calibration offsets of +-20 V,
    field errors of +-1 % of both solenoids and the first quadrupole doublet, and the
    misalignment of the second doublet as kicks on AD.ST.05 (+-30 V, scaled with each
    quadrupole's voltage).

    ``machine="mismatched"``: the sim-to-real machine no training saw: multiparticle
    tracking (1000 macro-particles) with 20 uA of space charge (linear solver), +-2 %
    gradient errors on all four quadrupoles (the knob doublet included) and a 1.5x wider
    incoming-beam spread. ``overrides`` replace top-level keys (e.g. ``backend``).
    """
    knobs = adige_task()["knobs"][:4] + [  # the steerers as in adige_task(), +-150 V
        {"key": "ele[29][2]", "low": 2600.0, "high": 3200.0},
        {"key": "ele[31][2]", "low": -3700.0, "high": -3000.0},
    ]
    beam = {
        "x1": (-0.5, 0.5),  # [mm]
        "xp1": (-0.5, 0.5),  # [mrad]
        "y1": (-0.5, 0.5),
        "yp1": (-0.5, 0.5),
        "alpx1": (-1.0, 0.0),  # [1] (design -0.5)
        "alpy1": (-1.0, 0.0),
        "betx1": (0.9, 1.6),  # [mm/mrad] (design 1.2)
        "bety1": (0.9, 1.6),
        "etnx1": (0.011, 0.019),  # normalised rms [mm.mrad] (design 0.015)
        "etny1": (0.011, 0.019),
    }
    gains = [
        {"key": "ele[3][2]", "design": 0.2058, "low": -0.01, "high": 0.01},  # AD.SO.01 [T]
        {"key": "ele[7][2]", "design": 0.2149, "low": -0.01, "high": 0.01},  # AD.SO.02 [T]
        {"key": "ele[13][2]", "design": -4433.0, "low": -0.01, "high": 0.01},  # AD.1EQ.01 [V]
        {"key": "ele[15][2]", "design": 981.0, "low": -0.01, "high": 0.01},  # AD.1EQ.02 [V]
    ]
    machine_keys: dict[str, Any] = {}
    if machine == "mismatched":
        beam = {k: _widened(lo, hi, 1.5) for k, (lo, hi) in beam.items()}
        # solenoids as trained; every quadrupole +-2 %, the knob doublet included
        gains = gains[:2] + [{**g, "low": -0.02, "high": 0.02} for g in gains[2:]]
        gains += [
            {"key": "ele[29][2]", "low": -0.02, "high": 0.02},
            {"key": "ele[31][2]", "low": -0.02, "high": 0.02},
        ]
        machine_keys = {
            "partran": 1,
            "nbr_part1": 1000,
            "random_seed": 1,  # one particle set: the beam is not resampled between runs
            "current1": 0.02,
            "sc_solver": "linear",
        }
    elif machine != "design":
        raise ValueError(f"machine {machine!r}: use 'design' or 'mismatched'")
    task = {
        "project": str(ADIGE_DEMO),
        "knobs": knobs,
        "observe": [  # DIA.01 position monitor, DIA.02 profile monitor [mm]
            {"column": c, "element": n, "scale": scale}
            for c, n, scale in (
                ("x0", 9, 1.0),
                ("y0", 9, 1.0),
                ("SizeX", 17, 10.0),
                ("SizeY", 17, 10.0),
            )
        ],
        "targets": [  # the final screen [mm]; values replaced per episode (target_ranges)
            {"column": c, "element": 37, "value": v, "tolerance": tol, "scale": 1.0}
            for c, v, tol in (
                ("x0", 0.0, 0.1),
                ("y0", 0.0, 0.1),
                ("SizeX", 4.5, 0.15),
                ("SizeY", 2.75, 0.15),
            )
        ],
        "target_ranges": [[-1.0, 1.0], [-1.0, 1.0], [3.5, 5.5], [1.5, 4.0]],
        "disturbances": [{"key": k["key"], "low": -20.0, "high": 20.0} for k in knobs[:4]],
        "beam": [{"key": k, "low": lo, "high": hi} for k, (lo, hi) in beam.items()],
        "gains": gains,
        "kicks": [
            {
                "key": "ele[33][1]",
                "scales_with": "ele[29][2]",
                "design": 2882.0,
                "low": -30.0,
                "high": 30.0,
            },
            {
                "key": "ele[33][2]",
                "scales_with": "ele[31][2]",
                "design": -3354.0,
                "low": -30.0,
                "high": 30.0,
            },
        ],
        "position_noise": 0.02,
        "size_noise": 0.01,
        "machine": machine_keys,
        "transmission_min": 0.98,
        "hold": 3,
        "max_steps": 40,
        "action": "delta",
        "action_scale": 0.2,
        "reset_fraction": 0.5,
    }
    task.update(overrides)
    return task


def base_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """The plain TaskConfig part of a hard task dict: what :func:`~.backends.start_service`
    needs (project and metrics) to start the service the hard envs share."""
    return {k: v for k, v in task.items() if k in TaskConfig.model_fields}
