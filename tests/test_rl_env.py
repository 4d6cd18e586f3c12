"""BeamlineEnv: gymnasium's checker, the benchmark task, failures, the service backend."""

from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from accelerate_rl.rl import (  # noqa: E402
    BeamlineEnv,
    BeamlineVectorEnv,
    adige_task,
    start_service,
)


def test_passes_gymnasiums_env_checker():
    check_env(BeamlineEnv(adige_task()), skip_render_check=True)


def test_bad_task_configs_are_rejected_with_the_field_named():
    with pytest.raises(ValueError, match="high"):
        BeamlineEnv(adige_task(knobs=[{"key": "ele[5][1]", "low": 5, "high": -5}]))
    with pytest.raises(ValueError, match="project"):
        BeamlineEnv(adige_task(project="nowhere.toml"))
    with pytest.raises(ValueError, match="max_step"):  # a misspelt field is not ignored
        BeamlineEnv(adige_task(max_step=3))
    with pytest.raises(ValueError, match=r"disturbance ele\[7\]\[1\]: not a knob"):
        BeamlineEnv(adige_task(disturbances=[{"key": "ele[7][1]", "low": -1, "high": 1}]))


def test_same_seed_same_episode():
    a, b = BeamlineEnv(adige_task()), BeamlineEnv(adige_task())
    oa, _ = a.reset(seed=5)
    ob, _ = b.reset(seed=5)
    np.testing.assert_array_equal(oa, ob)
    act = np.full(a.action_space.shape, 0.1, dtype=np.float32)
    assert a.step(act)[1] == b.step(act)[1]


def _one_step_action(env, start, target):
    return (np.array(target) - np.array(start)) / (env.task.action_scale * (env.high - env.low) / 2)


def test_the_task_is_solvable_and_success_terminates_with_a_bonus():
    """Without field errors, zeroing the steerers at the nominal optics meets every
    target in one step."""
    env = BeamlineEnv(adige_task())
    start = [100.0, -100.0, 50.0, 80.0, 2763.0, -3364.0]
    env.reset(seed=0, options={"values": start, "offsets": [0, 0, 0, 0]})
    action = _one_step_action(env, start, [0.0, 0.0, 0.0, 0.0, 2763.0, -3364.0])
    obs, reward, terminated, truncated, info = env.step(action)
    assert terminated and info["success"] and reward > 0, info


def test_hidden_field_errors_move_the_beam_so_the_agent_must_observe():
    """The same knob settings with other hidden offsets miss the target; compensating
    the offsets (knob = -offset) hits it again."""
    env = BeamlineEnv(adige_task())
    start = [100.0, -100.0, 50.0, 80.0, 2763.0, -3364.0]
    offsets = [60.0, -50.0, 70.0, 60.0]
    env.reset(seed=0, options={"values": start, "offsets": offsets})
    zeroed = [0.0, 0.0, 0.0, 0.0, 2763.0, -3364.0]
    _, _, terminated, _, info = env.step(_one_step_action(env, start, zeroed))
    assert not terminated and max(info["errors"][:2]) > 1.0, info
    compensated = [-60.0, 50.0, -70.0, -60.0, 2763.0, -3364.0]
    _, _, terminated, _, info = env.step(_one_step_action(env, zeroed, compensated))
    assert terminated and info["success"], info


def test_a_lost_beam_is_penalised_and_terminates():
    task = adige_task(
        knobs=[{"key": "ele[5][1]", "low": -50000.0, "high": 50000.0}],
        disturbances=[],
        action="absolute",
    )
    env = BeamlineEnv(task)
    env.reset(seed=0, options={"values": [0.0]})
    obs, reward, terminated, truncated, info = env.step(np.array([1.0], dtype=np.float32))
    assert terminated and reward == -env.task.loss_penalty and info["status"] == "lost"
    assert np.all(np.isfinite(obs))


