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
from accelerate_rl.rl.evaluation import RLlibPolicy, evaluate
from accelerate_rl.rl.experiment import add_task_arguments, service, slot_resources, task_from_args
from accelerate_rl.runtime import init_ray


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", type=Path, required=True, help="train_rl.py's OUT/checkpoint")
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
    task = task_from_args(args)
    policy = RLlibPolicy.from_checkpoint(args.checkpoint)
    if args.inprocess:
        report = evaluate(policy, env_config(task), episodes=args.episodes, seed=args.seed)
    else:
        init_ray()
        with service(task, args.service, args.slots, args.max_actors, slot_resources(args)):
            report = evaluate(
                policy, env_config(task, args.service), episodes=args.episodes, seed=args.seed
            )
    report = {
        "checkpoint": str(args.checkpoint),
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
