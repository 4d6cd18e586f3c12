"""Runtime reliability on a real local Ray: every request exactly one result, one bad
request or result fails only itself, every scan readable (issue 14)."""

from __future__ import annotations

import textwrap
import time

import pandas as pd
import pytest

from accelerate_rl.runtime import DEFAULT_TIMEOUT, SimulationPool, run_scan
from accelerate_rl.runtime.request import Request
from accelerate_rl.runtime.slots import RUN_ALONE, ProcessSlot
from accelerate_rl.simulators.testing import (
    FaultyBatchSimulator,
    FaultySimulator,
    RestartFailingBatchSimulator,
    RestartFailingSimulator,
)
from ray_scripts import run_script

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture(scope="module")
def faulty():
    with SimulationPool(FaultySimulator(), slots=2, max_actors=1, max_retries=2) as p:
        yield p


def test_a_scan_whose_errors_start_in_a_later_chunk_is_readable_and_resumes(tmp_path):
    def fails_above_50(params):
        if params["x"] > 50:
            raise RuntimeError(f"x={params['x']} is out of range")
        return {"y": 2 * params["x"]}

    out = tmp_path / "scan"
    points = [{"x": float(i)} for i in range(100)]
    with SimulationPool(fails_above_50, slots=2, max_actors=1) as pool:
        first = run_scan(pool, points[:40], out, chunk=20, progress=False)
        assert set(first["status"]) == {"ok"}  # no error in the first parts
        full = run_scan(pool, points, out, chunk=20, progress=False)
    assert sorted(full["request_id"]) == list(range(100))
    df = pd.read_parquet(out)
    assert (df["status"] == "failed").sum() == 49 and (df["status"] == "ok").sum() == 51
    assert df.loc[df["x"] == 60, "error"].str.contains("out of range").all()
    assert df.loc[df["x"] == 10, "y"].iloc[0] == 20


def test_a_bad_result_fails_only_its_own_request_in_a_micro_batch(faulty):
    faults = ["bad-elapsed", "bad-metric", "huge-metric", "bogus-status", "nan", "garbage"]
    requests = [{"x": float(i)} for i in range(60)]
    for k, fault in enumerate(faults):
        requests[5 + 9 * k] = {"x": -1.0, "fault": fault}
    results = [f.result(timeout=120) for f in [faulty.submit(r) for r in requests]]
    bad = {r.params["fault"]: r for r in results if "fault" in r.params}
    assert all(r.ok for r in results if "fault" not in r.params)
    assert [r.metrics["x"] for r in results if "fault" not in r.params] == [
        q["x"] for q in requests if "fault" not in q
    ]
    assert {f: r.status for f, r in bad.items()} == dict.fromkeys(faults, "failed")
    assert "elapsed" in bad["bad-elapsed"].error
    assert "metric 'x'" in bad["bad-metric"].error and "list" not in bad["bad-metric"].error
    assert "bogus-status" in bad["bogus-status"].error
    assert "metric 'x' is nan" in bad["nan"].error
    assert len(bad["huge-metric"].error) < 1000  # a 2 MB value is not echoed whole


def test_invalid_points_are_results_in_map_and_scans_and_scans_resume(faulty, tmp_path):
    requests = [{"x": float(i)} for i in range(10)]
    requests[3] = {"x": 3.0, "fault": "explode"}
    results = list(faulty.map(requests, errors="return"))
    assert [r.status for r in results] == ["ok"] * 3 + ["invalid"] + ["ok"] * 6
    assert "fault" in results[3].error and results[3].params == requests[3]
    assert [r.params for r in faulty.map(requests, errors="skip")] == [
        r for r in requests if "fault" not in r
    ]
    with pytest.raises(ValueError, match="fault"):
        list(faulty.map(requests))
    out = tmp_path / "scan"
    df = run_scan(faulty, requests, out, chunk=4, progress=False)
    assert len(df) == 10 and (df["status"] == "invalid").sum() == 1
    again = run_scan(faulty, requests, out, chunk=4, progress=False)
    assert sorted(again["request_id"]) == list(range(10))


def test_a_crash_reports_the_real_exit_code(faulty):
    res = faulty.submit({"fault": "crash"}).result(timeout=60)
    assert res.status == "failed" and "exit code 7" in res.error


def test_pools_have_a_default_timeout_and_none_disables_it(ray_session):
    with SimulationPool(FaultySimulator(), max_actors=1, timeout=1.0) as pool:
        assert pool.submit({"fault": "hang"}).result(timeout=60).status == "timeout"
        assert pool.run({"x": 1.0}).ok
    assert DEFAULT_TIMEOUT == 600.0
    with SimulationPool(FaultySimulator(), max_actors=1) as pool:
        assert pool.timeout == DEFAULT_TIMEOUT
    with SimulationPool(FaultySimulator(), max_actors=1, timeout=None) as pool:
        fut = pool.submit({"fault": "hang"})
        time.sleep(2.0)
        assert not fut.done()
        pool.cancel(fut)
        assert fut.result(timeout=30).status == "cancelled"


