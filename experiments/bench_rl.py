"""Benchmark environment throughput on the benchmark task; prints JSON (medians of
repeats, ratios to the single in-process env measured in the same run).

* single_inprocess (baseline): one BeamlineEnv, the engine in this process.
* single_service: one BeamlineEnv on the named service (one request per step).
* vector_inprocess / vector_service: a BeamlineVectorEnv of ``--num-envs`` sub-envs, one
  batched request per step (one vectorised engine call). Goal: >= 1000 env steps/s
  through the service on 2 cores.
* rllib_sampling: env steps/s of an RLlib PPO env runner (random initial policy, the
  vector env on the service), sampling only: what training sees before learning costs.

    python experiments/bench_rl.py [--repeats 3] [--steps 2000] [--num-envs 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from accelerate_rl.rl import BeamlineEnv, BeamlineVectorEnv, adige_task
from accelerate_rl.rl.algorithms import env_config, ppo_config
from accelerate_rl.rl.experiment import service
from accelerate_rl.runtime import init_ray

SERVICE = "bench-rl"


def steps_per_s(env, steps: int, repeats: int) -> float:
    """Median env steps/s of random actions (sub-env steps for a vector env)."""
    n = getattr(env, "num_envs", 1)
    rng = np.random.default_rng(0)
    shape = env.action_space.shape
    env.reset(seed=0)
    samples = []
    for _ in range(repeats + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        for _ in range(max(1, steps // n)):
            env.step(rng.uniform(-0.2, 0.2, shape).astype(np.float32))
        samples.append(max(1, steps // n) * n / (time.perf_counter() - t0))
    return statistics.median(samples[1:])


def rllib_sampling(num_envs: int, repeats: int) -> float:
    """Median env steps/s of ``EnvRunnerGroup.sample`` in a PPO algorithm (no learning)."""
    algo = ppo_config(
        service=SERVICE, num_envs_per_env_runner=num_envs, train_batch_size=4096
    ).build_algo()
    try:
        group = algo.env_runner_group
        samples = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            episodes = group.foreach_env_runner(
                lambda runner: sum(len(e) for e in runner.sample(num_timesteps=4096)),
                local_env_runner=False,
            )
            samples.append(sum(episodes) / (time.perf_counter() - t0))
        return statistics.median(samples[1:])
    finally:
        algo.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2000, help="env steps per repeat")
    ap.add_argument("--num-envs", type=int, default=64)
    ap.add_argument("--no-rllib", action="store_true")
    args = ap.parse_args()
    init_ray()
    task = adige_task()
    result: dict = {"num_envs": args.num_envs, "repeats": args.repeats}
    with service(task, SERVICE, slots=1, max_actors=1):
        served = env_config(task, SERVICE)
        result["single_inprocess"] = steps_per_s(BeamlineEnv(task), args.steps, args.repeats)
        result["single_service"] = steps_per_s(BeamlineEnv(served), args.steps, args.repeats)
        for name, cfg in (("vector_inprocess", task), ("vector_service", served)):
            env = BeamlineVectorEnv(cfg, num_envs=args.num_envs)
            result[name] = steps_per_s(env, args.steps * 5, args.repeats)
        if not args.no_rllib:
            result["rllib_sampling"] = rllib_sampling(args.num_envs, args.repeats)
    base = result["single_inprocess"]
    for key in ("single_service", "vector_inprocess", "vector_service", "rllib_sampling"):
        if key in result:
            result[f"{key}_ratio"] = round(result[key] / base, 3)
    for key, value in list(result.items()):
        if isinstance(value, float) and not key.endswith("_ratio"):
            result[key] = round(value, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
