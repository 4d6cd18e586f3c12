"""Autoscaling on one machine with Ray's fake multi-node provider: worker nodes appear while
a SimulationPool has queued work and leave when it is idle.

Isolated by construction: the cluster has its own HOME, temp dir and ports, and the test
kills exactly its processes (found by that HOME); it never runs `ray stop --force`, which
Ray's AutoscalingCluster helper would (killing every Ray of the user). The Ray wheel does
not ship the fake provider's defaults file (example.yaml); the fixture writes a minimal
one into the installed package if it is missing (a file added, nothing replaced).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
ray = pytest.importorskip("ray")

sys.path.insert(0, str(Path(__file__).parent))
from test_job_submit import RAY, free_port, kill_cluster  # noqa: E402

DEFAULTS = {
    "cluster_name": "fake_multinode",
    "max_workers": 8,
    "provider": {
        "type": "fake_multinode",
        "use_node_id_as_ip": True,
        "disable_node_updaters": True,
        "disable_launch_config_check": True,
    },
    "available_node_types": {
        "ray.head.default": {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
    },
    "head_node_type": "ray.head.default",
    "auth": {},
    "upscaling_speed": 1.0,
    "idle_timeout_minutes": 0.1,
    "docker": {},
    "initialization_commands": [],
    "setup_commands": [],
    "head_setup_commands": [],
    "worker_setup_commands": [],
    "head_start_ray_commands": [],
    "worker_start_ray_commands": [],
    "file_mounts": {},
    "cluster_synced_files": [],
    "file_mounts_sync_continuously": False,
    "rsync_exclude": [],
    "rsync_filter": [],
}

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import ray
    from accelerate_rl.runtime import SimulationPool
    from accelerate_rl.simulators.testing import SleepSimulator

    ray.init(address=sys.argv[1], namespace="accelerate_rl", log_to_driver=False)

    def workers():
        return sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get("sim_slot"))

    start = workers()
    pool = SimulationPool(SleepSimulator(0.5), slots=1, resources_per_slot={"sim_slot": 1},
                          min_actors=1, max_actors=4, idle_timeout=2.0, max_pending=200)
    futures = [pool.submit({}) for _ in range(60)]
    most, most_actors = 0, 0
    while not all(f.done() for f in futures):
        most = max(most, workers())
        most_actors = max(most_actors, len(pool.actors))
        time.sleep(0.2)
    ok = all(f.result().ok for f in futures)
    pool.shutdown()
    deadline = time.monotonic() + 120
    while workers() > 0 and time.monotonic() < deadline:
        time.sleep(1)
    print("RESULT " + json.dumps({"start": start, "most": most, "most_actors": most_actors,
                                  "ok": ok, "end": workers()}))
    """
)


@pytest.fixture()
def autoscaling_head(tmp_path):
    defaults = Path(ray.__file__).parent / "autoscaler/_private/fake_multi_node/example.yaml"
    if not defaults.exists():
        try:
            defaults.write_text(yaml.safe_dump(DEFAULTS))
        except OSError as exc:
            pytest.skip(f"cannot add the fake provider's defaults file: {exc}")
    config = dict(DEFAULTS)
    config["available_node_types"] = {
        "ray.head.default": {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
        "sim.worker": {
            "resources": {"CPU": 1, "sim_slot": 2},
            "node_config": {},
            "min_workers": 0,
            "max_workers": 3,
        },
    }
    config["max_workers"] = 3
    gcs = free_port()
    # fake worker nodes dial the head's GCS at this address (default: port 6379)
    ip = ray.util.get_node_ip_address()
    config["provider"] = {**DEFAULTS["provider"], "gcs_address": f"{ip}:{gcs}"}
    cfg = tmp_path / "autoscaling.yaml"
    cfg.write_text(json.dumps(config))
    home = tmp_path / "home"
    home.mkdir()
    temp_dir = Path(tempfile.mkdtemp(prefix="arl-as-", dir="/tmp"))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {
        **os.environ,
        "HOME": str(home),
        "RAY_AUTH_MODE": "disabled",
        "PATH": path,
        "AUTOSCALER_UPDATE_INTERVAL_S": "1",
        "RAY_FAKE_CLUSTER": "1",
    }
    env.pop("RAY_ADDRESS", None)
    cmd = [
        str(RAY),
        "start",
        "--head",
        f"--port={gcs}",
        "--num-cpus=1",
        f"--autoscaling-config={cfg}",
        f"--temp-dir={temp_dir}",
        "--include-dashboard=false",
        f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        "--disable-usage-stats",
    ]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
        yield f"{ip}:{gcs}", env
    finally:
        kill_cluster(f"HOME={home}")
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_workers_appear_with_queued_work_and_leave_when_idle(autoscaling_head, tmp_path):
    address, env = autoscaling_head
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, address],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result; stderr tail:\n{proc.stderr[-3000:]}"
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["start"] == 0, "no worker node before there is work"
    assert out["ok"]
    assert out["most"] >= 2 and out["most_actors"] >= 3, out  # scaled out with the backlog
    assert out["end"] == 0, out  # and back to no worker once idle
