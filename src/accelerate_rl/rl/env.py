"""BeamlineEnv: a gymnasium environment for beam tuning, one simulation per step.

Actions are normalised to [-1, 1] per knob: with ``action="delta"`` they move each knob by
``action * action_scale * (high - low) / 2``; with ``"absolute"`` they set it. Observations
are the observed quantities and targets divided by their scales, the transmission, and
the knobs normalised to [-1, 1]. Reward: ``-sum(weight * |error| / tolerance)`` over the
targets, ``+success_bonus`` on success; a lost beam (a physical failure) costs
``loss_penalty`` and ends the episode (terminated); a technical failure truncates it and
is counted in ``info["technical_failures"]`` (per episode). Nothing a simulator does
crashes the env.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from .backends import make_backend
from .task import TaskConfig

#: Observations are clipped to +-OBS_LIMIT (scaled units).
OBS_LIMIT = 100.0


class BeamlineEnv(gym.Env):
    """A beam-tuning task as a gymnasium env (``env_config``: see :mod:`.task`)."""

    metadata = {"render_modes": []}

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        from .task import adige_task

        self.task = TaskConfig(**(dict(config) if config else adige_task()))
        self.backend = make_backend(self.task)
        n = len(self.task.knobs)
        self.low = np.array([k.low for k in self.task.knobs])
        self.high = np.array([k.high for k in self.task.knobs])
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n,), np.float32)
        size = len(self.task.observe) + len(self.task.targets) + 1 + n
        self.observation_space = gym.spaces.Box(-OBS_LIMIT, OBS_LIMIT, (size,), np.float32)
        self.values = (self.low + self.high) / 2
        self.steps = 0
        self.held = 0
        self.technical_failures = 0
        self.simulations = 0
        self._last_metrics: dict[str, float] = {}

    # -- helpers -----------------------------------------------------------------------
    def _normalised(self, values: np.ndarray) -> np.ndarray:
        return 2 * (values - self.low) / (self.high - self.low) - 1

    def _params(self) -> dict[str, float]:
        return {k.key: float(v) for k, v in zip(self.task.knobs, self.values)}

    def _observation(self, metrics: Mapping[str, float]) -> np.ndarray:
        parts = [metrics.get(o.metric, 0.0) / o.scale for o in self.task.observe]
        parts += [(metrics.get(t.metric, 0.0) - t.value) / t.scale for t in self.task.targets]
        parts.append(metrics.get("transmission", 0.0))
        obs = np.concatenate(
            [np.nan_to_num(np.array(parts, dtype=float)), self._normalised(self.values)]
        )
        return np.clip(obs, -OBS_LIMIT, OBS_LIMIT).astype(np.float32)

    def errors(self, metrics: Mapping[str, float]) -> np.ndarray:
        """|value - target| / tolerance for every target (inf when missing)."""
        return np.array(
            [abs(metrics.get(t.metric, np.inf) - t.value) / t.tolerance for t in self.task.targets]
        )

    def _simulate(self):
        self.simulations += 1
        return self.backend.evaluate(self._params())

    # -- gymnasium API ---------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        frac = self.task.reset_fraction
        centre = (self.low + self.high) / 2
        half = (self.high - self.low) / 2 * frac
        self.values = centre + self.np_random.uniform(-1, 1, len(self.low)) * half
        if options and "values" in options:
            self.values = np.clip(np.asarray(options["values"], dtype=float), self.low, self.high)
        self.steps = 0
        self.held = 0
        self.technical_failures = 0  # per episode (info)
        self.simulations = 0
        result = self._simulate()
        if not result.ok and result.status != "lost":
            self.technical_failures += 1
        self._last_metrics = result.metrics
        return self._observation(result.metrics), self._info(result)

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=float), -1.0, 1.0)
        if self.task.action == "delta":
            self.values = self.values + a * self.task.action_scale * (self.high - self.low) / 2
        else:
            self.values = self.low + (a + 1) / 2 * (self.high - self.low)
        self.values = np.clip(self.values, self.low, self.high)
        self.steps += 1
        result = self._simulate()
        truncated = self.steps >= self.task.max_steps
        if result.status == "lost":
            obs = self._observation(result.metrics)
            return obs, -self.task.loss_penalty, True, truncated, self._info(result)
        if not result.ok:
            self.technical_failures += 1
            obs = self._observation(self._last_metrics)
            return obs, 0.0, False, True, self._info(result)
        self._last_metrics = result.metrics
        errs = self.errors(result.metrics)
        weights = np.array([t.weight for t in self.task.targets])
        reward = -float(np.sum(weights * np.minimum(errs, 100.0))) / max(1, len(errs))
        ok = bool(
            np.all(errs <= 1.0)
            and result.metrics.get("transmission", 0.0) >= self.task.transmission_min
        )
        self.held = self.held + 1 if ok else 0
        terminated = self.held >= self.task.hold
        if terminated:
            reward += self.task.success_bonus
        info = self._info(result)
        info["success"] = terminated
        return self._observation(result.metrics), reward, terminated, truncated, info

    def _info(self, result) -> dict[str, Any]:
        return {
            "status": result.status,
            "success": False,
            "technical_failures": self.technical_failures,
            "simulations": self.simulations,
            "transmission": result.metrics.get("transmission", 0.0),
            "errors": self.errors(result.metrics).tolist() if result.metrics else [],
        }
