"""What the RL and Tune experiments under ``experiments/`` share: the simulation service
and checkpoints (joining Ray is :func:`accelerate_rl.runtime.init_ray`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .backends import start_service

#: The file a checkpoint directory keeps the training progress in (next to RLlib's files).
STATE_FILE = "accelerate_rl_state.json"


def service(
    task: Mapping[str, Any],
    name: str,
    slots: int,
    max_actors: int | None = None,
    slot_resource: str | None = None,
):
    """The named simulation service every env runner and trial shares (a context manager:
    it is shut down on exit). ``slot_resource``: a custom Ray resource each slot takes
    (e.g. ``sim_slot`` on KubeRay's simulation workers, so the autoscaler adds them)."""
    resources = {slot_resource: 1} if slot_resource else None
    return start_service(
        task, name=name, slots=slots, max_actors=max_actors, resources_per_slot=resources
    )


def save_checkpoint(algo, directory: Path, state: Mapping[str, Any]) -> Path:
    """Save ``algo`` to ``directory/checkpoint`` atomically: written beside it, then moved
    into place, so an interrupted save never leaves a half-written checkpoint."""
    directory.mkdir(parents=True, exist_ok=True)
    final, tmp, old = (directory / n for n in ("checkpoint", "checkpoint.tmp", "checkpoint.old"))
    shutil.rmtree(tmp, ignore_errors=True)
    algo.save_to_path(str(tmp.resolve()))
    (tmp / STATE_FILE).write_text(json.dumps(dict(state)))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_state(directory: Path) -> dict[str, Any] | None:
    """The progress saved with the checkpoint in ``directory``, or None if there is none."""
    path = directory / "checkpoint" / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else None
