"""The committed hard-task policy loads with torch alone and tunes through the same
Machine the classical baselines use; evaluate_rl.py evaluates the file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from accelerate_rl.rl.hard_task import HardTuningEnv, hard_task
from accelerate_rl.rl.policy_file import PolicyFile, load_policy
from accelerate_rl.tune.baselines import Machine, PolicyController, run_trial

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "experiments" / "policies" / "hard_ppo.pt"
pytestmark = pytest.mark.skipif(not POLICY.is_file(), reason="no committed policy")


def test_the_committed_policy_maps_observations_to_bounded_actions():
    policy = load_policy(POLICY)
    assert isinstance(policy, PolicyFile)
    env = HardTuningEnv(hard_task())
    obs = np.stack([env.reset(seed=s)[0] for s in range(5)])
    actions = policy(obs)
    assert actions.shape == (5, 6) and np.all(np.abs(actions) <= 1.0)
    assert not np.allclose(actions[0], actions[1])  # it reads its observations


def test_the_committed_policy_runs_an_episode_like_a_baseline():
    trial = run_trial(PolicyController(load_policy(POLICY)), Machine(HardTuningEnv(hard_task())), 7)
    assert 1 <= trial.steps <= 40 and trial.simulations == trial.steps + 1
    assert trial.travel > 0


def test_evaluate_rl_evaluates_a_policy_file(tmp_path):
    sys.path.insert(0, str(ROOT / "experiments"))
    import evaluate_rl

    out = tmp_path / "eval.json"
    report = evaluate_rl.main(
        [
            "--policy",
            str(POLICY),
            "--hard",
            "design",
            "--episodes",
            "4",
            "--inprocess",
            "--out",
            str(out),
        ]
    )
    assert report["episodes"] == 4 and 0.0 <= report["success_rate"] <= 1.0
    assert json.loads(out.read_text())["checkpoint"] == str(POLICY)


def test_a_missing_policy_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        PolicyFile(tmp_path / "nope.pt")
