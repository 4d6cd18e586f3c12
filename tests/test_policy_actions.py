"""The deterministic action of a trained policy is its distribution's own: for SAC's
squashed Gaussian the tanh of the mean (the median of its samples), not the mean
clipped to [-1, 1], which RLlib's ``to_deterministic`` would give (a bang-bang policy)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray.rllib")
torch = pytest.importorskip("torch")

from accelerate_rl.examples import ADIGE_DEMO  # noqa: E402
from accelerate_rl.rl import BeamlineEnv  # noqa: E402
from accelerate_rl.rl.algorithms import sac_config  # noqa: E402
from accelerate_rl.rl.evaluation import RLlibPolicy  # noqa: E402
from accelerate_rl.rl.policy_file import PolicyFile, export_policy  # noqa: E402

TASK = {
    "project": str(ADIGE_DEMO),
    "knobs": [{"key": "ele[5][1]", "low": -150.0, "high": 150.0}],
    "targets": [{"column": "x0", "element": 37, "value": 0.8, "tolerance": 0.1}],
    "max_steps": 1,
    "action": "absolute",
}


@pytest.fixture(scope="module")
def sac_module():
    """An untrained SAC module whose policy mean is 2.0 for every observation (pre-tanh)."""
    env = BeamlineEnv(TASK)
    previous = torch.get_default_dtype()  # another test module may leave it float64
    torch.set_default_dtype(torch.float32)  # as RLlib builds modules in training
    try:
        module = sac_config(TASK, num_env_runners=0, hiddens=(8, 8)).get_rl_module_spec(env=env)
        module = module.build()
    finally:
        torch.set_default_dtype(previous)
    head = module.pi.net.mlp[0]  # (mean, log std) of the one action
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([2.0, -1.0]))
    return module, env.observation_space.shape[0]


def test_the_sac_policy_acts_with_the_squashed_mean(sac_module):
    module, obs_size = sac_module
    policy = RLlibPolicy(module)
    obs = np.random.default_rng(0).normal(size=(5, obs_size)).astype(np.float32)
    action = policy(obs)
    np.testing.assert_allclose(action, np.tanh(2.0), rtol=1e-6)  # 0.964, not clipped 1.0
    # independent of our formula: the median of the distribution's own samples
    out = module.forward_inference({"obs": torch.as_tensor(obs[:1])})
    dist = policy.dist.from_logits(out["action_dist_inputs"])
    samples = dist.sample(sample_shape=(20_001,)).numpy().ravel()
    assert np.median(samples) == pytest.approx(np.tanh(2.0), abs=0.01)


def test_an_exported_sac_policy_file_acts_the_same(sac_module, tmp_path):
    module, obs_size = sac_module
    checkpoint = tmp_path / "checkpoint"
    module.save_to_path(
        str(checkpoint / "learner_group" / "learner" / "rl_module" / "default_policy")
    )
    path = export_policy(checkpoint, tmp_path / "sac.pt", obs_size=obs_size)
    obs = np.zeros((3, obs_size), np.float32)
    np.testing.assert_allclose(PolicyFile(path)(obs), np.tanh(2.0), rtol=1e-6)
