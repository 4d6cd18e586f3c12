"""RL on any simulator: the same task through the embedded engine and through the
TraceWin path (the tracewin simulator running ``arl-tracewin``, in-process and as a
service), a TraceWin ``.ini`` project, sub-environments fanned out over every slot of a
slow simulator, a slow sub-environment truncated alone, metrics a simulator cannot give,
a script using a TraceWin service exiting cleanly."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.rl import BeamlineEnv, BeamlineVectorEnv, adige_task, start_service
from accelerate_rl.rl.backends import observe_list
from accelerate_rl.rl.task import TaskConfig
from accelerate_rl.runtime.resources import KUBERAY_ENV, MissingResources, require_actor_resources
from accelerate_rl.simulators.observe import MetricUnavailable
from accelerate_rl.simulators.testing import LatencySimulator
from ray_scripts import run_script

ARL = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")
TRACEWIN = {"simulator": "tracewin", "simulator_options": {"executable": ARL}}
#: tracewin.out carries 7 significant digits
CLOSE = dict(rtol=1e-5, atol=1e-6)


def _roll(vec, seed: int, steps: int):
    """Observations, rewards, flags and successes of ``steps`` seeded random steps."""
    rng = np.random.default_rng(seed)
    obs, _ = vec.reset(seed=seed)
    trace = [obs]
    rewards, flags, success = [], [], []
    for _ in range(steps):
        acts = rng.uniform(-0.4, 0.4, (vec.num_envs, *vec.single_action_space.shape))
        obs, rew, term, trunc, info = vec.step(acts.astype(np.float32))
        trace.append(obs)
        rewards.append(rew)
        flags.append((term.tolist(), trunc.tolist()))
        success.append(list(info["success"]))
    return np.array(trace), np.array(rewards), flags, success


def _assert_same(a, b, transmission: int = 6, npart: int = 2000):
    """Same observations (transmission to the half particle tracewin.out's integer
    npart resolves), rewards,
    terminations, truncations and successes."""
    beam = np.arange(a[0].shape[-1]) != transmission
    np.testing.assert_allclose(a[0][..., beam], b[0][..., beam], **CLOSE)
    np.testing.assert_allclose(a[0][..., ~beam], b[0][..., ~beam], atol=0.5 / npart)
    np.testing.assert_allclose(a[1], b[1], **CLOSE)
    assert a[2] == b[2] and a[3] == b[3]


def test_the_task_on_arl_tracewin_in_process_equals_the_embedded_engine():
    """Near the solution (small hidden errors, absolute actions) so successes occur."""
    task = adige_task(max_steps=3, reset_fraction=0.2)
    embedded = _roll(BeamlineVectorEnv(task, num_envs=2), 7, 3)
    tracewin = _roll(BeamlineVectorEnv({**task, **TRACEWIN}, num_envs=2), 7, 3)
    _assert_same(embedded, tracewin)
    assert np.any(np.abs(embedded[0][..., :6]) > 0.01)  # the beam moved: not all zeros


@pytest.mark.usefixtures("ray_session")
def test_the_task_through_the_embedded_and_the_tracewin_services_agree():
    task = adige_task(max_steps=2)
    remote = {**task, **TRACEWIN}
    with (
        start_service(task, name="rl-any-embedded", slots=1, max_actors=1),
        start_service(remote, name="rl-any-tracewin", slots=3, max_actors=1),
    ):
        a = BeamlineVectorEnv({**task, "backend": {"service": "rl-any-embedded"}}, num_envs=3)
        b = BeamlineVectorEnv({**remote, "backend": {"service": "rl-any-tracewin"}}, num_envs=3)
        _assert_same(_roll(a, 3, 3), _roll(b, 3, 3))  # 3 steps: episodes end and reset
        single = BeamlineEnv({**remote, "backend": {"service": "rl-any-tracewin"}})
        single.reset(seed=0)
        for env in (a, b, single):  # close() closes the env's client of the service
            env.close()
            with pytest.raises(RuntimeError, match="the pool is shut down"):
                env.backend.pool.submit({})


def test_a_tracewin_ini_project_serves_the_task(spoke):
    """The real spoke run's .ini project: the quadrupole gradient of element 2 as a
    knob, the beam size at the first cavity's exit (a field-map element) as a target."""
    task = {
        "project": str(spoke / "work_field_map.ini"),
        "knobs": [{"key": "ele[2][2]", "low": 5.0, "high": 15.0}],
        "targets": [{"column": "SizeX", "element": 6, "value": 1.5, "tolerance": 0.2}],
        "max_steps": 2,
    }
    a = _roll(BeamlineVectorEnv(task, num_envs=1), 1, 2)
    b = _roll(BeamlineVectorEnv({**task, **TRACEWIN}, num_envs=1), 1, 2)
    _assert_same(a, b, transmission=1, npart=10)  # the .ini's 10 particles


