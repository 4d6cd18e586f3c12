"""`ray job submit` end to end: a local `ray start --head` cluster with token
authentication, the working directory uploaded, an experiment from experiments/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).parent / "ray"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_cluster(marker: str) -> None:
    """Kill exactly this cluster's processes: those whose environment holds ``marker`` (its
    private HOME). `ray stop` would also stop every other Ray of this user, the test
    session's included, and some Ray processes rename themselves (no cmdline to match)."""
    me = os.getpid()
    needle = marker.encode()
    for _ in range(5):
        found = False
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == me:
                continue
            try:
                if needle not in (proc / "environ").read_bytes():
                    continue
            except OSError:
                continue
            found = True
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not found:
            return
        time.sleep(0.5)


@pytest.fixture()
def head(tmp_path):
    yield from start_head(tmp_path)


def start_head(tmp_path: Path, *extra: str):
    """A local `ray start --head` (``extra``: more of its options); yields (address, env)."""
    if not RAY.exists():
        pytest.skip(f"the ray CLI is not installed beside {sys.executable}")
    home = tmp_path / "home"
    home.mkdir()
    # Ray's unix sockets live under the temp dir: keep its path short (<= 107 bytes)
    temp_dir = Path(tempfile.mkdtemp(prefix="arl-", dir="/tmp"))
    # jobs run `python` from the cluster's PATH: this interpreter, as an image's would be
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "HOME": str(home), "RAY_AUTH_MODE": "token", "PATH": path}
    env.pop("RAY_ADDRESS", None)
    dash = free_port()
    # every port its own: the session's Ray (and its dashboard agent) may be running
    cmd = [
        str(RAY),
        "start",
        "--head",
        f"--port={free_port()}",
        "--num-cpus=2",
        f"--dashboard-port={dash}",
        "--dashboard-host=127.0.0.1",
        "--include-dashboard=true",
        f"--ray-client-server-port={free_port()}",
        f"--temp-dir={temp_dir}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
        "--disable-usage-stats",
        *extra,
    ]
    try:
        gen = subprocess.run(
            [str(RAY), "get-auth-token", "--generate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert gen.returncode == 0, gen.stderr[-2000:]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
        address = f"http://127.0.0.1:{dash}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", dash)) == 0:
                    break
            time.sleep(0.5)
        yield address, env
    finally:
        kill_cluster(f"HOME={home}")
        shutil.rmtree(temp_dir, ignore_errors=True)


def submit(address: str, env: dict, out: Path, argv: list[str] | None = None, timeout: float = 600):
    """Submit an experiment (default: a 3x3 scan writing ``out``); retried while the
    fresh head's job agent is still starting; ``timeout`` [s] for the job."""
    argv = argv or ["experiments/scan_beamline.py", "--points", "3", "--out", str(out)]
    runtime_env = {"excludes": [".git", ".venv", "runs", "*.parquet", "__pycache__"]}
    deadline = time.monotonic() + 90
    while True:
        proc = subprocess.run(
            [
                str(RAY),
                "job",
                "submit",
                "--address",
                address,
                "--working-dir",
                str(ROOT),
                "--runtime-env-json",
                json.dumps(runtime_env),
                "--",
                "python",
                *argv,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if "No available agent" not in proc.stderr or time.monotonic() > deadline:
            return proc
        time.sleep(2)


@pytest.mark.slow
def test_ray_job_submit_runs_an_experiment_with_token_auth(head, tmp_path):
    address, env = head
    out = tmp_path / "scan.parquet"
    proc = submit(address, env, out)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    assert summary["runs"] == 9 and summary["status"] == {"ok": 9}
    assert len(pd.read_parquet(out)) == 9
    # with another token the job API refuses the submission
    stranger_home = tmp_path / "stranger"
    stranger_home.mkdir()
    stranger = {**env, "HOME": str(stranger_home)}
    subprocess.run(
        [str(RAY), "get-auth-token", "--generate"],
        env=stranger,
        capture_output=True,
        timeout=120,
        check=True,
    )
    denied = submit(address, stranger, tmp_path / "denied.parquet")
    assert denied.returncode != 0
    assert not (tmp_path / "denied.parquet").exists()


@pytest.mark.slow
def test_rl_training_runs_as_a_job_and_a_resubmission_resumes(head, tmp_path):
    """train_rl.py through `ray job submit` (env runners on the job's simulation service),
    twice with the same --out: the second job resumes from the first one's checkpoint."""
    address, env = head
    out = tmp_path / "ppo"
    argv = [
        "experiments/train_rl.py",
        "--out",
        str(out),
        "--train-batch-size",
        "256",
        "--num-envs",
        "8",
    ]

    def last_json(proc):
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])

    first = last_json(submit(address, env, out, [*argv, "--max-iterations", "2"]))
    assert first["iteration"] == 2 and (out / "checkpoint").is_dir()
    second = submit(address, env, out, [*argv, "--max-iterations", "3"])
    assert '"resumed"' in second.stdout
    assert last_json(second)["iteration"] == 3
