"""RLlib hyperparameter search with Ray Tune and ASHA: every trial is an Algorithm whose
env runners use the shared simulation service.

Resources: a trial takes 1 CPU for its algorithm (and learner) plus 1 per env runner; the
service's actors take none, so trials never deadlock waiting for CPUs the service holds.
With ``num_env_runners=0`` (the default here) a trial samples in its own process and
``floor(CPUs)`` trials run at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..external.errors import brief
from ..rl.algorithms import ALGORITHMS

#: The result Tune's scheduler ranks trials by.
METRIC = "env_runners/episode_return_mean"

#: The PPO search space (AlgorithmConfig.training arguments) of ``search_space("ppo")``.
PPO_SPACE = {"lr": ("loguniform", 1e-4, 1e-3), "gamma": ("choice", [0.8, 0.9, 0.95])}
SAC_SPACE = {"actor_lr": ("loguniform", 1e-4, 1e-3), "gamma": ("choice", [0.8, 0.9, 0.95])}


def search_space(spec: Mapping[str, tuple]) -> dict[str, Any]:
    """Tune sampling objects from ``{name: ("loguniform", low, high) | ("uniform", low,
    high) | ("choice", [values])}``."""
    from ray import tune

    kinds = {"loguniform": tune.loguniform, "uniform": tune.uniform, "choice": tune.choice}
    out = {}
    for name, (kind, *args) in spec.items():
        if kind not in kinds:
            raise ValueError(f"{name}: unknown distribution {kind!r}; use {sorted(kinds)}")
        out[name] = kinds[kind](*args)
    return out


def tune_algorithm(
    task: Mapping[str, Any],
    algo: str = "ppo",
    *,
    service: str,
    space: Mapping[str, tuple] | None = None,
    num_samples: int = 8,
    max_iterations: int = 60,
    grace_period: int = 10,
    reduction_factor: int = 3,
    algo_options: Mapping[str, Any] | None = None,
    storage: str | Path = "/tmp/accelerate-rl/tune-rl",
    name: str = "tune-rl",
    seed: int = 0,
) -> pd.DataFrame:
    """ASHA over ``space`` (default PPO_SPACE / SAC_SPACE): ``num_samples`` trials of at
    most ``max_iterations`` training iterations, the worse ones stopped at rungs from
    ``grace_period``. One row per trial: its hyperparameters, iterations, env steps, the
    last mean return and episode length, and its checkpoint-free final status."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    if algo not in ALGORITHMS:
        raise ValueError(f"algo {algo!r}: use one of {sorted(ALGORITHMS)}")
    options = {"num_env_runners": 0, "seed": seed, **dict(algo_options or {})}
    config = ALGORITHMS[algo](task, service=service, **options)
    spec = dict(space or (PPO_SPACE if algo == "ppo" else SAC_SPACE))
    config = config.training(**search_space(spec))
    scheduler = ASHAScheduler(
        time_attr="training_iteration",
        max_t=max_iterations,
        grace_period=min(grace_period, max_iterations),
        reduction_factor=reduction_factor,
    )
    tuner = tune.Tuner(
        config.algo_class,
        param_space=config,
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="max", scheduler=scheduler, num_samples=num_samples
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(Path(storage).resolve()),
            stop={"training_iteration": max_iterations},
            verbose=0,
        ),
    )
    grid = tuner.fit()
    rows = []
    for result in grid:
        metrics = result.metrics or {}
        runners = metrics.get("env_runners", {})
        rows.append(
            {
                **{k: (result.config or {}).get(k) for k in spec},
                "iterations": metrics.get("training_iteration"),
                "env_steps": metrics.get("num_env_steps_sampled_lifetime"),
                "return_mean": runners.get("episode_return_mean"),
                "len_mean": runners.get("episode_len_mean"),
                "error": None if result.error is None else brief(result.error, 500),
            }
        )
    return pd.DataFrame(rows)
