"""The hard tuning task's properties: hidden state that moves sizes, per-episode targets in
the observation, noisy screens, limited moves, success only when held, gymnasium ids."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy.optimize import least_squares

import accelerate_rl.rl  # noqa: F401  (registers the gymnasium ids)
from accelerate_rl.rl.hard_task import HardTuningEnv, HardVectorEnv, hard_task

MIDDLE = [0.0, 0.0, 0.0, 0.0, 2900.0, -3350.0]


@pytest.fixture(scope="module")
def env() -> HardTuningEnv:
    return HardTuningEnv(hard_task())


def _true(env: HardTuningEnv, column: str) -> float:
    return env._last_metrics[f"{column}@37"]


def test_the_hidden_beam_and_magnet_state_changes_sizes_at_the_same_knobs(env):
    sizes = []
    for seed in range(6):
        env.reset(seed=seed, options={"values": MIDDLE})
        sizes.append((_true(env, "SizeX"), _true(env, "SizeY")))
    spread = np.ptp(np.array(sizes), axis=0)
    assert np.all(spread > 2 * 0.15), spread  # wider than twice the size tolerance


def test_each_episode_has_its_own_targets_and_they_are_in_the_observation(env):
    obs_a, _ = env.reset(seed=1)
    targets_a = env.targets.copy()
    obs_b, _ = env.reset(seed=2)
    assert not np.allclose(targets_a, env.targets)
    scales = np.array([t.scale for t in env.task.targets])
    n_obs, n_t = len(env.task.observe), len(env.task.targets)
    assert np.allclose(obs_b[n_obs + n_t : n_obs + 2 * n_t], env.targets / scales, atol=1e-5)
    assert env.observation_space.contains(obs_b)


def test_screens_are_noisy_but_the_referee_is_not(env):
    env.reset(seed=3, options={"values": MIDDLE})
    first, truth = env.measured, dict(env._last_metrics)
    env.step(np.zeros(6))
    assert env._last_metrics["x0@37"] == truth["x0@37"]
    assert env.measured["x0@37"] != first["x0@37"]
    assert abs(env.measured["x0@37"] - truth["x0@37"]) < 5 * env.task.position_noise


def test_a_step_moves_each_knob_by_at_most_a_tenth_of_its_range(env):
    env.reset(seed=4, options={"values": MIDDLE})
    before = env.values.copy()
    env.step(np.full(6, 7.0))  # clipped to +1
    moved = (env.values - before) / (env.high - env.low)
    assert np.allclose(moved, 0.1)


def _solve(env: HardTuningEnv) -> np.ndarray:
    """Knob settings that meet this episode's targets on the true machine (an oracle)."""

    def signed(u):
        env.values = env.low + (u + 1) / 2 * (env.high - env.low)
        m = env.backend.evaluate(env._params()).metrics
        return [(m[t.metric] - v) / t.tolerance for t, v in zip(env.task.targets, env.targets)]

    u0 = 2 * (env.values - env.low) / (env.high - env.low) - 1
    sol = least_squares(signed, u0, bounds=(-1, 1), diff_step=1e-3)
    return env.low + (sol.x + 1) / 2 * (env.high - env.low)


def test_success_needs_the_targets_held_for_three_steps(env):
    env.reset(seed=5)
    solution = _solve(env)
    env.reset(seed=5, options={"values": solution})
    assert env.task.met(env._last_metrics, env.errors(env._last_metrics))
    ends = [env.step(np.zeros(6))[2] for _ in range(3)]
    assert ends == [False, False, True]


def test_the_vector_env_steps_hard_episodes_like_single_ones():
    vec = HardVectorEnv(hard_task(), num_envs=3)
    obs, _ = vec.reset(seed=10)
    single = HardTuningEnv(hard_task())
    for i in range(3):
        o, _ = single.reset(seed=10 + i)
        assert np.allclose(single.targets, vec.envs[i].targets)
        assert vec.envs[i].hidden == single.hidden


def _step_requests(num_envs: int, seed: int) -> list[dict]:
    """The requests a hard vector env sends for one step: one incoming beam each."""
    vec = HardVectorEnv(hard_task(), num_envs=num_envs)
    vec.reset(seed=seed)
    return [e._begin_step(np.full(6, 0.3, dtype=np.float32)) for e in vec.envs]


def test_a_hard_vector_step_is_one_engine_call_equal_to_single_runs():
    requests = _step_requests(5, seed=20)
    assert len({r["betx1"] for r in requests}) == 5  # every episode its own beam
    sim = HardTuningEnv(hard_task()).backend.sim
    singles = [sim.simulate(r) for r in requests]
    calls = []
    run = sim.engine.run
    sim.engine.run = lambda *a, **k: calls.append(1) or run(*a, **k)  # count single runs
    batched = sim.simulate_batch(requests)
    sim.engine.run = run
    assert not calls  # one batched envelope call, no run per request
    for one, many in zip(singles, batched):
        assert many.ok and set(many.metrics) >= set(one.metrics)
        for key in one.metrics:
            assert many.metrics[key] == pytest.approx(one.metrics[key], rel=1e-10, abs=1e-12)


@pytest.mark.usefixtures("ray_session")
def test_the_hard_vector_env_through_the_service_equals_in_process():
    from accelerate_rl.rl.backends import start_service
    from accelerate_rl.rl.hard_task import base_task

    with start_service(base_task(hard_task()), name="hard-test-service", slots=1, max_actors=1):
        remote = HardVectorEnv(hard_task(backend={"service": "hard-test-service"}), num_envs=3)
        local = HardVectorEnv(hard_task(), num_envs=3)
        np.testing.assert_allclose(remote.reset(seed=4)[0], local.reset(seed=4)[0], rtol=1e-7)
        acts = np.full((3, 6), -0.4, dtype=np.float32)
        for _ in range(2):
            r, l = remote.step(acts), local.step(acts)
            np.testing.assert_allclose(r[0], l[0], rtol=1e-7, atol=1e-7)
            np.testing.assert_allclose(r[1], l[1], rtol=1e-7)


def test_gymnasium_make_builds_the_registered_tasks():
    env = gym.make("accelerate_rl/AdigeHardTuning-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape
    mismatched = gym.make("accelerate_rl/AdigeHardTuningMismatched-v0").unwrapped
    mismatched.reset(seed=0)
    params = mismatched._params()
    assert params["partran"] == 1 and params["current1"] > 0
    assert {"ele[29][2]", "ele[31][2]"} <= {g.key for g in mismatched.task.gains}
    assert gym.make("accelerate_rl/AdigeTuning-v0").reset(seed=0)[0].shape == (13,)


def test_a_misspelt_hard_task_field_is_an_error_naming_it():
    with pytest.raises(ValueError, match="target_range"):
        HardTuningEnv(hard_task(target_range=[[0, 1]]))


def test_the_training_only_precision_bonus_pays_for_a_smaller_final_error():
    plain, shaped = HardTuningEnv(hard_task()), HardTuningEnv(hard_task(precision_bonus=10.0))
    assert "precision_bonus" not in hard_task()  # the benchmark's reward is BeamlineEnv's
    rewards = {}
    for name, e in (("plain", plain), ("shaped", shaped)):
        e.reset(seed=5)
        solution = _solve(e)
        e.reset(seed=5, options={"values": solution})
        for _ in range(3):
            _, reward, terminated, _, info = e.step(np.zeros(6))
        assert terminated and info["success"]
        rewards[name] = reward
    final = max(info["errors"])
    assert final < 1.0
    assert rewards["shaped"] == pytest.approx(rewards["plain"] + 10.0 * (1.0 - final))
