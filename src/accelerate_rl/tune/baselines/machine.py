"""The machine a classical controller tunes: one episode of a hard-task env, driven with
the same limited moves an RL agent has, every measurement one simulation on the env's
backend (in-process or the service), counted the same way.

A controller only sees what an operator sees: the knob settings, the noisy screen
readings (``measured``), the requested values (``targets``) and the transmission. The env
stays the referee: it ends the episode when the true beam met every target for ``hold``
steps, or at ``max_steps``.

    machine = Machine(HardTuningEnv(hard_task()))
    machine.reset(seed=2_000_000)
    machine.move_to(machine.values + 10.0)   # several steps if the move is large
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...rl.hard_task import HardTuningEnv


class EpisodeOver(Exception):
    """The env ended the episode (success held, beam lost or step budget used)."""


@dataclass
class Trial:
    """One episode's outcome: steps (simulations after the reset), simulations (with the
    reset), final_error (largest true |error| / tolerance at the end), travel (knob path
    length in units of each knob's range, summed over knobs), model_simulations (runs of
    a controller's own design model, not of the machine)."""

    seed: int
    success: bool
    steps: int
    simulations: int
    final_error: float
    travel: float
    model_simulations: int = 0


class Machine:
    """A HardTuningEnv episode seen as a machine (see the module docstring)."""

    def __init__(self, env: HardTuningEnv) -> None:
        self.env = env
        self.low, self.high = env.low, env.high
        self.tolerances = np.array([t.tolerance for t in env.task.targets])
        self.model_simulations = 0
        self._max_move = env.task.action_scale * (self.high - self.low) / 2

    # -- what the operator sees ---------------------------------------------------------
    @property
    def values(self) -> np.ndarray:
        """The knob settings (each knob's units)."""
        return self.env.values.copy()

    @property
    def targets(self) -> np.ndarray:
        return self.env.targets.copy()

    @property
    def measured(self) -> dict[str, float]:
        """The last noisy readings of every observed and target metric (mm)."""
        return dict(self.env.measured)

    obs: np.ndarray  # the env's last observation (what an RL policy sees)

    @property
    def transmission(self) -> float:
        return float(self._info.get("transmission", 0.0))

    def residuals(self, measured: Mapping[str, float] | None = None) -> np.ndarray:
        """(measured - requested) / tolerance for every target."""
        m = self.measured if measured is None else measured
        return np.array(
            [(m[t.metric] - v) / t.tolerance for t, v in zip(self.env.task.targets, self.targets)]
        )

    def score(self) -> float:
        """Sum of squared residuals plus a transmission penalty (what searches minimise)."""
        shortfall = max(0.0, self.env.task.transmission_min - self.transmission)
        return float(np.sum(self.residuals() ** 2) + (100.0 * shortfall / 0.01) ** 2)

    def in_tolerance(self) -> bool:
        """Every measured target within tolerance and enough transmission."""
        return bool(
            np.all(np.abs(self.residuals()) <= 1.0)
            and self.transmission >= self.env.task.transmission_min
        )

    # -- acting -------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        self.seed = seed
        self.done = False
        self.success = False
        self.travel = 0.0
        self.model_simulations = 0
        self.obs, self._info = self.env.reset(seed=seed)
        self.start = self.values

    def step(self, action: np.ndarray) -> None:
        """One env step with a normalised delta action (one simulation)."""
        if self.done:
            raise EpisodeOver
        before = self.env.values.copy()
        self.obs, _, terminated, truncated, self._info = self.env.step(np.asarray(action, float))
        self.travel += float(np.sum(np.abs(self.env.values - before) / (self.high - self.low)))
        if terminated or truncated:
            self.done = True
            self.success = bool(self._info.get("success"))
            raise EpisodeOver

    def move_to(self, values: np.ndarray) -> None:
        """Ramp the knobs to ``values`` (clipped to their ranges) within the move limit:
        as many steps as the largest move needs (at least one: a measurement)."""
        goal = np.clip(np.asarray(values, float), self.low, self.high)
        while True:
            delta = (goal - self.env.values) / self._max_move
            self.step(np.clip(delta, -1.0, 1.0))
            if np.all(np.abs(goal - self.env.values) <= 1e-9 * (self.high - self.low)):
                return

    def hold(self) -> None:
        """Measure again without moving (one step)."""
        self.step(np.zeros(len(self.low)))

    def normalised(self, values: np.ndarray) -> np.ndarray:
        return 2 * (np.asarray(values) - self.low) / (self.high - self.low) - 1

    def physical(self, u: np.ndarray) -> np.ndarray:
        return self.low + (np.clip(u, -1, 1) + 1) / 2 * (self.high - self.low)

    def settle(self) -> None:
        """Hold while the readings stay in tolerance (the env ends the episode on a held
        success); returns when they leave it (noise or a false in-tolerance reading)."""
        while self.in_tolerance():
            self.hold()

    def trial(self) -> Trial:
        """The finished episode's outcome (call after EpisodeOver)."""
        errors = self._info.get("errors") or [np.inf]
        return Trial(
            seed=self.seed,
            success=self.success,
            steps=self.env.steps,
            simulations=self.env.simulations,
            final_error=float(np.max(errors)),
            travel=self.travel,
            model_simulations=self.model_simulations,
        )


class PolicyController:
    """An RL policy (``(B, obs) -> (B, act)``) as a controller: one action a step from the
    env's observation, so RL is run and counted exactly as the baselines are."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def __call__(self, machine: Machine) -> None:
        while True:
            machine.step(self.policy(machine.obs[None])[0])


def run_trial(controller: Any, machine: Machine, seed: int) -> Trial:
    """Reset the machine with ``seed`` and let ``controller(machine)`` act to the end."""
    machine.reset(seed)
    try:
        controller(machine)
        while True:  # a controller that gives up holds its last setting to the end
            machine.hold()
    except EpisodeOver:
        pass
    return machine.trial()
