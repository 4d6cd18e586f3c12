"""The Ray runtime on a real local Ray: pool semantics, faults, backpressure, services."""

from __future__ import annotations

import time
from concurrent.futures import Future

import numpy as np
import pandas as pd
import pytest

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.runtime import (
    BeamLostError,
    InvalidRequestError,
    MissingResources,
    PoolFullError,
    SimulationError,
    SimulationPool,
    grid,
    run_scan,
)
from accelerate_rl.simulators import EmbeddedSimulator
from accelerate_rl.simulators.testing import FaultySimulator, NoopSimulator, SleepSimulator

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture(scope="module")
def beamline():
    with SimulationPool("embedded", ADIGE_DEMO, slots=2, max_actors=1, name="test-beamline") as p:
        yield p


@pytest.fixture()
def faulty():
    with SimulationPool(FaultySimulator(), slots=1, max_actors=1, max_retries=2) as p:
        yield p


def test_submit_returns_a_future_of_the_engine_result(beamline):
    fut = beamline.submit({"ele[29][2]": 2600})
    assert isinstance(fut, Future)
    res = fut.result(timeout=60)
    direct = EmbeddedSimulator(ADIGE_DEMO).simulate({"ele[29][2]": 2600})
    assert res.ok and res.metrics["SizeX"] == pytest.approx(direct.metrics["SizeX"])
    assert res.actor.startswith("test-beamline") and res.slot in (0, 1)


def test_map_ordered_and_unordered_give_every_result_once(beamline):
    requests = [{"ele[29][2]": 2000.0 + 10 * i} for i in range(60)]
    ordered = list(beamline.map(requests))
    assert [r.params for r in ordered] == requests
    unordered = list(beamline.map(requests, ordered=False))
    assert sorted(r.request_id for r in unordered) == sorted(set(r.request_id for r in unordered))
    assert sorted(r.params["ele[29][2]"] for r in unordered) == [q["ele[29][2]"] for q in requests]


def test_bad_params_are_rejected_before_dispatch_and_the_actors_survive(beamline):
    runs_before = sum(a["runs"] for a in beamline.stats()["per_actor"].values())
    with pytest.raises(ValueError, match=r"ele\[99\]\[1\].*1..37"):
        beamline.submit({"ele[99][1]": 1.0})
    with pytest.raises(ValueError, match="nbr_partt"):
        beamline.submit({"nbr_partt": 3})
    assert sum(a["runs"] for a in beamline.stats()["per_actor"].values()) == runs_before
    assert beamline.run({"ele[29][2]": 2600}).ok


def test_a_lost_beam_is_a_result_or_a_typed_error(beamline):
    res = beamline.submit({"x1": 90, "partran": 1, "nbr_part1": 200}, seed=1).result()
    assert res.status == "lost" and "element" in res.error
    with pytest.raises(BeamLostError):
        beamline.run({"x1": 90, "partran": 1, "nbr_part1": 200})
    results = list(
        beamline.map([{"x1": 90, "partran": 1, "nbr_part1": 100}, {"x1": 0}], errors="skip")
    )
    assert [r.params["x1"] for r in results] == [0]


def test_named_service_is_reachable_from_another_process(beamline, ray_session):
    ray = ray_session

    @ray.remote(num_cpus=0)
    def client() -> str:
        pool = SimulationPool.connect("test-beamline")
        res = pool.run({"ele[31][2]": -2900})
        pool.shutdown()
        return res.actor

    actor = ray.get(client.remote(), timeout=120)
    assert actor in {a["actor"] for a in beamline.stats()["per_actor"].values()}


def test_connect_to_an_unknown_service_says_how_to_start_one():
    with pytest.raises(LookupError, match="SimulationPool"):
        SimulationPool.connect("no-such-service")


def test_a_crashed_slot_is_restarted_not_the_actor(faulty):
    pid0 = faulty.run({"x": 1}).metrics["pid"]
    res = faulty.submit({"fault": "crash"}).result()
    assert res.status == "failed" and "crashed" in res.error
    after = faulty.run({"x": 2})
    assert after.ok and after.metrics["pid"] != pid0
    stats = next(iter(faulty.stats()["per_actor"].values()))
    assert stats["restarts"] == 1


