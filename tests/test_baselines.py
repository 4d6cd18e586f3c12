"""Every classical baseline runs a hard-task episode on a real backend, moves within the
agent's limits and is counted the same way (steps, simulations, model runs apart)."""

from __future__ import annotations

import numpy as np
import pytest

from accelerate_rl.rl.hard_task import HardTuningEnv, base_task, hard_task
from accelerate_rl.tune.baselines import CONTROLLERS, Machine, run_trial

SEED = 2_000_001  # an episode the model-based baselines solve (checked below)


class _Recorder(Machine):
    """A Machine that also records every step's knob change (normalised to the range)."""

    def step(self, action):
        if self.done:  # refused without a simulation
            return super().step(action)
        before = self.env.values.copy()
        try:
            super().step(action)
        finally:
            self.moves.append((self.env.values - before) / (self.high - self.low))

    def reset(self, seed):
        self.moves = []
        super().reset(seed)


@pytest.mark.parametrize("name", list(CONTROLLERS))
def test_each_baseline_runs_an_episode_within_the_move_limits(name):
    task = hard_task()
    machine = _Recorder(HardTuningEnv(task))
    trial = run_trial(CONTROLLERS[name](task), machine, SEED)
    assert 1 <= trial.steps <= task["max_steps"]
    assert trial.simulations == trial.steps + 1  # the reset is a simulation too
    assert len(machine.moves) == trial.steps
    assert np.max(np.abs(machine.moves)) <= 0.1 + 1e-9  # 10 % of a knob's range per step
    assert np.isfinite(trial.final_error)
    if name == "do-nothing":
        assert trial.travel == 0 and trial.steps == task["max_steps"] and not trial.success
    if name in ("design-inverse", "gauss-newton"):
        assert trial.success and trial.final_error <= 1.0
    assert (trial.model_simulations > 0) == (name == "design-inverse")


def test_xopt_s_float64_default_stays_inside_its_baseline_run():
    """Importing Xopt's Bayesian generators sets torch's default dtype to float64 for the
    process; after the baseline's episode the caller's default is back (an RLlib module
    built next would otherwise be float64)."""
    pytest.importorskip("xopt")
    import torch

    dtype = torch.get_default_dtype()
    task = hard_task()
    run_trial(CONTROLLERS["bayes-opt-xopt"](task), Machine(HardTuningEnv(task)), SEED)
    assert torch.get_default_dtype() == dtype


@pytest.mark.usefixtures("ray_session")
def test_a_baseline_through_the_service_gives_the_in_process_trial():
    from accelerate_rl.rl.backends import start_service

    task = hard_task()
    local = run_trial(CONTROLLERS["gauss-newton"](task), Machine(HardTuningEnv(task)), SEED)
    pool = start_service(base_task(task), name="baselines-test")
    try:
        served = hard_task(backend={"service": "baselines-test"})
        remote = run_trial(
            CONTROLLERS["gauss-newton"](served), Machine(HardTuningEnv(served)), SEED
        )
    finally:
        pool.shutdown()
    assert remote == local
