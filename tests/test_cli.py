"""The ``accelerate-rl`` command as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd

from accelerate_rl.tracewin import read_out


def test_demo_runs_the_main_job_and_writes_its_outputs(tmp_path):
    exe = shutil.which("accelerate-rl")
    cmd = [exe] if exe else [sys.executable, "-m", "accelerate_rl.cli"]
    proc = subprocess.run(
        [*cmd, "demo", "--out", str(tmp_path), "--points", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    scan = pd.read_parquet(tmp_path / "scan.parquet")
    assert len(scan) == 25 and set(scan["status"]) <= {"ok", "losses"}
    assert {"ele[29][2]", "ele[31][2]", "SizeX", "transmission"} <= set(scan.columns)
    assert read_out(tmp_path / "partran1.out")["npart"].iloc[-1] > 0
    assert (tmp_path / "envelope.png").stat().st_size > 1000
    assert "best spot" in proc.stdout