def test_a_hung_simulator_is_killed_after_its_timeout_and_the_slot_serves_the_next(faulty):
    t0 = time.monotonic()
    res = faulty.submit({"fault": "hang"}, timeout=1.0).result()
    assert res.status == "timeout" and time.monotonic() - t0 < 30
    assert faulty.run({"x": 3}).ok


@pytest.mark.parametrize(("fault", "status"), [("raise", "failed"), ("garbage", "failed")])
def test_garbage_and_exceptions_become_failed_results(faulty, fault, status):
    res = faulty.submit({"fault": fault}).result()
    assert res.status == status and res.error
    assert faulty.run({"x": 1}).ok


def test_invalid_params_from_a_custom_validator(faulty):
    with pytest.raises(ValueError, match="fault"):
        faulty.submit({"fault": "explode"})


def test_an_actor_killed_mid_run_loses_no_request(ray_session):
    ray = ray_session
    with SimulationPool(
        SleepSimulator(0.05), slots=2, min_actors=2, max_actors=2, max_retries=5
    ) as pool:
        futures = [pool.submit({"x": i}) for i in range(80)]
        time.sleep(0.5)
        ray.kill(pool.actors[0])
        results = [f.result(timeout=120) for f in futures]
        assert [r.params["x"] for r in results] == list(range(80))
        assert all(r.ok for r in results)
        assert len({r.request_id for r in results}) == 80
        assert any(r.attempts > 1 for r in results)
        deadline = time.monotonic() + 60
        while len(pool.actors) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(pool.actors) == 2  # the dead actor was replaced


def test_backpressure_raise_mode(ray_session):
    with SimulationPool(
        SleepSimulator(0.5), slots=1, max_actors=1, max_pending=3, on_full="raise"
    ) as pool:
        futures = [pool.submit({}) for _ in range(3)]
        with pytest.raises(PoolFullError):
            pool.submit({})
        for f in futures:
            f.result()
        pool.submit({}).result()


def test_a_pool_on_a_resource_no_node_has_fails_naming_it_instead_of_waiting(monkeypatch):
    """Any pool, not only an RL service: its first actor is requested (an autoscaler's
    cue), then after ``resource_wait`` seconds, not the 600 s start timeout, the pool says
    what is missing, what the cluster has and how to add it."""
    monkeypatch.delenv("RAY_USAGE_STATS_KUBERAY_IN_USE", raising=False)
    with pytest.raises(MissingResources, match=r"need \{'tracewin_licence': 3.0\} each") as err:
        SimulationPool(
            NoopSimulator(), slots=3, resources_per_slot={"tracewin_licence": 1}, resource_wait=0
        )
    assert "(waited 0 s; the cluster has CPU: 4" in str(err.value)


def test_an_autoscaler_with_node_types_counts_as_one_that_may_add_the_resource(monkeypatch):
    """The head's monitor reports in ``__autoscaling_status`` every few seconds. Ray's
    classic autoscaler (``ray up``) names its configured node types there: a pool on a
    resource no node has yet then waits for the node instead of failing. A local Ray's
    read-only provider names each node's type after the node: no autoscaler."""
    import json

    from ray.experimental.internal_kv import _internal_kv_get, _internal_kv_put

    from accelerate_rl.runtime.resources import autoscaled

    monkeypatch.delenv("RAY_USAGE_STATS_KUBERAY_IN_USE", raising=False)
    licence = {"tracewin_licence": 1.0}

    def report(mapping: dict) -> bytes:
        return json.dumps({"autoscaler_report": {"node_type_mapping": mapping}}).encode()

    local = _internal_kv_get("__autoscaling_status")
    try:
        _internal_kv_put("__autoscaling_status", report({"ab12": "node_ab12"}), overwrite=True)
        assert not autoscaled(licence)  # a local Ray
        _internal_kv_put("__autoscaling_status", report({"ab12": "licence-host"}), overwrite=True)
        assert autoscaled(licence)
    finally:
        _internal_kv_put("__autoscaling_status", local or b"{}", overwrite=True)


