"""Direct setpoint optimisation of the benchmark task (or your task) with Ray Tune: Optuna
(TPE, Bayesian optimisation), random and grid search, every trial running its simulation
on the shared service. The same seeded episodes as ``evaluate_rl.py`` (same field errors,
the same initial settings as the first point), so the numbers compare with RL.

Entrypoint for ``ray job submit`` (and ``cluster/rayjob-tune.yaml``):

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python experiments/tune_setpoints.py --episodes 10 --budget 100 --out /data/setpoints

Writes ``OUT/trials.parquet`` (every trial) and ``OUT/summary.parquet`` and prints the
summary as JSON: per searcher, success rate, simulations to reach the target, wall time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from accelerate_rl.rl.experiment import add_task_arguments, service_from_args, task_from_args
from accelerate_rl.runtime import init_ray
from accelerate_rl.tune import SEARCHERS, search_episode, summarise


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__)
    add_task_arguments(ap, "--task", "--simulator", "--executable", "--licence", "--slot-resource")
    ap.add_argument("--searchers", default=",".join(SEARCHERS), help="comma-separated")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1_000_000, help="episode i uses seed + i")
    ap.add_argument("--budget", type=int, default=100, help="simulations per episode at most")
    ap.add_argument(
        "--concurrency", type=int, default=None, help="trials at once (default: the slots)"
    )
    ap.add_argument("--grid-points", type=int, default=3, help="grid points per knob")
    ap.add_argument("--service", default="beamline-tune")
    ap.add_argument("--slots", type=int, default=1)
    ap.add_argument("--max-actors", type=int, default=None, help="service actors at most")
    ap.add_argument("--out", type=Path, default=Path("/tmp/accelerate-rl/setpoints"))
    args = ap.parse_args(argv)
    searchers = [s.strip() for s in args.searchers.split(",") if s.strip()]
    unknown = sorted(set(searchers) - set(SEARCHERS))
    if unknown:
        ap.error(f"unknown searcher(s) {unknown}; choose from {list(SEARCHERS)}")
    task = task_from_args(args)
    init_ray()
    frames = []
    with service_from_args(task, args):
        for name in searchers:
            for i in range(args.episodes):
                frames.append(
                    search_episode(
                        task,
                        name,
                        service=args.service,
                        seed=args.seed + i,
                        budget=args.budget,
                        concurrency=args.concurrency,
                        grid_points=args.grid_points,
                        storage=args.out / "tune",
                    )
                )
    trials = pd.concat(frames, ignore_index=True)
    summary = summarise(trials, args.budget)
    args.out.mkdir(parents=True, exist_ok=True)
    trials.to_parquet(args.out / "trials.parquet")
    summary.to_parquet(args.out / "summary.parquet")
    records = summary.astype(object).where(summary.notna(), None).to_dict(orient="records")
    print(json.dumps({"out": str(args.out), "budget": args.budget, "summary": records}))
    return records


if __name__ == "__main__":
    main()
