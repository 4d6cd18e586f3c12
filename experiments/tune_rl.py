"""RLlib hyperparameter search on the benchmark task with Ray Tune's ASHA scheduler; every
trial's env runners use the shared simulation service.

Entrypoint for ``ray job submit`` (and ``cluster/rayjob-tune.yaml``):

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python experiments/tune_rl.py --algo ppo --samples 8 --iterations 60 --out /data/tune-rl

Writes ``OUT/trials.parquet`` (one row per trial) and prints the trials, best first, as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from accelerate_rl.rl.algorithms import ALGORITHMS
from accelerate_rl.rl.experiment import add_task_arguments, service_from_args, task_from_args
from accelerate_rl.runtime import init_ray
from accelerate_rl.tune.hyperparameters import tune_algorithm


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--algo", choices=sorted(ALGORITHMS), default="ppo")
    add_task_arguments(ap, "--task", "--simulator", "--executable", "--licence", "--slot-resource")
    ap.add_argument("--samples", type=int, default=8, help="trials")
    ap.add_argument("--iterations", type=int, default=60, help="training iterations at most")
    ap.add_argument("--grace-period", type=int, default=10, help="ASHA's first rung")
    ap.add_argument("--train-batch-size", type=int, default=None)
    ap.add_argument("--num-envs", type=int, default=None, help="sub-envs per trial")
    ap.add_argument("--service", default="beamline-tune-rl")
    ap.add_argument("--slots", type=int, default=1)
    ap.add_argument("--max-actors", type=int, default=None, help="service actors at most")
    ap.add_argument("--out", type=Path, default=Path("/tmp/accelerate-rl/tune-rl"))
    args = ap.parse_args(argv)
    task = task_from_args(args)
    options = {}
    if args.train_batch_size:
        options["train_batch_size"] = args.train_batch_size
    if args.num_envs:
        options["num_envs_per_env_runner"] = args.num_envs
    init_ray()
    with service_from_args(task, args):
        trials = tune_algorithm(
            task,
            args.algo,
            service=args.service,
            num_samples=args.samples,
            max_iterations=args.iterations,
            grace_period=args.grace_period,
            algo_options=options,
            storage=args.out / "tune",
        )
    args.out.mkdir(parents=True, exist_ok=True)
    trials = trials.sort_values("return_mean", ascending=False, na_position="last")
    trials.to_parquet(args.out / "trials.parquet")
    records = trials.to_dict(orient="records")
    print(json.dumps({"out": str(args.out), "trials": records}, default=str))
    return records


if __name__ == "__main__":
    main()