def test_map_reads_its_input_lazily_with_a_bounded_window(ray_session):
    pulled = []

    def requests():
        for i in range(3000):
            pulled.append(i)
            yield {"x": i}

    with SimulationPool(NoopSimulator(), slots=2, max_actors=1, max_pending=50) as pool:
        seen = 0
        for _ in pool.map(requests(), ordered=False):
            seen += 1
            assert len(pulled) - seen <= 50
        assert seen == 3000


def test_cancelling_a_running_request(faulty):
    fut = faulty.submit({"fault": "hang"})
    time.sleep(1.0)
    assert faulty.cancel(fut)
    assert fut.result(timeout=30).status == "cancelled"
    assert faulty.run({"x": 5}).ok


def test_concurrent_runs_of_one_project_equal_sequential_runs(ray_session):
    requests = [{"ele[33][1]": float(i), "partran": 1, "nbr_part1": 300} for i in range(32)]
    with SimulationPool("embedded", ADIGE_DEMO, slots=4, max_actors=2, min_actors=2) as pool:
        parallel = [f.result() for f in [pool.submit(r, seed=7) for r in requests]]
    sim = EmbeddedSimulator(ADIGE_DEMO)
    sequential = [sim.simulate(r, seed=7) for r in requests]
    for a, b in zip(parallel, sequential):
        assert a.metrics == pytest.approx(b.metrics)


def test_the_pool_grows_with_backlog_and_shrinks_when_idle(ray_session):
    with SimulationPool(
        SleepSimulator(0.3), slots=1, min_actors=1, max_actors=3, idle_timeout=1.0
    ) as pool:
        # a backlog long enough (200 x 0.3 s) that actors starting slowly on a loaded
        # machine still join while it lasts; the rest is cancelled once the pool has grown
        futures = [pool.submit({}) for _ in range(200)]
        grew = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and grew < 3 and not all(f.done() for f in futures):
            grew = max(grew, len(pool.actors))
            time.sleep(0.1)
        assert grew == 3
        for f in futures:
            pool.cancel(f)
        assert all(f.cancelled() or f.result().ok for f in futures)
        deadline = time.monotonic() + 30
        while len(pool.actors) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(pool.actors) == 1


def test_scan_writes_parquet_incrementally_and_resumes(beamline, tmp_path):
    axes = {"ele[29][2]": np.linspace(2000, 3000, 6), "ele[31][2]": np.linspace(-3500, -2500, 5)}
    out = tmp_path / "scan.parquet"
    first = run_scan(beamline, list(grid(axes))[:12], out, chunk=5, progress=False)
    assert len(first) == 12 and len(list(out.glob("part-*.parquet"))) == 3
    runs_before = sum(a["runs"] for a in beamline.stats()["per_actor"].values())
    full = run_scan(beamline, grid(axes), out, chunk=5, progress=False)
    runs_after = sum(a["runs"] for a in beamline.stats()["per_actor"].values())
    assert runs_after - runs_before == 30 - 12
    assert sorted(full["request_id"]) == list(range(30))
    assert set(full["status"]) == {"ok"}
    assert isinstance(pd.read_parquet(out), pd.DataFrame)


def test_typed_errors_carry_the_result(faulty):
    with pytest.raises(SimulationError) as err:
        faulty.run({"fault": "raise"})
    assert err.value.result.status == "failed" and "simulator bug" in err.value.result.error


def test_a_simulator_reporting_invalid_params_gives_a_typed_error(ray_session):
    def strict(params):
        raise ValueError(f"bad gain {params['gain']}")

    with SimulationPool(strict, max_actors=1) as pool:
        with pytest.raises(InvalidRequestError, match="bad gain"):
            pool.run({"gain": -1})


