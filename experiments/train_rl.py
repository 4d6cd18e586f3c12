"""Train PPO or SAC on the benchmark task (or your task), env runners on the shared
simulation service.

Entrypoint for ``ray job submit`` (and ``cluster/rayjob-train.yaml``):

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python experiments/train_rl.py --algo ppo --timesteps 1500000 --out /data/ppo

On TraceWin (``cluster/rayjob-train-tracewin.yaml``): every env step is a TraceWin run
on a licence slot, the sub-environments fanned out over the slots:

    python experiments/train_rl.py --algo sac --simulator tracewin --executable tracelx64 \
        --task adige_ini.json --licence tracewin_licence --slots 1 --max-actors 8

Checkpoints go to ``OUT/checkpoint`` every ``--checkpoint-every`` iterations and at the
end; running again with the same ``--out`` resumes from it (``--fresh`` starts over).
Prints a JSON line per iteration and a JSON summary at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

from accelerate_rl.rl.algorithms import ALGORITHMS
from accelerate_rl.rl.experiment import (
    add_task_arguments,
    load_state,
    save_checkpoint,
    service_from_args,
    task_from_args,
)
from accelerate_rl.rl.hard_task import base_task, hard_task
from accelerate_rl.rl.hard_training import hard_config
from accelerate_rl.runtime import init_ray


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--algo", choices=sorted(ALGORITHMS), default="ppo")
    add_task_arguments(ap, "--task", "--simulator", "--executable", "--licence", "--slot-resource")
    ap.add_argument(
        "--hard", action="store_true", help="the hard task (hard_task(); --task: its JSON)"
    )
    ap.add_argument("--timesteps", type=int, default=1_500_000, help="env steps to train")
    ap.add_argument("--max-iterations", type=int, default=None)
    ap.add_argument("--max-minutes", type=float, default=None, help="wall time, this run")
    ap.add_argument("--out", type=Path, default=Path("/tmp/accelerate-rl/ppo"))
    ap.add_argument("--checkpoint-every", type=int, default=10, help="iterations")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--service", default="beamline", help="name of the simulation service")
    ap.add_argument("--inprocess", action="store_true", help="no service: engine in each env")
    ap.add_argument("--slots", type=int, default=1, help="service slots per actor")
    ap.add_argument("--max-actors", type=int, default=None, help="service actors at most")
    ap.add_argument("--num-env-runners", type=int, default=1)
    ap.add_argument("--num-envs", type=int, default=None, help="sub-envs per env runner")
    ap.add_argument("--train-batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None, help="PPO's; SAC's actor, critic, alpha")
    ap.add_argument("--learning-starts", type=int, default=None, help="SAC: steps before")
    ap.add_argument("--training-intensity", type=float, default=None, help="SAC: trained/sampled")
    ap.add_argument("--initial-alpha", type=float, default=None, help="SAC: entropy weight, start")
    ap.add_argument("--hiddens", default=None, help="hidden layer sizes, e.g. 64,64")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-cpus", type=int, default=None, help="local Ray only")
    return ap


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    task = task_from_args(args, hard_task if args.hard else None)
    options = {"seed": args.seed, "num_env_runners": args.num_env_runners}
    if args.num_envs:
        options["num_envs_per_env_runner"] = args.num_envs
    if args.train_batch_size:
        options["train_batch_size"] = args.train_batch_size
    if args.lr:
        keys = ["lr"] if args.algo == "ppo" else ["actor_lr", "critic_lr", "alpha_lr"]
        options.update(dict.fromkeys(keys, args.lr))
    if args.hiddens:
        options["hiddens"] = [int(n) for n in args.hiddens.split(",")]
    for key in ("learning_starts", "training_intensity", "initial_alpha"):
        if getattr(args, key) is not None:
            if args.algo != "sac":
                raise SystemExit(f"--{key.replace('_', '-')} is a SAC option")
            options[key] = getattr(args, key)
    init_ray(args.num_cpus)
    name = None if args.inprocess else args.service
    pool = None if name is None else service_from_args(base_task(task) if args.hard else task, args)
    try:
        build = partial(hard_config, args.algo) if args.hard else ALGORITHMS[args.algo]
        algo = build(task, service=name, **options).build_algo()
        state = None if args.fresh else load_state(args.out)
        if state is not None:
            algo.restore_from_path(str((args.out / "checkpoint").resolve()))
            print(json.dumps({"resumed": str(args.out / "checkpoint"), **state}), flush=True)
        state = state or {"iteration": 0, "env_steps": 0, "seconds": 0.0}
        t0, start_seconds = time.perf_counter(), state["seconds"]
        result: dict = {}
        stop = None if args.max_minutes is None else t0 + 60 * args.max_minutes
        while (
            state["env_steps"] < args.timesteps
            and (args.max_iterations is None or state["iteration"] < args.max_iterations)
            and (stop is None or time.perf_counter() < stop)
        ):
            result = algo.train()
            runners = result.get("env_runners", {})
            state.update(
                iteration=state["iteration"] + 1,
                env_steps=int(result.get("num_env_steps_sampled_lifetime", 0)),
                seconds=round(start_seconds + time.perf_counter() - t0, 1),
                return_mean=runners.get("episode_return_mean"),
                len_mean=runners.get("episode_len_mean"),
            )
            print(json.dumps(state), flush=True)
            if state["iteration"] % args.checkpoint_every == 0:
                save_checkpoint(algo, args.out, state)
        checkpoint = save_checkpoint(algo, args.out, state)
        algo.stop()
    finally:
        if pool is not None:
            pool.shutdown()
    summary = {"algo": args.algo, "checkpoint": str(checkpoint), **state}
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