def test_vector_env_equals_single_envs_step_for_step_with_next_step_autoreset():
    """Sub-env i of a BeamlineVectorEnv seeded s is a BeamlineEnv seeded s + i, through
    episode ends (the step after one resets it and ignores its action)."""
    n = 5
    vec = BeamlineVectorEnv(adige_task(max_steps=2), num_envs=n)
    singles = [BeamlineEnv(adige_task(max_steps=2)) for _ in range(n)]
    obs, infos = vec.reset(seed=11)
    assert obs.shape == (n, *vec.single_observation_space.shape)
    for i, env in enumerate(singles):
        np.testing.assert_allclose(obs[i], env.reset(seed=11 + i)[0], rtol=1e-9, atol=1e-9)
    rng = np.random.default_rng(0)
    done = np.zeros(n, bool)
    for _ in range(5):
        actions = rng.uniform(-0.3, 0.3, (n, 6)).astype(np.float32)
        obs, rew, term, trunc, infos = vec.step(actions)
        for i, env in enumerate(singles):
            if done[i]:  # the autoreset step: same as a fresh unseeded reset
                expect, _ = env.reset()
                assert rew[i] == 0 and not term[i] and not trunc[i]
            else:
                expect, r, t, tr, _ = env.step(actions[i])
                assert (rew[i], term[i], trunc[i]) == pytest.approx((r, t, tr))
            np.testing.assert_allclose(obs[i], expect, rtol=1e-9, atol=1e-9)
        done = term | trunc
    assert "status" in infos and len(infos["status"]) == n
    assert vec.observation_space.contains(obs)


def test_rllib_env_creator_builds_a_vector_env_from_num_envs():
    from accelerate_rl.rl.env import make_env

    vec = make_env({**adige_task(), "num_envs": 3})
    assert isinstance(vec, BeamlineVectorEnv) and vec.num_envs == 3
    assert isinstance(make_env(adige_task()), BeamlineEnv)


def test_episodes_truncate_at_max_steps():
    env = BeamlineEnv(adige_task(max_steps=3))
    env.reset(seed=1)
    flags = [env.step(np.zeros(6, dtype=np.float32))[3] for _ in range(3)]
    assert flags == [False, False, True]


@pytest.mark.usefixtures("ray_session")
def test_env_through_the_named_service_matches_in_process_and_counts_failures():
    task = adige_task()
    with start_service(task, name="rl-test-service", slots=2, max_actors=1):
        remote = BeamlineEnv(adige_task(backend={"service": "rl-test-service"}))
        local = BeamlineEnv(task)
        o1, _ = remote.reset(seed=3)
        o2, _ = local.reset(seed=3)
        np.testing.assert_allclose(o1, o2, rtol=1e-9)
        act = np.full(6, -0.2, dtype=np.float32)
        np.testing.assert_allclose(remote.step(act)[0], local.step(act)[0], rtol=1e-9)
        # the batched variant through the service equals in-process too
        vr = BeamlineVectorEnv(adige_task(backend={"service": "rl-test-service"}), num_envs=4)
        vl = BeamlineVectorEnv(task, num_envs=4)
        np.testing.assert_allclose(vr.reset(seed=2)[0], vl.reset(seed=2)[0], rtol=1e-9)
        acts = np.full((4, 6), 0.1, dtype=np.float32)
        np.testing.assert_allclose(vr.step(acts)[0], vl.step(acts)[0], rtol=1e-9)
    # a technical failure (here: the service is gone) truncates the episode and is counted
    orphan = start_service(task, name="rl-gone-service", slots=1, max_actors=1)
    env = BeamlineEnv(adige_task(backend={"service": "rl-gone-service"}, service_deadline=3))
    env.reset(seed=0)
    orphan.shutdown()
    obs, reward, terminated, truncated, info = env.step(np.zeros(6, dtype=np.float32))
    assert truncated and not terminated and info["technical_failures"] == 1, info
    assert info["status"] == "failed" and np.all(np.isfinite(obs))
