"""Direct setpoint search on a beam-tuning task with Ray Tune: the optimisation baselines
RL is compared with (Bayesian optimisation with Optuna's TPE, random search, grid search).

An episode is the same as the RL environment's with the same seed: its hidden field errors
come from ``BeamlineEnv.reset(seed)``, and its initial settings are the first point the
Optuna and random searchers evaluate. Each trial sets every knob (absolute values) and
runs one simulation on the shared service (trials never start simulators of their own);
an episode's search stops at the first trial that meets every target or after ``budget``
trials. ``simulations`` counts the trials finished until the first success, in the order
they finished.

    frame = search_episode(adige_task(), "optuna", service="beamline", seed=1_000_000)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ray import tune
from ray.tune import Stopper

from ..rl.backends import check_metrics
from ..rl.env import BeamlineEnv
from ..rl.task import TaskConfig

SEARCHERS = ("optuna", "random", "grid")
#: Score of a trial whose simulation failed or lost the beam.
FAILED_SCORE = 1000.0


def episode(task: Mapping[str, Any], seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """The initial knob settings and hidden offsets of the env's episode seeded ``seed``."""
    env = BeamlineEnv(task, backend=_NoSimulations())
    env._begin_reset(seed, None)
    keys = [k.key for k in env.task.knobs]
    return dict(zip(keys, env.values.tolist())), dict(zip(keys, env.offsets.tolist()))


class _NoSimulations:
    """The backend of an env used only for its reset distribution."""

    def evaluate(self, params):  # pragma: no cover - never called
        raise RuntimeError("this env only draws episodes")


def score(task: TaskConfig, result) -> float:
    """What the searchers minimise: the largest |error| / tolerance over the targets, plus
    10 per unit of transmission missing below ``transmission_min``; FAILED_SCORE for a
    failed simulation or a lost beam. A setting meets the task iff its score is <= 1."""
    if not result.ok:
        return FAILED_SCORE
    shortfall = max(0.0, task.transmission_min - result.metrics.get("transmission", 0.0))
    return float(np.max(task.errors(result.metrics)) + 10.0 * shortfall)


_CLIENTS: dict[str, Any] = {}


def _service(name: str):
    """A client of the named service, one per trial process (trials reuse processes)."""
    if name not in _CLIENTS:
        from ..runtime import SimulationPool

        _CLIENTS[name] = SimulationPool.connect(name)
    return _CLIENTS[name]


def _trial(config: dict[str, Any], *, task: dict, service: str, offsets: dict) -> None:
    """One Tune trial: the knobs in ``config`` (+ the hidden offsets), one simulation."""
    spec = TaskConfig(**task)
    params = {k.key: float(config[k.key]) + offsets.get(k.key, 0.0) for k in spec.knobs}
    result = check_metrics(spec, _service(service).submit(params, timeout=spec.timeout).result())
    tune.report(
        {
            "score": score(spec, result),
            "success": bool(result.ok and spec.met(result.metrics)),
            "status": result.status,
            "transmission": float(result.metrics.get("transmission", 0.0)),
            "finished_at": time.time(),
        }
    )


class StopAtTarget(Stopper):
    """Tune stopper: end the experiment at the first success or after ``budget`` trials."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.trials: set[str] = set()
        self.success = False

    def __call__(self, trial_id: str, result: dict) -> bool:
        self.trials.add(trial_id)
        self.success = self.success or bool(result.get("success"))
        return False

    def stop_all(self) -> bool:
        return self.success or len(self.trials) >= self.budget


def service_slots(service: str) -> int:
    """The slots the named service grows to (slots per actor x its ``max_actors``): what
    trials can run on at once (the service adds actors on the trials' load)."""
    pool = _service(service)
    return max(1, pool.slots * pool.max_actors)


def _searcher(name: str, task: TaskConfig, initial: dict, seed: int, grid_points: int):
    """(param_space, search_alg, num_samples) of searcher ``name``."""
    if name == "grid":
        space = {
            k.key: tune.grid_search(np.linspace(k.low, k.high, grid_points).tolist())
            for k in task.knobs
        }
        return space, None, 1
    space = {k.key: tune.uniform(k.low, k.high) for k in task.knobs}
    if name == "random":
        from ray.tune.search import BasicVariantGenerator

        return space, BasicVariantGenerator(points_to_evaluate=[initial], random_state=seed), None
    if name == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed % 2**32, n_startup_trials=10)
        alg = OptunaSearch(points_to_evaluate=[initial], sampler=sampler)
        return space, alg, None
    raise ValueError(f"searcher {name!r}: use one of {SEARCHERS}")