def test_a_metric_the_simulator_cannot_give_stops_the_service_start():
    task = adige_task(targets=[{"column": "x0", "element": 60, "value": 0, "tolerance": 1}])
    with pytest.raises(MetricUnavailable, match=r"tracewin simulator.*'x0@60'"):
        start_service({**task, **TRACEWIN}, name="rl-any-bad")


def test_a_simulator_object_missing_a_task_metric_is_an_error_on_its_first_result():
    sim = LatencySimulator(ADIGE_DEMO, latency=0.0, observe=[("x0", 9)])  # no x0@37 ...
    env = BeamlineEnv(adige_task(simulator=sim))
    with pytest.raises(MetricUnavailable, match=r"LatencySimulator returned no 'y0@9'"):
        env.reset(seed=0)


def test_start_service_refuses_a_simulator_other_than_the_tasks():
    with pytest.raises(ValueError, match="set the task's 'simulator'"):
        start_service(adige_task(), name="rl-any-mismatch", simulator="tracewin")
    with pytest.raises(ValueError, match="simulator 'tracewn'"):
        TaskConfig(**adige_task(simulator="tracewn"))


@pytest.mark.usefixtures("ray_session")
def test_a_licence_the_cluster_lacks_fails_the_service_start_naming_it(monkeypatch):
    """The session's Ray has 4 CPUs and no licences: the start fails after the wait,
    saying what the cluster has and how to add the resource, instead of waiting 600 s."""
    monkeypatch.delenv(KUBERAY_ENV, raising=False)
    licence = {"tracewin_licence": 1}
    with pytest.raises(MissingResources) as err:
        start_service(
            {**adige_task(), **TRACEWIN},
            name="rl-any-nolicence",
            slots=2,
            resources_per_slot=licence,
            resource_wait=0.5,
        )
    message = str(err.value)
    assert "{'tracewin_licence': 2.0}" in message  # 2 slots x 1 licence per actor
    assert "the cluster has CPU: 4" in message
    assert """ray start --head --resources '{"tracewin_licence": 4}'""" in message
    assert "KubeRay's tracewin worker group" in message
    require_actor_resources({"CPU": 1}, 4)  # what the cluster has: at once
    monkeypatch.setenv(KUBERAY_ENV, "1")  # in a KubeRay pod the autoscaler adds nodes
    require_actor_resources(licence, 2, wait=0.0)


class _SlowWhenSteeredRight(LatencySimulator):
    """30 s runs when the first steerer is set above 0, 0.3 s otherwise."""

    def latency_for(self, params):
        return 30.0 if params["ele[5][1]"] > 0 else 0.3


def _intervals(path: Path) -> list[tuple[float, float]]:
    return sorted(tuple(map(float, ln.split()[:2])) for ln in path.read_text().splitlines())


@pytest.mark.usefixtures("ray_session")
def test_sub_envs_of_a_slow_simulator_fan_out_over_every_slot(tmp_path):
    """4 sub-environments on a 4-slot service of a 1 s simulator: each step's 4 runs
    overlap in time (they ran at once), not one after another."""
    n = 4
    log = tmp_path / "runs.txt"
    task = adige_task(max_steps=5)
    sim = LatencySimulator(ADIGE_DEMO, 1.0, observe_list(TaskConfig(**task)), record=log)
    task = {**task, "simulator": sim}
    with start_service(task, name="rl-any-fanout", slots=n, max_actors=1, isolation="thread"):
        vec = BeamlineVectorEnv({**task, "backend": {"service": "rl-any-fanout"}}, num_envs=n)
        vec.reset(seed=0)
        _, _, term, trunc, info = vec.step(np.zeros((n, 6), np.float32))
    runs = _intervals(log)
    assert len(runs) == 2 * n and not trunc.any() and set(info["status"]) == {"ok"}
    for step in (runs[:n], runs[n:]):  # the reset's runs, then the step's
        assert max(s for s, _ in step) < min(f for _, f in step), step
    assert runs[n - 1][1] <= runs[n][0]  # the step began after the reset's runs ended


