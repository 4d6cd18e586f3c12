"""Benchmark environment throughput on the benchmark task; prints JSON (medians of
repeats, ratios measured in the same run) with the machine's load (``uptime``).

* single_inprocess (baseline): one BeamlineEnv, the engine in this process.
* single_service: one BeamlineEnv on the named service (one request per step).
* vector_inprocess / vector_service: a BeamlineVectorEnv of ``--num-envs`` sub-envs. In
  process one vectorised engine call a step; through the service (``--slots`` slots, one
  actor) the batch is split over the slots, which compute their parts in parallel
  (at least ``MIN_SETS_PER_PART`` sets a part: 64 sub-envs are one part).
  Goal: vector_service >= 1.0x vector_inprocess on 2 cores. ``vector_<N>_*``
  (``--large-envs N``, default 256): the same two with N sub-envs (two parts).
* hop_ms: where a service step's time goes, medians [ms] of one part of
  ``--num-envs / --slots`` sets: a Ray round trip to the actor (``ping``), the part
  through the actor (``actor_run_batch``, ``run_batch`` called directly), the same
  part through a slot process of this process (``slot_exchange``: the pipe and the
  worker, no Ray) and computed in this process (``in_process``).
* rllib_sampling: env steps/s of an RLlib PPO env runner (random initial policy, the
  vector env on the service), sampling only: what training sees before learning costs.
  Goal: >= 0.8x vector_inprocess. ``rllib_sampling_<N>_runners`` (``--rllib-runners 1
  2``): N env runners of ``--num-envs`` each, sampling at once, so one runner's RLlib
  work (policy, episodes) overlaps the other's simulations on the service.
  rllib_sampling_inprocess: one env runner with the engine in its own process (no
  service): the ceiling RLlib's own per-step work leaves, against which the service's
  runners are also given (``..._over_rllib_inprocess``).

    python experiments/bench_rl.py [--repeats 3] [--steps 2000] [--num-envs 64] \
        [--large-envs 256] \
        [--rllib-runners 1 2]

``--slow`` runs the slow-simulator section instead (JSON also written to ``--out``):

* slow_sampling: a local multi-node cluster (``ray.cluster_utils.Cluster``: a head with
  the env runners' CPUs and ``--slow-nodes`` simulation nodes of num_cpus=0 and a
  ``sim_slot`` resource, ``--slow-slots`` slots in all) serving a simulator of fixed
  latency L (``--latency``, sleeping: the 2 cores are not the limit); RLlib PPO env
  runners sample through the service, their sub-environments fanned out one request per
  slot. Reported: env steps/s and simulations/s (env steps plus the resets RLlib does
  not count as steps) against the ideal slots / L: ``simulation_efficiency`` (what the
  service and the env runners lose; goal >= 0.9 at 64 slots) and
  ``env_step_efficiency``, bounded by the share of simulations that are steps
  (``env_step_bound``: an episode of 10 steps costs 11 simulations).
* tracewin_overhead: one run of the tracewin simulator running ``arl-tracewin`` against
  the embedded engine's in-process run on the same task and setting (medians), split
  into staging (the project copied into a private directory), process start (Python
  importing the engine, what ``arl-tracewin`` pays before tracking; ``import_s``: the
  import alone, from ``python -X importtime``: ``bench_startup.import_s``, which
  A/Bs it between source trees) and parsing (``tracewin.out`` read,
  metrics picked).

    python experiments/bench_rl.py --slow [--latency 1.0] [--slow-slots 64] \
        [--out experiments/results/bench_rl_slow.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from accelerate_rl.rl import BeamlineEnv, BeamlineVectorEnv, adige_task, start_service
from accelerate_rl.rl.algorithms import env_config, ppo_config
from accelerate_rl.rl.experiment import service
from accelerate_rl.runtime import init_ray
from bench_engine import timed
from bench_runtime import machine_load

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


def rllib_sampling(
    num_envs: int,
    repeats: int,
    task: dict | None = None,
    num_env_runners: int = 1,
    timesteps: int = 4096,
    service: str | None = SERVICE,
) -> dict:
    """Medians of ``EnvRunnerGroup.sample`` in a PPO algorithm (no learning):
    ``num_env_runners`` runners of ``num_envs`` sub-envs, ``timesteps`` each per repeat,
    on the named ``service`` (None: in each runner's process).
    ``env_steps_per_s`` counts RLlib's env steps; ``simulations_per_s`` every simulation
    the vector envs asked for (a sub-env's reset is one, not an env step for RLlib)."""
    algo = ppo_config(
        task,
        service=service,
        num_env_runners=num_env_runners,
        num_envs_per_env_runner=num_envs,
        train_batch_size=4096,
    ).build_algo()
    try:
        group = algo.env_runner_group
        steps, sims = [], []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            counts = group.foreach_env_runner(
                lambda runner: _counted_sample(runner, timesteps), local_env_runner=False
            )
            wall = time.perf_counter() - t0
            steps.append(sum(c[0] for c in counts) / wall)
            sims.append(sum(c[1] for c in counts) / wall)
        return {
            "env_steps_per_s": statistics.median(steps[1:]),
            "simulations_per_s": statistics.median(sims[1:]),
        }
    finally:
        algo.stop()


def _counted_sample(runner, timesteps: int) -> tuple[int, int]:
    """(env steps, simulations) of one ``runner.sample``: every vector step runs one
    simulation per sub-environment (a step or an autoreset)."""
    env = runner.env.unwrapped
    calls = [0]
    step = env.step

    def counted(actions):
        calls[0] += 1
        return step(actions)

    env.step = counted
    try:
        env_steps = sum(len(e) for e in runner.sample(num_timesteps=timesteps))
    finally:
        del env.step  # the class's step again
    return env_steps, calls[0] * env.num_envs


def hop_ms(task: dict, num_envs: int, slots: int, repeats: int) -> dict:
    """Medians [ms] of one service part (``num_envs // slots`` sets) along the hop: see
    the module docstring. Needs the fast service running (``SERVICE``)."""
    import shutil
    import tempfile
    from functools import partial

    import ray

    from accelerate_rl.rl.backends import task_simulator_options
    from accelerate_rl.rl.task import TaskConfig
    from accelerate_rl.runtime import SimulationPool
    from accelerate_rl.runtime.actor import SimulatorSpec, build_simulator
    from accelerate_rl.runtime.request import Request
    from accelerate_rl.runtime.slots import ProcessSlot

    env = BeamlineVectorEnv(task, num_envs=num_envs)
    env.reset(seed=0)
    sets = [e._params() for e in env.envs][: max(1, num_envs // slots)]
    request = Request.many(sets, 60.0, 0)
    calls = 50 * repeats
    client = SimulationPool.connect(SERVICE)
    actor = client.actors[0]
    spec = SimulatorSpec("embedded", None, task_simulator_options(TaskConfig(**task)))
    scratch = tempfile.mkdtemp(prefix="bench-rl-hop-")
    slot = ProcessSlot(partial(build_simulator, spec, task["project"], scratch), 0)
    try:
        out = {
            "sets": len(sets),
            "ping": timed(lambda: ray.get(actor.ping.remote()), calls),
            "actor_run_batch": timed(lambda: ray.get(actor.run_batch.remote(request)), calls),
            "slot_exchange": timed(lambda: slot.call_batch(request), calls),
            "in_process": timed(lambda: env.backend.sim.simulate_batch(sets), calls),
        }
    finally:
        slot.close()
        client.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    return {k: round(v * 1e3, 3) if isinstance(v, float) else v for k, v in out.items()}


def slow_sampling(
    latency: float, slots: int, nodes: int, runners: int, repeats: int, max_steps: int = 10
) -> dict:
    """RLlib sampling through a service of ``slots`` slots of a ``latency``-second simulator
    on a local cluster of ``nodes`` simulation nodes (see the module docstring), episodes
    truncated at ``max_steps`` (the benchmark task's 10 by default; each episode's reset is
    one more simulation, so the env-step share of simulations is at most
    max_steps / (max_steps + 1))."""
    import ray
    from ray.cluster_utils import Cluster

    from accelerate_rl.rl.backends import observe_list
    from accelerate_rl.rl.task import TaskConfig
    from accelerate_rl.simulators.testing import LatencySimulator

    if slots % nodes or slots % runners:
        raise SystemExit("--slow-slots must divide by --slow-nodes and --slow-runners")
    per_node = slots // nodes
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": runners + 1})
    for _ in range(nodes):
        cluster.add_node(num_cpus=0, resources={"sim_slot": per_node})
    init_ray(address=cluster.address)
    try:
        cluster.wait_for_nodes()
        base = adige_task()
        sim = LatencySimulator(base["project"], latency, observe_list(TaskConfig(**base)))
        task = {**base, "simulator": sim, "timeout": 10 * latency + 30, "max_steps": max_steps}
        options = dict(slots=per_node, min_actors=nodes, max_actors=nodes, isolation="thread")
        with start_service(task, SERVICE, resources_per_slot={"sim_slot": 1}, **options) as pool:
            deadline = time.monotonic() + 300
            while len(pool.actors) < nodes and time.monotonic() < deadline:
                time.sleep(0.2)
            # each node offers exactly one actor's sim_slots: none free = one per node
            actors = len(pool.actors)
            free_slots = ray.available_resources().get("sim_slot", 0.0)
            num_envs = slots // runners
            rates = rllib_sampling(num_envs, repeats, task, runners, timesteps=8 * num_envs)
    finally:
        ray.shutdown()
        cluster.shutdown()
    ideal = slots / latency
    steps, sims = rates["env_steps_per_s"], rates["simulations_per_s"]
    return {
        "latency_s": latency,
        "max_steps": max_steps,
        "slots": slots,
        "simulation_nodes": nodes,
        "actors": actors,
        "sim_slots_free": free_slots,
        "env_runners": runners,
        "envs_per_runner": slots // runners,
        "env_steps_per_s": round(steps, 2),
        "simulations_per_s": round(sims, 2),
        "ideal_steps_per_s": ideal,
        "simulation_efficiency": round(sims / ideal, 3),
        "env_step_efficiency": round(steps / ideal, 3),
        "env_step_bound": round(steps / sims, 3),
        "load_after": machine_load(),
    }


def tracewin_overhead(repeats: int) -> dict:
    """Medians [s] of one run on the TraceWin path (the tracewin simulator running
    arl-tracewin) and in-process on the embedded engine, and the TraceWin path's parts."""
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from accelerate_rl.rl.backends import observe_list
    from accelerate_rl.rl.task import TaskConfig
    from accelerate_rl.simulators import EmbeddedSimulator, TraceWinSimulator
    from accelerate_rl.simulators.observe import table_metrics
    from accelerate_rl.tracewin.out import read_out
    from accelerate_rl.tracewin.project_files import stage_project
    from bench_startup import import_s

    task = TaskConfig(**adige_task())
    observe = observe_list(task)
    params = {k.key: (k.low + k.high) / 4 for k in task.knobs}
    exe = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")
    embedded = EmbeddedSimulator(task.project, observe=observe)
    n = max(5, 3 * repeats)

    def median_s(fn) -> float:
        return timed(fn, n)  # one warm-up, then the median of n runs

    scratch = Path(tempfile.mkdtemp(prefix="bench-rl-"))
    try:
        tracewin = TraceWinSimulator(task.project, exe, observe=observe, workdir=scratch)
        folder = Path(task.project).parent

        def stage() -> None:
            dest = Path(tempfile.mkdtemp(dir=scratch))
            stage_project(folder, dest / "project")
            shutil.rmtree(dest)

        table = scratch / "tracewin.out"
        subprocess.run(
            [exe, task.project, "hide", f"path_cal={scratch}"], check=True, capture_output=True
        )
        out = {
            "embedded_run_s": median_s(lambda: embedded.simulate(params)),
            "tracewin_run_s": median_s(lambda: tracewin.simulate(params)),
            "staging_s": median_s(stage),
            "process_start_s": median_s(
                lambda: subprocess.run(
                    [sys.executable, "-c", "import accelerate_rl.engine.cli"], check=True
                )
            ),
            "import_s": statistics.median(import_s() for _ in range(n)),
            "parsing_s": median_s(lambda: table_metrics(read_out(table), observe, "bench")),
            "runs_per_median": n,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out["overhead_s"] = out["tracewin_run_s"] - out["embedded_run_s"]
    out["tracewin_over_embedded"] = out["tracewin_run_s"] / out["embedded_run_s"]
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2000, help="env steps per repeat")
    ap.add_argument("--num-envs", type=int, default=64)
    ap.add_argument("--large-envs", type=int, default=256, help="second vector size (0: none)")
    ap.add_argument("--no-rllib", action="store_true")
    ap.add_argument(
        "--rllib-runners",
        type=int,
        nargs="+",
        default=[1, 2],
        help="env runner counts of rllib_sampling (1: rllib_sampling, N: ..._N_runners)",
    )
    ap.add_argument("--slow", action="store_true", help="the slow-simulator section")
    ap.add_argument("--latency", type=float, default=1.0, help="slow simulator's latency [s]")
    ap.add_argument("--slow-slots", type=int, default=64)
    ap.add_argument("--slow-nodes", type=int, default=4, help="simulation nodes")
    ap.add_argument("--slow-runners", type=int, default=2, help="RLlib env runners")
    ap.add_argument(
        "--slow-max-steps",
        type=int,
        default=10,
        help="episode length of slow_sampling (recorded as slow_sampling_<N>_steps if not 10)",
    )
    ap.add_argument(
        "--section",
        choices=("slow_sampling", "tracewin_overhead"),
        action="append",
        help="with --slow: run only this section (repeatable); --out keeps the others",
    )
    ap.add_argument("--slots", type=int, default=2, help="slots of the fast service")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    if args.slow:
        sections = args.section or ["slow_sampling", "tracewin_overhead"]
        result = {}
        if args.out and args.out.exists() and args.section:
            result = json.loads(args.out.read_text())
        result["machine"] = f"{os.cpu_count()} cores (shared)"
        if "slow_sampling" in sections:
            key = "slow_sampling"
            if args.slow_max_steps != 10:
                key = f"slow_sampling_{args.slow_max_steps}_steps"
            result[key] = {
                "load_before": machine_load(),
                **slow_sampling(
                    args.latency,
                    args.slow_slots,
                    args.slow_nodes,
                    args.slow_runners,
                    args.repeats,
                    args.slow_max_steps,
                ),
            }
        if "tracewin_overhead" in sections:
            result["tracewin_overhead"] = tracewin_overhead(args.repeats)
        text = json.dumps(result, indent=2)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
        print(text)
        return
    init_ray()
    task = adige_task()
    result: dict = {
        "num_envs": args.num_envs,
        "repeats": args.repeats,
        "service_slots": args.slots,
        "load_before": machine_load(),
    }
    with service(task, SERVICE, slots=args.slots, max_actors=1):
        served = env_config(task, SERVICE)
        result["single_inprocess"] = steps_per_s(BeamlineEnv(task), args.steps, args.repeats)
        result["single_service"] = steps_per_s(BeamlineEnv(served), args.steps, args.repeats)
        sizes = [("vector", args.num_envs)]
        if args.large_envs:
            sizes.append((f"vector_{args.large_envs}", args.large_envs))
        for prefix, num_envs in sizes:
            for name, cfg in (("inprocess", task), ("service", served)):
                env = BeamlineVectorEnv(cfg, num_envs=num_envs)
                steps = max(args.steps * 5, 20 * num_envs)
                result[f"{prefix}_{name}"] = steps_per_s(env, steps, args.repeats)
                env.close()
        result["hop_ms"] = hop_ms(task, args.num_envs, args.slots, args.repeats)
        if not args.no_rllib:
            rates = rllib_sampling(args.num_envs, args.repeats, service=None)
            result["rllib_sampling_inprocess"] = rates["env_steps_per_s"]
        for runners in [] if args.no_rllib else args.rllib_runners:
            rates = rllib_sampling(args.num_envs, args.repeats, num_env_runners=runners)
            suffix = "" if runners == 1 else f"_{runners}_runners"
            result[f"rllib_sampling{suffix}"] = rates["env_steps_per_s"]
            result[f"rllib_simulations{suffix}"] = rates["simulations_per_s"]
    base = result["single_inprocess"]
    rates = [k for k in result if k.startswith(("single_", "vector_", "rllib_sampling"))]
    for key in rates:
        result[f"{key}_ratio"] = round(result[key] / base, 3)
    vector = result["vector_inprocess"]
    result["goals"] = {
        "vector_service_over_vector_inprocess": round(result["vector_service"] / vector, 3),
        "vector_service_goal": ">= 1.0",
    }
    if args.large_envs:
        large = f"vector_{args.large_envs}"
        over = result[f"{large}_service"] / result[f"{large}_inprocess"]
        result["goals"][f"{large}_service_over_{large}_inprocess"] = round(over, 3)
    ceiling = result.get("rllib_sampling_inprocess")
    for key in [k for k in rates if k.startswith("rllib_sampling")]:
        result["goals"][f"{key}_over_vector_inprocess"] = round(result[key] / vector, 3)
        result["goals"]["rllib_sampling_goal"] = ">= 0.8"
        if ceiling and key != "rllib_sampling_inprocess":
            result["goals"][f"{key}_over_rllib_inprocess"] = round(result[key] / ceiling, 3)
    for key, value in list(result.items()):
        if isinstance(value, float) and not key.endswith("_ratio"):
            result[key] = round(value, 1)
    result["load_after"] = machine_load()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
