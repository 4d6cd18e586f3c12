"""A named service grows on its clients' load, not only its own queue: clients (env
runners, Tune trials: ``SimulationPool.connect``) report what they have waiting and
running to the service's registry, the owner adds actors up to ``max_actors`` (or what
the cluster's resources, licences included, hold), and shrinks back to ``min_actors``
once that demand is gone: withdrawn by a client that closes, expired for one that died."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import ray

from accelerate_rl.runtime import SimulationPool
from accelerate_rl.runtime.service import NAMESPACE
from accelerate_rl.simulators.testing import SleepSimulator
from ray_scripts import script_result

#: A client in its own process: connects, queues 200 slow requests, then waits (to be killed).
CLIENT = textwrap.dedent(
    """
    import sys, time
    import ray
    from accelerate_rl.runtime import SimulationPool

    ray.init(address=sys.argv[1], namespace="accelerate_rl", log_to_driver=False)
    pool = SimulationPool.connect(sys.argv[2], max_pending=300)
    futures = [pool.submit({}) for _ in range(200)]
    print("SUBMITTED", flush=True)
    time.sleep(600)
    """
)


def owner_pool(name: str) -> SimulationPool:
    return SimulationPool(
        SleepSimulator(0.3),
        name=name,
        slots=1,
        min_actors=1,
        max_actors=3,
        idle_timeout=1.0,
        isolation="thread",
    )


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_clients_load_grows_the_service_and_all_its_requests_finish(ray_session):
    with owner_pool("growth-driver") as owner:
        client = SimulationPool.connect("growth-driver", max_pending=300)
        # the owner never queues a request itself: only the client's demand can grow it
        futures = [client.submit({}) for _ in range(200)]
        grew, served_by = 0, set()

        def grown() -> bool:
            nonlocal grew
            grew = max(grew, len(owner.actors))
            served_by.update(f.result().actor for f in futures if f.done() and not f.cancelled())
            return grew == 3 and len(served_by) == 3

        assert wait_for(grown, 120), (grew, served_by)
        for f in futures:  # the rest need not run: drop what is still queued
            f.cancel()
        assert all(f.cancelled() or f.result().ok for f in futures)
        client.shutdown()
        # the client withdrew its demand: back to min_actors after idle_timeout
        assert wait_for(lambda: len(owner.actors) == 1, 60)


def test_a_dead_clients_demand_expires_and_the_service_shrinks_to_min(ray_session):
    with owner_pool("growth-dead-client") as owner:
        address = ray.get_runtime_context().gcs_address
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, address, "growth-dead-client"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert client.stdout.readline().strip() == "SUBMITTED", client.stderr.read()
            assert wait_for(lambda: len(owner.actors) == 3, 120)
        finally:
            client.kill()  # no goodbye: its last report stays in the registry until it expires
            client.wait()
        registry = ray.get_actor("growth-dead-client", namespace=NAMESPACE)
        assert wait_for(lambda: ray.get(registry.demand.remote()).total == 0, 60)
        assert wait_for(lambda: len(owner.actors) == 1, 60)


TRACEWIN_SCRIPT = textwrap.dedent(
    """
    import json, shutil, sys, time
    from pathlib import Path
    import ray
    from ray.cluster_utils import Cluster
    from accelerate_rl.examples import ADIGE_DEMO
    from accelerate_rl.runtime import SimulationPool

    arl = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "resources": {"tracewin_licence": 3}},
    )
    ray.init(address=cluster.address, namespace="accelerate_rl", log_to_driver=False)
    # max_actors not given: as many as the cluster's licences allow
    owner = SimulationPool("tracewin", ADIGE_DEMO, name="growth-tracewin", slots=1,
                           resources_per_slot={"tracewin_licence": 1}, idle_timeout=1.0,
                           simulator_options={"executable": arl})
    client = SimulationPool.connect("growth-tracewin", max_pending=200)
    futures = [client.submit({"ele[29][2]": 2600.0}) for _ in range(100)]
    most, served_by = 0, set()
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and (most < 3 or len(served_by) < 3):
        most = max(most, len(owner.actors))
        served_by.update(f.result().actor for f in futures if f.done() and not f.cancelled())
        time.sleep(0.2)
    for f in futures:
        f.cancel()
    results = [f.result() for f in futures if not f.cancelled()]
    client.shutdown()
    deadline = time.monotonic() + 60
    while len(owner.actors) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    print("RESULT " + json.dumps({
        "max_actors": owner.max_actors, "most_actors": most, "served_by": len(served_by),
        "ok": all(r.ok for r in results), "runs": len(results),
        "same": len({json.dumps(r.metrics, sort_keys=True) for r in results}) == 1,
        "end_actors": len(owner.actors),
    }))
    owner.shutdown()
    ray.shutdown()
    cluster.shutdown()
    """
)


def test_a_tracewin_service_grows_to_the_clusters_licences_on_a_clients_load(tmp_path):
    out = script_result(TRACEWIN_SCRIPT, tmp_path)
    assert out["max_actors"] == 3  # three licences in the cluster
    assert out["most_actors"] == 3 and out["served_by"] == 3, out
    assert out["ok"] and out["same"], out  # every arl-tracewin run gave the same answer
    assert out["end_actors"] == 1, out