@pytest.mark.usefixtures("ray_session")
def test_a_slow_sub_env_times_out_and_truncates_alone(tmp_path):
    n = 4
    task = adige_task(max_steps=5, timeout=3.0)
    sim = _SlowWhenSteeredRight(ADIGE_DEMO, observe=observe_list(TaskConfig(**task)))
    task = {**task, "simulator": sim}
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with start_service(task, name="rl-any-slow", slots=n, max_actors=1, isolation="thread"):
        vec = BeamlineVectorEnv({**task, "backend": {"service": "rl-any-slow"}}, num_envs=n)
        starts = [[-100.0, 0, 0, 0, 2763.0, -3364.0], [100.0, 0, 0, 0, 2763.0, -3364.0]]
        vec.reset(seed=0, options={"values": starts[0], "offsets": [0, 0, 0, 0]})
        # sub-envs 1 and 3 steer to +60 (slow), 0 and 2 stay at -100 (fast)
        acts = np.zeros((n, 6), np.float32)
        acts[[1, 3], 0] = 160 / (2.0 * 150)
        obs, rew, term, trunc, info = vec.step(acts)
    assert trunc.tolist() == [False, True, False, True], info
    assert list(info["status"]) == ["ok", "timeout", "ok", "timeout"]
    assert list(info["technical_failures"]) == [0, 1, 0, 1]
    assert np.all(np.isfinite(obs))


@pytest.mark.usefixtures("ray_session")
def test_tune_trials_of_a_slow_simulator_run_one_per_slot_at_once(tmp_path):
    """A random search on a 3-slot service of a 10 s simulator: by default as many trials
    run at once as the service has slots, so their runs overlap."""
    pytest.importorskip("ray.tune")
    from accelerate_rl.tune import search_episode

    log = tmp_path / "runs.txt"
    task = adige_task()
    sim = LatencySimulator(ADIGE_DEMO, 10.0, observe_list(TaskConfig(**task)), record=log)
    task = {**task, "simulator": sim}
    with start_service(task, name="rl-any-tune", slots=3, max_actors=1, isolation="thread"):
        frame = search_episode(
            task, "random", service="rl-any-tune", seed=0, budget=3, storage=tmp_path / "t"
        )
    runs = _intervals(log)
    assert len(frame) == 3 and len(runs) == 3
    assert max(s for s, _ in runs) < min(f for _, f in runs), runs  # all three at once


#: Evaluates a policy through a TraceWin service, then steps a second env and drops it
#: unclosed; ``clients`` (registered between Ray's exit hook and the pools', so it runs
#: after the pools' and before Ray shuts down) prints the pools' dispatcher threads left.
EXITING_SCRIPT = """
import atexit, sys, threading
import ray

def clients(when):
    left = [t.name for t in threading.enumerate() if t.name == "simulation-pool"]
    print("LEFT", when, len(left), flush=True)

atexit.register(clients, "at-exit")
import numpy as np
from accelerate_rl.rl import BeamlineVectorEnv, adige_task, start_service
from accelerate_rl.rl.evaluation import evaluate

task = {**adige_task(max_steps=1), **TRACEWIN}
ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
         namespace="accelerate_rl")

served = {**task, "backend": {"service": "exits"}}

def forgotten():
    env = BeamlineVectorEnv(served, num_envs=2)
    env.reset(seed=0)
    env.step(np.zeros((2, 6), np.float32))

with start_service(task, name="exits", slots=2, max_actors=1):
    report = evaluate(lambda obs: np.zeros((len(obs), 6)), served, episodes=2)
    clients("evaluated")
    forgotten()
print("RESULT", report["env_steps"], flush=True)
"""


def test_a_script_on_a_tracewin_service_exits_cleanly(tmp_path):
    """evaluate() closes its env's service client; an env dropped unclosed is closed by
    the exit hook before Ray shuts down: exit code 0, no "core worker has already been
    shutdown" (a client's dispatcher thread still calling into Ray as it shuts down)."""
    proc = run_script(f"TRACEWIN = {TRACEWIN!r}\n" + EXITING_SCRIPT, tmp_path, timeout=300)
    assert "RESULT 2" in proc.stdout, proc.stderr[-3000:]
    assert "LEFT evaluated 1" in proc.stdout  # the service's own: evaluate closed its client
    assert "LEFT at-exit 0" in proc.stdout
    assert "core worker has already been shutdown" not in proc.stderr
    assert proc.returncode == 0, proc.stderr[-3000:]
