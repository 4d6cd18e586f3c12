"""Running a Python script that starts its own Ray (a ``Cluster`` or a local Ray) in a
fresh interpreter, so the session's Ray is untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_script(script: str, home: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``script`` with ``python -c`` in ``home`` (also its HOME), no inherited Ray."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "HOME": str(home)}
    env.pop("RAY_ADDRESS", None)  # set by the session's Ray: the script starts its own
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=home,
    )


def script_result(script: str, home: Path, timeout: float = 600) -> dict:
    """The JSON the script printed on its last ``RESULT `` line."""
    proc = run_script(script, home, timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result; stderr tail:\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])
