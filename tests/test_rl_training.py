"""RLlib and Tune through the shared simulation service on a real local Ray: short PPO
and SAC runs that improve, checkpoints and resume, evaluation, Tune trials sharing the
service without a CPU deadlock."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.rllib")
pytest.importorskip("torch")

from accelerate_rl.rl import adige_task, start_service  # noqa: E402
from accelerate_rl.rl.algorithms import env_config, ppo_config, sac_config  # noqa: E402
from accelerate_rl.rl.evaluation import RLlibPolicy, evaluate  # noqa: E402

pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]
SERVICE = "rl-training-service"
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def service():
    with start_service(adige_task(), name=SERVICE, slots=1, max_actors=1) as pool:
        yield pool


def _served_requests(pool) -> int:
    return sum(a.get("runs", 0) for a in pool.stats()["per_actor"].values())


def _final_error(algo, episodes: int = 64) -> float:
    """Mean final largest error / tolerance of the deterministic policy (in-process)."""
    policy = RLlibPolicy(algo.get_module())
    return evaluate(policy, env_config(adige_task()), episodes=episodes, seed=777)[
        "final_error_mean"
    ]


def _improved(returns: list[float], by: float = 5.0) -> bool:
    """The mean of the last three iterations' returns beats the first three's by ``by``."""
    return len(returns) >= 6 and np.mean(returns[-3:]) > np.mean(returns[:3]) + by


def _train(config, iterations: int) -> tuple[list[float], float, float]:
    algo = config.build_algo()
    try:
        before = _final_error(algo)
        returns = []
        for _ in range(iterations):
            result = algo.train()
            value = result["env_runners"].get("episode_return_mean")
            if value is not None and np.isfinite(value):
                returns.append(float(value))
        return returns, before, _final_error(algo)
    finally:
        algo.stop()


def test_ppo_env_runners_on_the_service_improve_the_policy(service):
    served = _served_requests(service)
    config = ppo_config(service=SERVICE, num_envs_per_env_runner=32, train_batch_size=2048, seed=1)
    returns, before, after = _train(config, iterations=8)
    assert _served_requests(service) >= served + 8 * 2048  # every env step on the service
    assert _improved(returns), returns
    assert after < before, (before, after)


@pytest.mark.timeout(1200)  # 40 SAC iterations: about 4 min alone, over 300 s under load
def test_sac_env_runners_on_the_service_improve_the_policy(service):
    served = _served_requests(service)
    config = sac_config(service=SERVICE, num_envs_per_env_runner=8, learning_starts=512, seed=1)
    returns, before, after = _train(config, iterations=40)
    assert _served_requests(service) > served
    assert _improved(returns), returns
    assert after < before, (before, after)


def _experiment(name: str):
    """An ``experiments/`` script as a module (its ``main(argv)`` runs in this process,
    on the session's Ray)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_rl_checkpoints_resumes_and_evaluate_rl_reports_json(tmp_path, capsys):
    train = _experiment("train_rl")
    out = tmp_path / "ppo"
    common = ["--out", str(out), "--train-batch-size", "512", "--num-envs", "16"]
    first = train.main([*common, "--max-iterations", "2", "--checkpoint-every", "1"])
    assert first["iteration"] == 2 and (out / "checkpoint").is_dir()
    assert not (out / "checkpoint.tmp").exists()
    second = train.main([*common, "--max-iterations", "3"])  # resumes: one more iteration
    assert second["iteration"] == 3 and second["env_steps"] > first["env_steps"]
    assert '"resumed"' in capsys.readouterr().out

    report = _experiment("evaluate_rl").main(
        [
            "--checkpoint",
            str(out / "checkpoint"),
            "--episodes",
            "100",
            "--out",
            str(tmp_path / "eval.json"),
        ]
    )
    assert json.loads((tmp_path / "eval.json").read_text()) == report
    assert report["episodes"] == 100 and report["backend"] == "service"
    assert 0.0 <= report["success_rate"] <= 1.0 and report["technical_failures"] == 0
    assert 1.0 <= report["steps_mean"] <= 10.0 and report["env_steps_per_s"] > 0
    with pytest.raises(FileNotFoundError, match="not an RLlib algorithm checkpoint"):
        RLlibPolicy.from_checkpoint(tmp_path)


def test_tune_setpoint_search_trials_share_the_service_and_write_parquet(service, tmp_path):
    """Several Tune trials at once, each a simulation on the service (0 CPUs), with
    fractional-CPU trials: no deadlock; a search that meets the target stops early."""
    import pandas as pd

    from accelerate_rl.tune import search_episode, summarise

    served = _served_requests(service)
    frames = [
        search_episode(
            adige_task(),
            name,
            service=SERVICE,
            seed=5,
            budget=12,
            concurrency=3,
            storage=tmp_path / "tune",
        )
        for name in ("optuna", "random", "grid")
    ]
    trials = pd.concat(frames, ignore_index=True)
    assert _served_requests(service) >= served + len(trials)
    for frame in frames:
        assert 1 <= len(frame) <= 12 + 3  # the budget, plus trials running at the stop
        assert list(frame["order"]) == list(range(1, len(frame) + 1))
        assert set(frame["status"]) <= {"ok", "lost"}
    # Optuna and random search start from the episode's initial settings
    from accelerate_rl.tune.setpoints import episode

    initial, _ = episode(adige_task(), 5)
    for frame in frames[:2]:
        points = frame[list(initial)].to_numpy()
        assert np.any(np.all(np.isclose(points, list(initial.values())), axis=1))
    summary = summarise(trials, budget=12)
    assert list(summary["searcher"]) == ["optuna", "random", "grid"]
    path = tmp_path / "trials.parquet"
    trials.to_parquet(path)
    assert len(pd.read_parquet(path)) == len(trials)


def test_a_search_that_meets_the_target_stops_at_the_first_success(service, tmp_path):
    """An easy task (wide tolerances): the first point already succeeds and the search
    stops there instead of spending its budget."""
    from accelerate_rl.tune import search_episode

    task = adige_task()
    for target in task["targets"]:
        target["tolerance"] = 100.0
    frame = search_episode(
        task,
        "random",
        service=SERVICE,
        seed=3,
        budget=50,
        concurrency=1,
        storage=tmp_path / "tune",
    )
    assert bool(frame["success"].iloc[0]) and len(frame) <= 2


def test_tune_rl_asha_trials_on_the_service_complete_without_deadlock(service, tmp_path):
    from accelerate_rl.tune.hyperparameters import tune_algorithm

    trials = tune_algorithm(
        adige_task(),
        "ppo",
        service=SERVICE,
        num_samples=3,
        max_iterations=2,
        grace_period=1,
        algo_options={"train_batch_size": 256, "num_envs_per_env_runner": 8},
        storage=tmp_path / "tune-rl",
    )
    assert len(trials) == 3 and trials["error"].isna().all(), trials
    assert (trials["iterations"] >= 1).all() and trials["return_mean"].notna().all()
    assert trials["lr"].between(1e-4, 1e-3).all()
