"""The runtime's fault drill: many requests through a SimulationPool on a local 2-node
Ray cluster (``ray.cluster_utils.Cluster``) while slots crash, hang and return garbage,
actors are killed and a node is removed (and a new one added). Prints JSON.

Every request must be accounted for: exactly one result, carrying its own parameters;
a request without a fault must succeed (no innocent failures).

* lost: requests without a result by the end; duplicated: request ids seen twice;
  mixed_up: results whose params (or the ``x`` they echo) are not their request's;
  innocent_failed: fault-free requests whose status is not ``ok``;
  wrong_status: faulty requests not reported as expected (crash/garbage ``failed``, hang
  ``timeout``); actors_replaced: actors seen beyond the pool's initial ones.

    python experiments/drill_faults.py --requests 10000 --crash 0.10 --hang 0.05 \\
        --garbage 0.05 --actor-kills 2 --node-removals 1 --hang-timeout 1.0

``--vectorised``: the simulator has ``simulate_batch`` (``FaultyBatchSimulator``), so
fast groups of requests run as one vectorised call that a single fault takes down whole
(then the group runs again request by request); ``vectorised_ok`` counts the ok results
that came from such a call.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import signal
import time

import numpy as np

#: The garbage results the drill rotates through (see ``FaultySimulator``).
GARBAGE = ("garbage", "bad-elapsed", "bad-metric", "huge-metric", "bogus-status", "nan")
EXPECTED = {"crash": "failed", "hang": "timeout", **dict.fromkeys(GARBAGE, "failed")}


def faults_for(n: int, crash: float, hang: float, garbage: float, seed: int) -> list[str | None]:
    """A reproducible fault (or None) for each of ``n`` requests."""
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    out: list[str | None] = []
    for i, v in enumerate(u):
        if v < crash:
            out.append("crash")
        elif v < crash + hang:
            out.append("hang")
        elif v < crash + hang + garbage:
            out.append(GARBAGE[i % len(GARBAGE)])
        else:
            out.append(None)
    return out


def rss_mb() -> dict[str, float]:
    """The driver's current and peak resident memory [MB]."""
    with open("/proc/self/status") as f:
        now = next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"driver_rss_mb": round(now / 1024, 1), "driver_peak_rss_mb": round(peak / 1024, 1)}


def remove_a_node(cluster, pool) -> int:
    """Kill every simulation actor on one worker node, remove the node, add a fresh one;
    the number of actors that were on it."""
    per_actor: list[dict] = []
    deadline = time.monotonic() + 300
    while not any("node_id" in a for a in per_actor) and time.monotonic() < deadline:
        per_actor = list(pool.stats()["per_actor"].values())  # an actor may be busy dying
    node_id = next(a["node_id"] for a in per_actor if "node_id" in a)
    pids = [a["pid"] for a in per_actor if a.get("node_id") == node_id]
    for pid in pids:  # a lost machine: every process on it goes, then its raylet
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    node = next(n for n in cluster.list_all_nodes() if n.node_id == node_id)
    cluster.remove_node(node, allow_graceful=False)
    cluster.add_node(num_cpus=2)
    return len(pids)


