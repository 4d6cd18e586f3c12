"""Benchmark the Ray runtime; prints JSON. Baselines are measured in the same run.

* noop: requests/s of a no-op simulator through SimulationPool (2 actors x 2 slots)
  against raw Ray actor calls (2 async actors, the same calls without the pool) and
  against Dask ``client.submit`` (2 worker processes; the engine of the earlier
  AccelerateRL work). Goals: >= 0.8x raw Ray, >= 4x Dask.
* scaling: efficiency of a sleeping simulator at 64 and 256 concurrent slots (thread
  slots, 8 or 16 per actor): ideal wall time / measured, 4 waves of requests. Goal >= 0.97
  at 64 slots.
* embedded: envelope runs/s of the example beamline through the pool (``pool.map`` of
  single requests, 1 actor x 2 process slots) against the engine called in-process one
  run at a time. Goal >= 0.9x: the pool coalesces queued requests into one actor call
  (at least 64 while simulations are fast) and, for fast simulations, into one
  vectorised exchange per slot (``simulate_batch``), and the 2 slots compute in
  parallel. The stronger peer, ``in_process_batch_rps``: the same settings in one
  in-process ``simulate_batch`` call (what a script holding all of them should do).
* memory: the driver's peak Python memory (tracemalloc) during lazy scans of N/4 and N
  no-op requests: flat means the peak does not grow with N.

    python experiments/bench_runtime.py [--repeats 3] [--requests 5000] [--no-dask]
        [--only embedded]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import ray

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.runtime import SimulationPool, init_ray
from accelerate_rl.simulators import EmbeddedSimulator
from accelerate_rl.simulators.testing import NoopSimulator, SleepSimulator


def machine_load() -> str:
    """The machine's cores and load averages (1, 5, 15 min): the JSON says how busy the
    shared machine was."""
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores (shared), load {one:.1f} {five:.1f} {fifteen:.1f}"


def rate(n: int, fn, repeats: int) -> float:
    """Median requests/s of ``fn`` (which handles n requests) over ``repeats``."""
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(n / (time.perf_counter() - t0))
    return statistics.median(samples)


@ray.remote
class RawActor:
    async def f(self, x):
        return {"x": x}


def noop(n: int, repeats: int, with_dask: bool) -> dict:
    actors = [RawActor.options(num_cpus=0, max_concurrency=64).remote() for _ in range(2)]
    ray.get([a.f.remote(0) for a in actors])
    out = {"requests": n}
    out["raw_ray_rps"] = rate(
        n, lambda: ray.get([actors[i % 2].f.remote(i) for i in range(n)]), repeats
    )
    for iso in ("thread", "process"):
        with SimulationPool(
            NoopSimulator(), slots=2, min_actors=2, max_actors=2, isolation=iso, max_pending=2000
        ) as pool:
            out[f"pool_{iso}_rps"] = rate(
                n,
                lambda p=pool: sum(1 for _ in p.map(({"x": i} for i in range(n)), ordered=False)),
                repeats,
            )
    for a in actors:
        ray.kill(a)
    out["ratio_vs_raw_ray"] = out["pool_thread_rps"] / out["raw_ray_rps"]
    out["ratio_vs_raw_ray_process_slots"] = out["pool_process_rps"] / out["raw_ray_rps"]
    if with_dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            out["dask"] = "not installed: pip install distributed"
            return out
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):

            def run_dask():
                client.gather([client.submit(_noop, i, pure=False) for i in range(n)])

            out["dask_rps"] = rate(n, run_dask, repeats)
        out["ratio_vs_dask"] = out["pool_thread_rps"] / out["dask_rps"]
    return out


def _noop(x):
    return {"x": x}


def scaling(slots_total: int, per_actor: int, sleep: float, waves: int, repeats: int) -> dict:
    actors = slots_total // per_actor
    n = waves * slots_total
    with SimulationPool(
        SleepSimulator(sleep),
        slots=per_actor,
        min_actors=actors,
        max_actors=actors,
        isolation="thread",
        max_pending=2 * n,
    ) as pool:
        deadline = time.monotonic() + 300
        while len(pool.actors) < actors and time.monotonic() < deadline:
            time.sleep(0.1)
        walls = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in pool.map(({} for _ in range(n)), ordered=False):
                pass
            walls.append(time.perf_counter() - t0)
    wall = statistics.median(walls)
    ideal = waves * sleep
    return {
        "slots": slots_total,
        "actors": actors,
        "requests": n,
        "sleep_s": sleep,
        "ideal_s": ideal,
        "wall_s": wall,
        "efficiency": ideal / wall,
    }


def embedded(n: int, repeats: int) -> dict:
    sim = EmbeddedSimulator(ADIGE_DEMO)
    requests = [{"ele[29][2]": 2000.0 + i % 1000} for i in range(n)]
    inproc = rate(n, lambda: [sim.simulate(r) for r in requests], repeats)
    batch = rate(n, lambda: sim.simulate_batch(requests), repeats)
    with SimulationPool(
        "embedded", ADIGE_DEMO, slots=2, min_actors=1, max_actors=1, max_pending=2000
    ) as pool:
        pooled = rate(n, lambda: sum(1 for _ in pool.map(requests, ordered=False)), repeats)
    return {
        "requests": n,
        "in_process_rps": inproc,
        "in_process_batch_rps": batch,
        "pool_rps": pooled,
        "ratio_pool_vs_in_process": pooled / inproc,
        "ratio_pool_vs_in_process_batch": pooled / batch,
    }


def memory(n: int) -> dict:
    import tracemalloc

    out = {}
    with SimulationPool(
        NoopSimulator(), slots=2, min_actors=2, max_actors=2, isolation="thread"
    ) as pool:
        for count in (n // 4, n):
            tracemalloc.start()
            done = sum(1 for _ in pool.map(({"x": i} for i in range(count)), ordered=False))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out[f"peak_mb_{count}"] = peak / 1e6
            assert done == count
    out["growth_ratio"] = out[f"peak_mb_{n}"] / out[f"peak_mb_{n // 4}"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--sleep", type=float, default=1.0, help="sleeping simulator [s]")
    ap.add_argument(
        "--memory-requests",
        type=int,
        default=100_000,
        help="largest lazy scan for the memory check (1000000 for the full drill)",
    )
    ap.add_argument(
        "--only", choices=("noop", "scaling", "embedded", "memory"), help="one section only"
    )
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    init_ray()
    if args.only:
        sections = {
            "noop": lambda: noop(args.requests, args.repeats, not args.no_dask),
            "scaling": lambda: [
                scaling(64, 8, args.sleep, 4, args.repeats),
                scaling(256, 16, args.sleep, 4, args.repeats),
            ],
            "embedded": lambda: embedded(min(args.requests, 3000), args.repeats),
            "memory": lambda: memory(args.memory_requests),
        }
        load = machine_load()
        out = {"load_before": load, args.only: sections[args.only]()}
        out["load_after"] = machine_load()
        print(json.dumps(out, indent=2))
        return
    result = {
        "cpus": os.cpu_count(),
        "load_before": machine_load(),
        "ray": ray.__version__,
        "noop": noop(args.requests, args.repeats, not args.no_dask),
        "scaling": [
            scaling(64, 8, args.sleep, 4, args.repeats),
            scaling(256, 16, args.sleep, 4, args.repeats),
        ],
        "embedded": embedded(min(args.requests, 3000), args.repeats),
        "memory": memory(args.memory_requests),
        "load_after": machine_load(),
        "goals": {
            "ratio_pool_vs_in_process": ">= 0.9",
            "ratio_vs_raw_ray": ">= 0.8",
            "ratio_vs_dask": ">= 4",
            "efficiency_64_slots": ">= 0.97",
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
