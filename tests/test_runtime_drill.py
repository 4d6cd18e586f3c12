"""The fault drill, short: 200 requests on a local 2-node cluster with slot crashes, hangs,
garbage results, an actor killed and a node removed; every request accounted for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DRILL = Path(__file__).resolve().parents[1] / "experiments" / "drill_faults.py"


@pytest.mark.slow
def test_the_short_fault_drill_loses_duplicates_mixes_up_and_fails_no_innocent_request(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "HOME": str(tmp_path)}
    env.pop("RAY_ADDRESS", None)  # the drill starts its own cluster
    args = ["--requests", "200", "--actor-kills", "1", "--node-removals", "1"]
    proc = subprocess.run(
        [sys.executable, str(DRILL), *args, "--hang-timeout", "0.5", "--deadline", "600"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout[proc.stdout.rfind("\n{\n") + 1 :])  # after Ray's log lines
    assert out["requests"] == out["accounted"] == 200
    assert out["lost"] == out["duplicated"] == out["mixed_up"] == 0
    assert out["innocent_failed"] == 0 and out["wrong_status"] == 0
    assert out["statuses"]["ok"] == out["faults"]["none"]
    assert out["actor_kills"] == 1 and out["node_removals"] == 1
    assert out["actors_replaced"] >= 2 and out["actors_at_end"] == 2
