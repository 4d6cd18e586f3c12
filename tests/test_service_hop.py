"""The service hop's fast paths give the results of the plain ones: a vector env's batch
split over the service's slots (``submit_batch(parts=)``), requests queued together
(``submit_many``) and coalesced into one actor call, single requests grouped into one
slot exchange, a batch validated in one vectorised pass, a future settled by the thread
waiting on it; a fault inside a coalesced call fails only its own request."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import ray

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.rl import BeamlineVectorEnv, adige_task, start_service
from accelerate_rl.rl.backends import MIN_SETS_PER_PART
from accelerate_rl.runtime import SimulationPool
from accelerate_rl.runtime.request import Request
from accelerate_rl.simulators import EmbeddedSimulator
from accelerate_rl.simulators.testing import FaultyBatchSimulator, FaultySimulator, NoopSimulator

pytestmark = pytest.mark.usefixtures("ray_session")

ARL = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")


def _roll(vec, seed: int, steps: int):
    """Observations, rewards, flags and statuses of ``steps`` seeded random steps."""
    rng = np.random.default_rng(seed)
    obs, info = vec.reset(seed=seed)
    trace = [(obs, None, None, None, list(info["status"]))]
    for _ in range(steps):
        acts = rng.uniform(-1, 1, (vec.num_envs, *vec.single_action_space.shape))
        obs, rew, term, trunc, info = vec.step(acts.astype(np.float32))
        trace.append((obs, rew, term.tolist(), trunc.tolist(), list(info["status"])))
    return trace


def _assert_identical(a, b) -> None:
    for (oa, ra, ta, ua, sa), (ob, rb, tb, ub, sb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(oa, ob)
        if ra is not None:
            np.testing.assert_array_equal(ra, rb)
        assert (ta, ua, sa) == (tb, ub, sb)


def test_a_vector_env_split_over_two_slots_equals_in_process_and_one_slot():
    """Episodes of 4 steps (their ends and autoresets included) through a
    2-slot service (the batch in two parts, one per slot), a 1-slot service (one part)
    and in-process: identical observations, rewards, flags and statuses."""
    task = adige_task(max_steps=4)
    n = 2 * MIN_SETS_PER_PART
    with (
        start_service(task, name="hop-two", slots=2, max_actors=1),
        start_service(task, name="hop-one", slots=1, max_actors=1),
    ):
        two = BeamlineVectorEnv({**task, "backend": {"service": "hop-two"}}, num_envs=n)
        one = BeamlineVectorEnv({**task, "backend": {"service": "hop-one"}}, num_envs=n)
        local = _roll(BeamlineVectorEnv(task, num_envs=n), 5, 6)
        _assert_identical(_roll(two, 5, 6), local)
        _assert_identical(_roll(one, 5, 6), local)
        # the split is real: two batch requests, each on its own slot
        params = [env._params() for env in two.envs]
        results = two.backend.evaluate_batch(params)
    halves = results[: n // 2], results[n // 2 :]
    assert [len({r.request_id for r in h}) for h in halves] == [1, 1]
    assert halves[0][0].request_id != halves[1][0].request_id
    assert len({halves[0][0].slot, halves[1][0].slot}) == 2
    assert [r.params for r in results] == params
    assert any(any(step[3]) for step in local[1:])  # episodes ended and were reset


def test_a_batch_in_parts_equals_one_batch_and_names_a_bad_set_by_its_index():
    with SimulationPool("embedded", ADIGE_DEMO, slots=2, max_actors=1) as pool:
        rng = np.random.default_rng(2)
        sets = [{"ele[29][2]": float(v), "ele[5][1]": 10.0} for v in rng.uniform(2000, 3800, 11)]
        sets[6]["ele[5][1]"] = 50000.0  # loses the beam
        whole = pool.submit_batch(sets).result(timeout=120)
        parts = pool.submit_batch(sets, parts=3).result(timeout=120)
        assert [r.params for r in parts] == sets
        assert [r.status for r in parts] == [r.status for r in whole]
        assert [r.metrics for r in parts] == [r.metrics for r in whole]
        assert parts[6].status == "lost" and parts[6].error == whole[6].error
        assert len({r.request_id for r in parts}) == 3  # 4 + 4 + 3 sets
        bad = [dict(s) for s in sets]
        bad[8]["ele[29][2]"] = float("nan")  # same keys: the vectorised check finds it
        with pytest.raises(ValueError, match=r"batch request 8: ele\[29\]\[2\].*finite"):
            pool.submit_batch(bad, parts=2)
        bad[8] = {"ele[99][1]": 1.0}  # other keys: checked set by set
        with pytest.raises(ValueError, match=r"batch request 8: ele\[99\]\[1\].*1..37"):
            pool.submit_batch(bad)
        assert pool.submit_batch([], parts=4).result() == []


def test_requests_queued_together_each_yield_their_own_result():
    with SimulationPool(FaultySimulator(), slots=2, max_actors=1, timeout=30) as pool:
        requests = [{"x": float(i)} for i in range(20)]
        requests[3] = {"fault": "bogus"}  # rejected before dispatch
        requests[9] = {"fault": "raise"}
        futures = pool.submit_many(requests, errors="return")
        results = [f.result(timeout=120) for f in futures]
        assert [r.params for r in results] == requests
        assert results[3].status == "invalid" and "fault" in results[3].error
        assert results[9].status == "failed"
        assert all(r.ok and r.metrics["x"] == i for i, r in enumerate(results) if i not in (3, 9))
        assert len({r.request_id for r in results}) == 20
        with pytest.raises(ValueError, match="bogus"):
            pool.submit_many(requests)


def test_a_timeout_or_crash_in_a_grouped_exchange_fails_only_its_own_request():
    """Once simulations are fast, an actor runs a coalesced call's single requests in
    groups, one exchange per slot: a crash and a hang inside a group fail only
    themselves; the slot restarts and the rest of the group runs, each result once."""
    with SimulationPool(FaultySimulator(), slots=2, max_actors=1) as pool:
        assert sum(r.ok for r in pool.map({"x": float(i)} for i in range(200))) == 200
        faults = {2: {"fault": "crash"}, 5: {"fault": "hang"}, 6: {"fault": "garbage"}}
        params = [faults.get(i, {"x": float(i)}) for i in range(9)]
        requests = [Request.one(p, None, 3.0, 1000 + i) for i, p in enumerate(params)]
        outcomes = ray.get(pool.actors[0].run_many.remote(requests), timeout=300)
    assert [o.request_id for o in outcomes] == [r.request_id for r in requests]
    assert [o.params for o in outcomes] == params
    status = [o.status for o in outcomes]
    assert status == ["ok", "ok", "failed", "ok", "ok", "timeout", "failed", "ok", "ok"]
    assert outcomes[2].error_type == "SimulatorCrashed" and "exit code 7" in outcomes[2].error
    assert [o.metrics["x"] for o in outcomes if o.ok] == [0.0, 1.0, 3.0, 4.0, 7.0, 8.0]
    # grouped: two groups (0-4 and 5-8), each on one slot
    assert len({o.slot for o in outcomes[:5]}) == 1 and len({o.slot for o in outcomes[5:]}) == 1


def test_a_fast_group_runs_vectorised_and_a_fault_in_it_fails_only_its_own_request():
    """A simulator with simulate_batch: a group of unseeded single requests is one
    vectorised call on its slot; seeded ones run one by one. A crash or a hang takes the
    vectorised call down as a whole: the group runs again request by request, so only
    the culprits fail, each with its own status, and every other result comes once."""
    with SimulationPool(FaultyBatchSimulator(), slots=2, max_actors=1) as pool:
        assert sum(r.ok for r in pool.map({"x": float(i)} for i in range(200))) == 200
        actor = pool.actors[0]
        clean = [Request.one({"x": float(i)}, None, 30.0, 2000 + i) for i in range(8)]
        outcomes = ray.get(actor.run_many.remote(clean), timeout=300)
        assert [o.metrics for o in outcomes] == [
            {"x": float(i), "pid": outcomes[i].metrics["pid"], "batched": 1.0} for i in range(8)
        ]
        seeded = [Request.one({"x": 1.0}, 5, 30.0, 3000 + i) for i in range(4)]
        outcomes = ray.get(actor.run_many.remote(seeded), timeout=300)
        assert all(o.ok and o.seed == 5 and "batched" not in o.metrics for o in outcomes)
        before = ray.get(actor.stats.remote())
        restarts = before["restarts"]
        faults = {2: {"fault": "crash"}, 5: {"fault": "hang"}, 6: {"fault": "garbage"}}
        params = [faults.get(i, {"x": float(i)}) for i in range(9)]
        requests = [Request.one(p, None, 3.0, 4000 + i) for i, p in enumerate(params)]
        outcomes = ray.get(actor.run_many.remote(requests), timeout=300)
        stats = ray.get(actor.stats.remote())
    assert [o.request_id for o in outcomes] == [r.request_id for r in requests]
    assert [o.params for o in outcomes] == params
    status = [o.status for o in outcomes]
    assert status == ["ok", "ok", "failed", "ok", "ok", "timeout", "failed", "ok", "ok"]
    assert outcomes[2].error_type == "SimulatorCrashed" and "exit code 7" in outcomes[2].error
    assert [o.metrics["x"] for o in outcomes if o.ok] == [0.0, 1.0, 3.0, 4.0, 7.0, 8.0]
    # each group's vectorised call went down (crash, hang), then each culprit once more
    assert stats["restarts"] - restarts == 4
    assert stats["unhealthy_slots"] == []
    # the actor counted each request once, by its final status
    counted = {k: v - before["by_status"].get(k, 0) for k, v in stats["by_status"].items()}
    assert {k: v for k, v in counted.items() if v} == {"ok": 6, "failed": 2, "timeout": 1}
    assert stats["runs"] - before["runs"] == 9


def test_fast_single_runs_vectorised_on_the_slots_equal_in_process_single_runs():
    """pool.map of embedded envelope runs (grouped and vectorised on the slots once they
    are fast) gives what simulate gives for each setting: the same statuses, errors and
    metric names, the values within 1e-12 (the vectorised path's floating-point order,
    as ``tests/test_batch.py``), lost beams included."""
    rng = np.random.default_rng(4)
    sets = [{"ele[29][2]": float(v), "ele[5][1]": 10.0} for v in rng.uniform(2000, 3800, 300)]
    for i in (40, 41, 250):
        sets[i]["ele[5][1]"] = 50000.0  # loses the beam
    sim = EmbeddedSimulator(ADIGE_DEMO)
    expected = [sim.simulate(p) for p in sets]
    with SimulationPool("embedded", ADIGE_DEMO, slots=2, max_actors=1) as pool:
        for _ in range(2):  # the first pass makes the pool see fast simulations
            results = list(pool.map(sets, errors="return"))
            assert [r.params for r in results] == sets
            assert [r.status for r in results] == [e.status for e in expected]
            assert [r.error for r in results] == [e.error for e in expected]
            for r, e in zip(results, expected):
                assert r.metrics == pytest.approx(e.metrics, rel=1e-12, abs=1e-12)
    assert [expected[i].status for i in (40, 41, 250)] == ["lost"] * 3


def test_the_tracewin_path_fans_out_through_the_service_as_in_process():
    """The tracewin simulator running arl-tracewin: sub-environments queued together over
    the service's slots give exactly the in-process vector env's results."""
    task = {
        **adige_task(max_steps=2),
        "simulator": "tracewin",
        "simulator_options": {"executable": ARL},
    }
    with start_service(task, name="hop-tracewin", slots=2, max_actors=1):
        served = BeamlineVectorEnv({**task, "backend": {"service": "hop-tracewin"}}, num_envs=2)
        _assert_identical(_roll(served, 3, 1), _roll(BeamlineVectorEnv(task, num_envs=2), 3, 1))


def test_futures_waited_on_in_many_threads_each_settle_once_and_an_unsendable_request_fails_alone():
    """A thread waiting on its future settles the actor call itself (racing the
    dispatcher thread): every batch gets its own results, once. A request Ray cannot
    send to an actor (a value it cannot serialise) fails alone, at once."""
    with SimulationPool(NoopSimulator(), slots=2, max_actors=1) as pool:
        unsendable = pool.submit({"x": 1.0, "lock": threading.Lock()}).result(timeout=60)
        assert unsendable.status == "failed" and "could not send" in unsendable.error

        def batch(i: int):
            return pool.submit_batch([{"x": float(i)}, {"x": i + 0.5}]).result(timeout=120)

        with ThreadPoolExecutor(8) as ex:
            batches = list(ex.map(batch, range(64)))
        assert [[r.metrics["x"] for r in b] for b in batches] == [[i, i + 0.5] for i in range(64)]
        assert len({r.request_id for b in batches for r in b}) == 64
        assert pool.run({"x": 2.0}).metrics["x"] == 2.0
        assert pool._dispatcher.counts() == {"queued": 0, "in_flight": 0}


def test_closing_a_client_waits_a_bounded_time_then_abandons_its_hung_run():
    """A client's ``shutdown(timeout=)`` (what ServiceBackend.close uses) does not hang on a
    run that never answers: after the timeout its future fails saying it was abandoned,
    and the service goes on serving others."""
    with SimulationPool(FaultySimulator(), slots=2, max_actors=1, name="hop-close") as owner:
        client = SimulationPool.connect("hop-close")
        hung = client.submit({"fault": "hang"}, timeout=600)
        while not hung.running():
            time.sleep(0.05)
        with ThreadPoolExecutor(1) as ex:  # a thread already waiting on it is released too
            waiter = ex.submit(lambda: pytest.raises(RuntimeError, hung.result))
            time.sleep(0.3)
            client.shutdown(wait=True, cancel_futures=True, timeout=1.0)  # the run: an hour
            assert "abandoned" in str(waiter.result(timeout=60).value)
        with pytest.raises(RuntimeError, match="abandoned"):
            hung.result(timeout=5)
        assert owner.run({"x": 1.0}).metrics["x"] == 1.0
