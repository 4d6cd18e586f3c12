"""Evaluate a trained policy on the benchmark task (or your task): seeded episodes from
random initial settings and hidden field errors, through the simulation service.

Entrypoint for ``ray job submit``:

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python experiments/evaluate_rl.py --checkpoint /data/ppo/checkpoint --episodes 200

Prints one JSON object: success rate, mean and median steps, final error (largest
|error| / tolerance over the targets), lost beams, technical failures, env steps/s end to
end (policy inference and batched simulations through the service).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from accelerate_rl.rl.algorithms import env_config
from accelerate_rl.rl.evaluation import evaluate
from accelerate_rl.rl.experiment import add_task_arguments, service_from_args, task_from_args
from accelerate_rl.rl.hard_task import HardVectorEnv, base_task, hard_task
from accelerate_rl.rl.hard_training import hard_env_config
from accelerate_rl.rl.policy_file import load_policy
from accelerate_rl.runtime import init_ray


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="train_rl.py's OUT/checkpoint")
    source.add_argument("--policy", type=Path, help="a committed policy file (export_policy)")
    ap.add_argument(
        "--hard", choices=("design", "mismatched"), default=None, help="the hard task's machine"
    )
    add_task_arguments(ap, "--task", "--simulator", "--executable", "--licence", "--slot-resource")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1_000_000, help="episode i uses seed + i")
    ap.add_argument("--service", default="beamline-eval")
    ap.add_argument("--inprocess", action="store_true", help="no service: engine in-process")
    ap.add_argument("--slots", type=int, default=1)
    ap.add_argument("--max-actors", type=int, default=None, help="service actors at most")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.episodes < 1:
        ap.error("--episodes must be >= 1")
    task = task_from_args(args, (lambda: hard_task(args.hard)) if args.hard else None)
    policy = load_policy(args.checkpoint or args.policy)
    configure, extra = env_config, {}
    if args.hard:
        configure, extra = hard_env_config, {"vector_env": HardVectorEnv}
    if args.inprocess:
        report = evaluate(policy, configure(task), episodes=args.episodes, seed=args.seed, **extra)
    else:
        init_ray()
        served = base_task(task) if args.hard else task
        with service_from_args(served, args):
            report = evaluate(
                policy,
                configure(task, args.service),
                episodes=args.episodes,
                seed=args.seed,
                **extra,
            )
    report = {
        "checkpoint": str(args.checkpoint or args.policy),
        "backend": "inprocess" if args.inprocess else "service",
        "simulator": task.get("simulator", "embedded"),
        **report,
    }
    text = json.dumps(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text, flush=True)
    return report


if __name__ == "__main__":
    main()
