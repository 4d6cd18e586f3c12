"""Shared fixtures: the real TraceWin samples beside the checkout, and a session Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "tracewin-samples"
SPOKE = SAMPLES / "lightwin-spoke-run"
EXAMPLE_LINAC = SAMPLES / "lightwin-example"

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="session")
def samples() -> Path:
    """The real TraceWin files; tests using them skip when ../shared is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real TraceWin samples not found at {SAMPLES} (../shared is absent)")
    return SAMPLES


@pytest.fixture(scope="session")
def spoke(samples: Path) -> Path:
    return samples / "lightwin-spoke-run"
