"""The ``accelerate-rl`` command as a user runs it (real subprocesses, their own Ray)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.tracewin import read_out


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    exe = shutil.which("accelerate-rl")
    cmd = [exe] if exe else [sys.executable, "-m", "accelerate_rl.cli"]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=600, env=env, cwd=cwd
    )


def test_demo_runs_the_main_job_and_writes_its_outputs(tmp_path):
    proc = cli("demo", "--out", str(tmp_path), "--points", "5", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    scan = pd.read_parquet(tmp_path / "scan.parquet")
    assert len(scan) == 25 and set(scan["status"]) == {"ok"}
    assert {"ele[29][2]", "ele[31][2]", "SizeX", "transmission", "request_id"} <= set(scan)
    assert read_out(tmp_path / "partran1.out")["npart"].iloc[-1] > 0
    assert (tmp_path / "envelope.png").stat().st_size > 1000
    assert "best spot" in proc.stdout


def test_simulate_prints_metrics_and_rejects_bad_keys():
    ok = cli("simulate", str(ADIGE_DEMO), "ele[29][2]=2600", "--json")
    assert ok.returncode == 0, ok.stderr
    row = json.loads(ok.stdout)
    assert row["status"] == "ok" and row["SizeX"] > 0
    bad = cli("simulate", str(ADIGE_DEMO), "ele[99][2]=1")
    assert bad.returncode == 2 and "valid range 1..37" in bad.stderr


def test_scan_writes_parquet_and_resumes(tmp_path):
    out = tmp_path / "scan.parquet"
    args = (
        "scan",
        str(ADIGE_DEMO),
        "--param",
        "ele[29][2]=2000:3000:4",
        "--param",
        "ele[31][2]=-3500:-2500:3",
        "--out",
        str(out),
        "--quiet",
    )
    first = cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    df = pd.read_parquet(out)
    assert len(df) == 12 and sorted(df["request_id"]) == list(range(12))
    again = cli(*args)
    assert again.returncode == 0 and "0 runs" not in again.stdout
    assert len(pd.read_parquet(out)) == 12  # nothing re-run, nothing duplicated


def test_random_scan(tmp_path):
    out = tmp_path / "rnd.parquet"
    proc = cli(
        "scan",
        str(ADIGE_DEMO),
        "--param",
        "ele[5][1]=-100:100:2",
        "--random",
        "20",
        "--seed",
        "3",
        "--out",
        str(out),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    df = pd.read_parquet(out)
    assert len(df) == 20 and df["ele[5][1]"].between(-100, 100).all()
