"""Hard-task vector env throughput: one batched engine call per step (each sub-environment
its own incoming beam, :meth:`Engine.run_batch`'s per-row beam keys) against one engine
run per sub-environment (the same env with its backend's batching off), measured in the
same run; prints JSON (medians of repeats, sub-env steps/s, and their ratio).

    python experiments/bench_hard_env.py [--num-envs 32] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from accelerate_rl.rl.hard_task import HardVectorEnv, hard_task


def steps_per_s(num_envs: int, steps: int, repeats: int, batched: bool) -> float:
    """Median sub-env steps/s of random actions (a warm-up step first)."""
    vec = HardVectorEnv(hard_task(), num_envs=num_envs)
    vec.backend.batched = batched
    vec.reset(seed=0)
    rng = np.random.default_rng(0)
    vec.step(rng.uniform(-1, 1, (num_envs, 6)).astype(np.float32))
    rates = []
    for _ in range(repeats):
        actions = rng.uniform(-1, 1, (steps, num_envs, 6)).astype(np.float32)
        t0 = time.perf_counter()
        for a in actions:
            vec.step(a)
        rates.append(num_envs * steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--num-envs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20, help="vector steps per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    one_each = steps_per_s(args.num_envs, args.steps, args.repeats, batched=False)
    batched = steps_per_s(args.num_envs, args.steps, args.repeats, batched=True)
    report = {
        "num_envs": args.num_envs,
        "one_run_per_env_steps_per_s": round(one_each, 1),
        "batched_steps_per_s": round(batched, 1),
        "ratio": round(batched / one_each, 2),
    }
    print(json.dumps(report), flush=True)
    return report


if __name__ == "__main__":
    main()