def test_tracewin_and_command_simulators_through_the_pool(tmp_path):
    """The path a licensed user takes: TraceWin's command line (here arl-tracewin) in
    thread slots, one subprocess per run, in the actors' scratch directories."""
    import shutil
    import sys
    from pathlib import Path

    from accelerate_rl.simulators import CommandSimulator
    from accelerate_rl.tracewin import read_out

    arl = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")
    with SimulationPool(
        "tracewin", ADIGE_DEMO, slots=2, max_actors=1, simulator_options={"executable": arl}
    ) as pool:
        assert pool.stats()["isolation"] == "thread"
        res = pool.run({"ele[29][2]": 2600, "partran": 1, "nbr_part1": 500}, seed=4)
        direct = EmbeddedSimulator(ADIGE_DEMO).simulate({"ele[29][2]": 2600})
        assert res.metrics["x0"] == pytest.approx(direct.metrics["x0"], abs=0.1)
        assert res.metrics["transmission"] == 1.0 and res.seed == 4
        with pytest.raises(ValueError, match="nbr_partt1"):
            pool.submit({"nbr_partt1": 10})
    cmd = CommandSimulator(
        [arl, str(ADIGE_DEMO), "path_cal={run_dir}", "ele[29][2]={v}"],
        outputs={"table": ("tracewin.out", read_out)},
    )
    with SimulationPool(cmd, slots=2, max_actors=1) as pool:
        results = list(pool.map([{"v": 2000 + 100 * i} for i in range(6)]))
        assert all(r.ok and r.table is not None for r in results)


def test_shutdown_removes_the_actors_scratch_directories():
    from pathlib import Path

    pool = SimulationPool(NoopSimulator(), slots=1, max_actors=1)
    scratch = [Path(a["scratch"]) for a in pool.stats()["per_actor"].values()]
    assert scratch and all(p.exists() for p in scratch)
    pool.shutdown()
    deadline = time.monotonic() + 30
    while any(p.exists() for p in scratch) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(p.exists() for p in scratch)


def test_a_batch_request_equals_single_runs_and_is_one_engine_call(beamline):
    """submit_batch: one exchange with one slot, one vectorised envelope call; every
    result equals the single run, a lost beam included (its single run is reported)."""
    rng = np.random.default_rng(4)
    sets = [{"ele[29][2]": float(v), "ele[5][1]": 10.0} for v in rng.uniform(2000, 3800, 12)]
    sets[5]["ele[5][1]"] = 50000.0  # loses the beam
    results = beamline.submit_batch(sets).result()
    singles = [beamline.submit(p).result() for p in sets]
    assert [r.status for r in results] == [s.status for s in singles]
    assert results[5].status == "lost" and results[5].error == singles[5].error
    for r, s in zip(results, singles):
        assert r.metrics == pytest.approx(s.metrics, rel=1e-12, abs=1e-12)
    # one request of the pool: one id, one slot, in order of the sets
    assert len({r.request_id for r in results}) == 1 and len({r.slot for r in results}) == 1
    assert [r.params for r in results] == sets
    assert beamline.submit_batch([]).result() == []


def test_a_bad_set_in_a_batch_is_named_by_index_before_dispatch(beamline):
    with pytest.raises(ValueError, match=r"batch request 1: .*bogus"):
        beamline.submit_batch([{"ele[29][2]": 3000.0}, {"bogus": 1}])
    assert beamline.run({"ele[29][2]": 3000.0}).ok


def test_a_batch_crashing_its_slot_fails_as_a_whole_and_the_slot_goes_on(faulty):
    results = faulty.submit_batch([{"x": 1}, {"fault": "crash"}, {"x": 2}]).result()
    assert [r.status for r in results] == ["failed"] * 3 and "crashed" in results[0].error
    # a simulator without simulate_batch runs the sets one by one, in order
    ok = faulty.submit_batch([{"x": 1.0}, {"x": 2.0}, {"fault": "raise"}]).result()
    assert [r.status for r in ok] == ["ok", "ok", "failed"]
    assert [r.metrics.get("x") for r in ok[:2]] == [1.0, 2.0]
    assert faulty.run({"x": 3}).ok
