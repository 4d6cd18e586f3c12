"""Multi-node behaviour with ray.cluster_utils.Cluster (its own Ray, in a subprocess so the
session's Ray is untouched): a node removed mid-scan loses no request; a result lost with
its node is run again."""

from __future__ import annotations

import textwrap

import pytest

from ray_scripts import script_result

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, time
    import ray
    from ray.cluster_utils import Cluster
    from accelerate_rl.runtime import SimulationPool
    from accelerate_rl.simulators.testing import SleepSimulator

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    doomed = cluster.add_node(num_cpus=2)
    cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, namespace="accelerate_rl", log_to_driver=False)
    cluster.wait_for_nodes()
    pool = SimulationPool(SleepSimulator(0.05), slots=1, num_cpus_per_slot=1,
                          min_actors=4, max_actors=4, max_retries=10, max_pending=1000)
    deadline = time.monotonic() + 120
    while len(pool.actors) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    on_doomed = [a["pid"] for a in pool.stats()["per_actor"].values()
                 if a["node_id"] == doomed.node_id]
    futures = [pool.submit({"x": i}) for i in range(600)]
    time.sleep(1.0)
    # a lost machine: every process on it is gone, then its raylet
    for pid in on_doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    cluster.remove_node(doomed, allow_graceful=False)
    time.sleep(1.0)
    cluster.add_node(num_cpus=2)  # capacity comes back: replacements can start
    results = [f.result(timeout=300) for f in futures]
    out = {
        "killed": len(on_doomed),
        "n": len(results),
        "xs_in_order": [r.params["x"] for r in results] == list(range(600)),
        "statuses": sorted({r.status for r in results}),
        "unique_ids": len({r.request_id for r in results}),
        "retried": sum(r.attempts > 1 for r in results),
        "actors_used": len({r.actor for r in results}),
    }
    deadline = time.monotonic() + 60
    while len(pool.actors) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    out["actors_after"] = len(pool.actors)
    pool.shutdown()
    ray.shutdown()
    cluster.shutdown()
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
def test_a_node_removed_mid_scan_loses_no_request(tmp_path):
    out = script_result(SCRIPT, tmp_path)
    assert out["n"] == 600 and out["xs_in_order"] and out["unique_ids"] == 600
    assert out["statuses"] == ["ok"]
    assert out["killed"] == 2  # two of the four actors were on the lost node
    assert out["retried"] > 0 and out["actors_used"] >= 4
    assert out["actors_after"] == 4


LICENCE_SCRIPT = textwrap.dedent(
    """
    import json, time
    import ray
    from ray.cluster_utils import Cluster
    from accelerate_rl.runtime import SimulationPool
    from accelerate_rl.simulators.testing import SleepSimulator

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.add_node(num_cpus=2, resources={"tracewin_licence": 2})
    ray.init(address=cluster.address, namespace="accelerate_rl", log_to_driver=False)
    cluster.wait_for_nodes()
    pool = SimulationPool(SleepSimulator(0.2), slots=1, max_actors=6,
                          resources_per_slot={"tracewin_licence": 1}, isolation="thread")
    most = 0
    futures = [pool.submit({}) for _ in range(30)]
    while not all(f.done() for f in futures):
        most = max(most, len(pool.actors))
        time.sleep(0.05)
    print("RESULT " + json.dumps({"most_actors": most,
                                  "ok": all(f.result().ok for f in futures)}))
    pool.shutdown()
    ray.shutdown()
    cluster.shutdown()
    """
)


@pytest.mark.slow
def test_a_licence_resource_caps_concurrent_runs_cluster_wide(tmp_path):
    out = script_result(LICENCE_SCRIPT, tmp_path)
    assert out["ok"] and out["most_actors"] == 2  # two licences, two actors at most


LOST_RESULT_SCRIPT = textwrap.dedent(
    """
    import json, time
    import ray
    from ray.cluster_utils import Cluster
    from accelerate_rl.runtime import SimulationPool
    from accelerate_rl.simulators.testing import BigResultSimulator

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    cluster.add_node(num_cpus=1)
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, namespace="accelerate_rl", log_to_driver=False)
    cluster.wait_for_nodes()
    pool = SimulationPool(BigResultSimulator(100_000), slots=1, num_cpus_per_slot=1,
                          min_actors=2, max_actors=2, max_retries=3)
    results, rounds = [], 0
    while rounds < 4 and not any(r.attempts > 1 for r in results):
        rounds += 1
        deadline = time.monotonic() + 120
        while len(pool.actors) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        xs = [float(2 * rounds), float(2 * rounds + 1)]
        futures = [pool.submit({"x": x, "sleep": 2.0}) for x in xs]
        while pool.stats()["in_flight"] < 2:
            time.sleep(0.05)
        with pool._dispatcher.lock:  # the driver fetches no result until the node is gone
            handles = pool.actors
            while sum(ray.get(h.stats.remote())["runs"] for h in handles) < 2 * rounds:
                time.sleep(0.05)
            node_id = ray.get(handles[0].stats.remote())["node_id"]
            doomed = next(n for n in cluster.list_all_nodes() if n.node_id == node_id)
            cluster.remove_node(doomed, allow_graceful=False)
            time.sleep(3.0)
            cluster.add_node(num_cpus=1)
        results = [f.result(timeout=300) for f in futures]
        assert [r.metrics["x"] for r in results] == xs and all(r.ok for r in results)
    later = pool.run({"x": 99.0})
    out = {
        "rounds": rounds,
        "statuses": [r.status for r in results],
        "attempts": [r.attempts for r in results],
        "later_ok": later.ok,
    }
    pool.shutdown()
    ray.shutdown()
    cluster.shutdown()
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
def test_a_result_lost_with_its_node_is_run_again_and_the_pool_goes_on(tmp_path):
    """The node holding a finished (large, object-store) result goes away before the
    driver fetches it: ``ObjectLostError``; the request runs again elsewhere."""
    out = script_result(LOST_RESULT_SCRIPT, tmp_path)  # rounds until a result was lost (Ray may
    assert out["statuses"] == ["ok", "ok"]  # have fetched it in time: then a new round)
    assert max(out["attempts"]) > 1  # the lost one was sent again
    assert out["later_ok"]  # the dispatcher survived