def search_episode(
    task: Mapping[str, Any],
    searcher: str,
    *,
    service: str,
    seed: int,
    budget: int = 100,
    concurrency: int | None = None,
    cpus_per_trial: float = 0.25,
    grid_points: int = 3,
    storage: str | Path = "/tmp/accelerate-rl/tune",
) -> pd.DataFrame:
    """Search one episode's setpoints; one row per finished trial, in the order they
    finished: the knob values, ``score``, ``success``, ``status``, ``transmission``,
    ``searcher``, ``seed``, ``order`` and ``wall_s`` (the whole search's wall time).

    ``concurrency``: trials at once (default: the service's slots, so a slow simulator
    runs one trial per slot); each trial holds ``cpus_per_trial`` CPUs while it waits."""
    spec = TaskConfig(**task)
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    if concurrency is None:
        concurrency = service_slots(service)
    initial, offsets = episode(task, seed)
    space, alg, samples = _searcher(searcher, spec, initial, seed, grid_points)
    trainable = tune.with_resources(
        tune.with_parameters(_trial, task=dict(task), service=service, offsets=offsets),
        {"cpu": cpus_per_trial},
    )
    t0 = time.perf_counter()
    tuner = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            search_alg=alg,
            num_samples=budget if samples is None else samples,
            max_concurrent_trials=concurrency,
            reuse_actors=True,
            metric="score",
            mode="min",
        ),
        run_config=tune.RunConfig(
            name=f"{searcher}-{seed}-{time.time_ns()}",
            storage_path=str(Path(storage).resolve()),
            stop=StopAtTarget(budget),
            verbose=0,
        ),
    )
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    rows = []
    for result in grid:
        if result.metrics and "score" in result.metrics:
            m = result.metrics
            cfg = result.config or {}
            rows.append(
                {
                    **{k.key: cfg.get(k.key) for k in spec.knobs},
                    **{c: m[c] for c in ("score", "success", "status", "transmission")},
                    "finished_at": m["finished_at"],
                }
            )
    frame = pd.DataFrame(rows).sort_values("finished_at", kind="stable").reset_index(drop=True)
    frame.insert(0, "order", np.arange(1, len(frame) + 1))
    frame.insert(0, "seed", seed)
    frame.insert(0, "searcher", searcher)
    frame["wall_s"] = wall
    return frame.drop(columns="finished_at")


def summarise(frame: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Per searcher over episodes: success rate, simulations to the target (successful
    episodes), simulations used (all episodes; a failed one used its whole budget) and
    wall time per episode [s]."""
    rows = []
    for name, per in frame.groupby("searcher", sort=False):
        found, used, walls = [], [], []
        for _, ep in per.groupby("seed"):
            hits = ep.index[ep["success"].astype(bool)]
            first = int(ep.loc[hits[0], "order"]) if len(hits) else None
            if first is not None:
                found.append(first)
            used.append(first if first is not None else min(budget, len(ep)))
            walls.append(float(ep["wall_s"].iloc[0]))
        episodes = per["seed"].nunique()
        rows.append(
            {
                "searcher": name,
                "episodes": episodes,
                "success_rate": len(found) / episodes,
                "simulations_to_target_mean": float(np.mean(found)) if found else None,
                "simulations_to_target_median": float(np.median(found)) if found else None,
                "simulations_mean": float(np.mean(used)),
                "wall_s_per_episode": float(np.mean(walls)),
            }
        )
    return pd.DataFrame(rows)