def drill(args: argparse.Namespace) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    from accelerate_rl.runtime import SimulationPool, init_ray
    from accelerate_rl.simulators.testing import FaultyBatchSimulator, FaultySimulator

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=2)
    init_ray(address=cluster.address)
    cluster.wait_for_nodes()
    pool = SimulationPool(
        FaultyBatchSimulator() if args.vectorised else FaultySimulator(),
        slots=args.slots,
        num_cpus_per_slot=2 / args.slots,  # one actor per 2-CPU node
        min_actors=2,
        max_actors=2,
        max_retries=args.max_retries,
        timeout=args.hang_timeout,
    )
    deadline = time.monotonic() + 120
    while len(pool.actors) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    initial = {a["actor"] for a in pool.stats()["per_actor"].values()}
    n = args.requests
    faults = faults_for(n, args.crash, args.hang, args.garbage, args.seed)
    kills_at = {int(n * (k + 1) / (args.actor_kills + 2)) for k in range(args.actor_kills)}
    removals_at = {int(n * (k + 1.5) / (args.node_removals + 2)) for k in range(args.node_removals)}
    killed = removed_actors = 0
    t0 = time.perf_counter()
    futures = []
    for i in range(n):
        params = {"x": float(i)} if faults[i] is None else {"x": float(i), "fault": faults[i]}
        futures.append(pool.submit(params))
        if i in kills_at:
            ray.kill(pool.actors[0])
            killed += 1
        if i in removals_at:
            removed_actors += remove_a_node(cluster, pool)
    results: list = []
    lost = 0
    end = time.monotonic() + args.deadline
    for fut in futures:
        try:
            results.append(fut.result(timeout=max(1.0, end - time.monotonic())))
        except Exception:
            results.append(None)
            lost += 1
    wall = time.perf_counter() - t0
    ids = collections.Counter(r.request_id for r in results if r is not None)
    statuses = collections.Counter(str(r.status) for r in results if r is not None)
    mixed = innocent = wrong = 0
    for i, res in enumerate(results):
        if res is None:
            continue
        if res.params.get("x") != float(i) or res.params.get("fault") != faults[i]:
            mixed += 1
        elif res.ok and res.metrics.get("x") != float(i):
            mixed += 1
        if faults[i] is None and not res.ok:
            innocent += 1
        elif faults[i] is not None and res.status != EXPECTED[faults[i]]:
            wrong += 1
    seen = {r.actor for r in results if r is not None and r.actor}
    stats = pool.stats()
    out = {
        "requests": n,
        "faults": dict(collections.Counter(f or "none" for f in faults)),
        "statuses": dict(statuses),
        "accounted": n - lost,
        "lost": lost,
        "duplicated": sum(c - 1 for c in ids.values() if c > 1),
        "mixed_up": mixed,
        "innocent_failed": innocent,
        "wrong_status": wrong,
        "retried": sum(1 for r in results if r is not None and r.attempts > 1),
        "vectorised_ok": sum(1 for r in results if r and r.ok and "batched" in r.metrics),
        "actor_kills": killed,
        "node_removals": len(removals_at),
        "actors_on_removed_nodes": removed_actors,
        "actors_replaced": len(seen - initial)
        + len({a["actor"] for a in stats["per_actor"].values()} - seen - initial),
        "slot_restarts_live_actors": sum(a.get("restarts", 0) for a in stats["per_actor"].values()),
        "actors_at_end": stats["ready_actors"],
        "wall_s": round(wall, 1),
        "requests_per_s": round(n / wall, 1),
        **rss_mb(),
        "settings": {
            "slots_per_actor": args.slots,
            "actors": 2,
            "nodes": 2,
            "hang_timeout_s": args.hang_timeout,
            "max_retries": args.max_retries,
            "seed": args.seed,
            "machine": f"{os.cpu_count()} cores, shared",
        },
    }
    pool.shutdown()
    ray.shutdown()
    cluster.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--crash", type=float, default=0.10, help="fraction of slot crashes")
    ap.add_argument("--hang", type=float, default=0.05, help="fraction of hangs")
    ap.add_argument("--garbage", type=float, default=0.05, help="fraction of garbage results")
    ap.add_argument("--actor-kills", type=int, default=2)
    ap.add_argument("--node-removals", type=int, default=1)
    ap.add_argument("--hang-timeout", type=float, default=1.0, help="per-request timeout [s]")
    ap.add_argument("--slots", type=int, default=2, help="slots per actor")
    ap.add_argument("--max-retries", type=int, default=10)
    ap.add_argument("--deadline", type=float, default=3600.0, help="wait for results [s]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vectorised", action="store_true", help="a simulate_batch simulator")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    out = drill(args)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
