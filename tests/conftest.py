"""Shared fixtures: the real TraceWin samples beside the checkout, and a session Ray."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "tracewin-samples"
SPOKE = SAMPLES / "lightwin-spoke-run"
EXAMPLE_LINAC = SAMPLES / "lightwin-example"

# Ray 2.60 turns token auth on for local clusters: say what we want, and keep Ray's files
# (and any token) out of the real home directory.
os.environ["RAY_AUTH_MODE"] = "disabled"
_HOME = Path(tempfile.mkdtemp(prefix="arl-test-home-"))
os.environ["HOME"] = str(_HOME)


@pytest.fixture(scope="session")
def samples() -> Path:
    """The real TraceWin files; tests using them skip when ../shared is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real TraceWin samples not found at {SAMPLES} (../shared is absent)")
    return SAMPLES


@pytest.fixture(scope="session")
def spoke(samples: Path) -> Path:
    return samples / "lightwin-spoke-run"


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole session (start-up costs seconds)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        # address="local": always a new local Ray, never one a `ray start --head` elsewhere
        # on this machine left in /tmp/ray/ray_current_cluster.
        ray.init(
            address="local",
            num_cpus=4,
            include_dashboard=False,
            log_to_driver=False,
            namespace="accelerate_rl",
        )
    yield ray
    from accelerate_rl.runtime import close_open_pools

    close_open_pools()  # pools a test left open: their threads must not outlive Ray
    ray.shutdown()
