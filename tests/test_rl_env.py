"""BeamlineEnv: gymnasium's checker, the benchmark task, failures, the service backend."""

from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from accelerate_rl.rl import BeamlineEnv, adige_task, start_service  # noqa: E402


def test_passes_gymnasiums_env_checker():
    check_env(BeamlineEnv(adige_task()), skip_render_check=True)


def test_bad_task_configs_are_rejected_with_the_field_named():
    with pytest.raises(ValueError, match="high"):
        BeamlineEnv(adige_task(knobs=[{"key": "ele[5][1]", "low": 5, "high": -5}]))
    with pytest.raises(ValueError, match="project"):
        BeamlineEnv(adige_task(project="nowhere.toml"))


def test_same_seed_same_episode():
    a, b = BeamlineEnv(adige_task()), BeamlineEnv(adige_task())
    oa, _ = a.reset(seed=5)
    ob, _ = b.reset(seed=5)
    np.testing.assert_array_equal(oa, ob)
    act = np.full(a.action_space.shape, 0.1, dtype=np.float32)
    assert a.step(act)[1] == b.step(act)[1]


def test_the_task_is_solvable_and_success_terminates_with_a_bonus():
    """From the nominal optics, zeroing the steerers meets every target in one step."""
    env = BeamlineEnv(adige_task())
    knobs = env.task.knobs
    start = [100.0, -100.0, 50.0, 80.0, 2763.0, -3364.0]
    env.reset(seed=0, options={"values": start})
    target = np.array([0.0, 0.0, 0.0, 0.0, 2763.0, -3364.0])
    action = (target - np.array(start)) / ((env.high - env.low) / 2)
    obs, reward, terminated, truncated, info = env.step(action)
    assert terminated and info["success"] and reward > 0, info
    assert len(knobs) == 6


def test_a_lost_beam_is_penalised_and_terminates():
    task = adige_task(
        knobs=[{"key": "ele[5][1]", "low": -50000.0, "high": 50000.0}], action="absolute"
    )
    env = BeamlineEnv(task)
    env.reset(seed=0, options={"values": [0.0]})
    obs, reward, terminated, truncated, info = env.step(np.array([1.0], dtype=np.float32))
    assert terminated and reward == -env.task.loss_penalty and info["status"] == "lost"
    assert np.all(np.isfinite(obs))


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
        # a technical failure (here: an impossible timeout) truncates and is counted
        slow = BeamlineEnv(adige_task(backend={"service": "rl-test-service"}, timeout=1e-9))
        slow.reset(seed=0)
        obs, reward, terminated, truncated, info = slow.step(act)
        assert truncated and not terminated and info["technical_failures"] >= 1
        assert info["status"] == "timeout"