def test_a_slot_that_cannot_restart_is_reported_and_its_actor_replaced(tmp_path):
    marker = tmp_path / "no-rebuild"
    marker.touch()
    sim = RestartFailingSimulator(marker)
    with SimulationPool(sim, slots=1, min_actors=1, max_actors=1) as pool:
        first = pool.run({})
        crashed = pool.submit({"fault": "crash"}).result(timeout=60)
        assert crashed.status == "failed" and "crashed" in crashed.error
        (stats,) = pool.stats()["per_actor"].values()
        assert stats["unhealthy_slots"] == [0]  # the restart failed: reported
        results = [f.result(timeout=120) for f in [pool.submit({"i": i}) for i in range(5)]]
        assert all(r.ok for r in results), [r.error for r in results]
        assert {r.actor for r in results} != {first.actor}  # served by a replacement
        assert len(pool.actors) == 1


def test_a_crash_in_a_vectorised_group_on_a_slot_that_cannot_restart_fails_the_culprit_only(
    tmp_path,
):
    """A group of fast requests runs as one simulate_batch call; a crash in it, on a slot
    that cannot restart, sends the group back to run one per call: the culprit is found
    (failed, SimulatorCrashed, not "no slot could run it") and every other request is ok."""
    marker = tmp_path / "no-rebuild"
    marker.touch()
    sim = RestartFailingBatchSimulator(marker)
    with SimulationPool(sim, slots=1, min_actors=1, max_actors=2) as pool:
        assert all(r.ok for r in pool.map({"i": i} for i in range(100)))  # fast: groups
        requests = [{"i": i} for i in range(40)]
        requests[17] = {"fault": "crash"}
        results = [f.result(timeout=300) for f in pool.submit_many(requests)]
    assert [r.params for r in results] == requests
    assert results[17].status == "failed" and results[17].error_type == "SimulatorCrashed"
    assert all(r.ok for i, r in enumerate(results) if i != 17), [r.error for r in results]


def test_a_vectorised_group_that_downs_a_slot_for_good_comes_back_to_run_alone(tmp_path):
    """On the slot itself: the crash takes the vectorised call down, the restart fails,
    so no request of the group can be blamed or run there: each comes back RUN_ALONE
    (the pool then sends it in a call of its own), none failed, none None."""
    marker = tmp_path / "no-rebuild"
    marker.touch()
    sim = RestartFailingBatchSimulator(marker)
    slot = ProcessSlot(lambda: sim, 0)
    try:
        assert slot.vectorises
        params = [{"i": 1}, {"fault": "crash"}, {"i": 2}]
        requests = [Request.one(p, None, 30.0, i) for i, p in enumerate(params)]
        assert slot.call_many(requests) == [RUN_ALONE] * 3
        assert not slot.healthy and slot.restarts == 1
    finally:
        slot.close()


def test_in_a_vectorised_group_a_neighbours_tight_timeout_fails_no_one_else():
    """A batch call gets the group's largest timeout, and a set it did not give ok (nor a
    lost beam) runs again alone with its own: five requests with 30 s next to one with
    0.12 s, each 0.05 s of work, all come back ok."""
    slot = ProcessSlot(FaultyBatchSimulator, 0)
    try:
        timeouts = [0.12] + [30.0] * 5
        requests = [Request.one({"sleep": 0.05}, None, t, i) for i, t in enumerate(timeouts)]
        results = slot.call_many(requests)
        assert [r.status for r in results] == ["ok"] * 6, [r.error for r in results]
        assert slot.restarts == 0
    finally:
        slot.close()


def test_an_unpicklable_or_odd_request_is_named_not_crashing_the_pool(faulty):
    with pytest.raises(ValueError, match="seed"):
        faulty.submit({"x": 1.0}, seed="seven")
    with pytest.raises(ValueError, match="timeout"):
        faulty.submit({"x": 1.0}, timeout=-1)
    assert faulty.run({"x": 1.0}).ok


EXIT_SCRIPT = textwrap.dedent(
    """
    import ray
    from accelerate_rl.runtime import SimulationPool
    from accelerate_rl.simulators.testing import SleepSimulator

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    pool = SimulationPool(SleepSimulator(0.05), slots=1, max_actors=1, name="left-open")
    assert pool.run({"x": 1.0}).ok
    futures = [pool.submit({"x": float(i)}) for i in range(20)]  # some still running
    print("EXITING", flush=True)
    """
)

#: The same pool left open, then an explicit ray.shutdown() (as a test session's teardown
#: does) after close_open_pools(): no pool thread may call into Ray after it.
SHUTDOWN_ENDING = textwrap.dedent(
    """
    import threading, time
    from accelerate_rl.runtime import close_open_pools
    close_open_pools()
    assert all(f.done() for f in futures)
    ray.shutdown()
    time.sleep(2.0)  # long enough for a surviving dispatcher thread to reach Ray
    print("THREADS", sum(t.name == "simulation-pool" for t in threading.enumerate()))
    """
)


@pytest.mark.parametrize("ending", ["", SHUTDOWN_ENDING], ids=["at-exit", "ray-shutdown"])
def test_a_pool_left_open_at_interpreter_exit_closes_quietly(tmp_path, ending):
    proc = run_script(EXIT_SCRIPT + ending, tmp_path, timeout=300)
    if ending:
        assert "THREADS 0" in proc.stdout, proc.stderr[-3000:]
    assert proc.returncode == 0 and "EXITING" in proc.stdout, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "Ray has not been started" not in proc.stderr, (
        proc.stderr[-3000:]
    )
