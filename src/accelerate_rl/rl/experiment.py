"""What the RL and Tune experiments under ``experiments/`` share: the task and simulator
options of their command lines, the simulation service and checkpoints (joining Ray is
:func:`accelerate_rl.runtime.init_ray`)."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..runtime.resources import RESOURCE_WAIT, MissingResources
from .backends import start_service
from .task import adige_task

#: The options the experiments share: flag -> argparse keywords.
TASK_OPTIONS: dict[str, dict[str, Any]] = {
    "--task": dict(type=Path, default=None, help="a JSON task (default: the benchmark)"),
    "--simulator": dict(
        choices=("embedded", "tracewin"),
        default=None,
        help="what runs the simulations (default: the task's, else embedded)",
    ),
    "--executable": dict(
        default=None,
        help="the tracewin simulator's program (e.g. tracelx64, arl-tracewin); split on "
        "spaces into an argv ('xvfb-run -a TraceWin')",
    ),
    "--licence": dict(
        default=None, help="a Ray resource each slot holds one unit of (e.g. tracewin_licence)"
    ),
    "--slot-resource": dict(default=None, help="custom resource per slot (KubeRay)"),
}
#: Added with ``--licence`` or ``--slot-resource``: how long a missing resource is waited for.
RESOURCE_WAIT_OPTION = dict(
    type=float,
    default=RESOURCE_WAIT,
    help="seconds to wait for a node with the slots' resources to join a cluster without "
    "them and without an autoscaler, before failing (default %(default)s)",
)


def add_task_arguments(ap: argparse.ArgumentParser, *flags: str) -> None:
    """Add the shared options ``flags`` (keys of :data:`TASK_OPTIONS`) to ``ap``, and
    ``--resource-wait`` with a slot resource option (``--licence``, ``--slot-resource``)."""
    for flag in flags:
        ap.add_argument(flag, **TASK_OPTIONS[flag])
    if {"--licence", "--slot-resource"} & set(flags):
        ap.add_argument("--resource-wait", **RESOURCE_WAIT_OPTION)


def task_from_args(
    args: argparse.Namespace, default: Callable[[], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The task of ``--task`` (else ``default()``, by default the benchmark
    :func:`adige_task`) on ``--simulator`` / ``--executable``."""
    if args.task:
        task = json.loads(args.task.read_text())
    else:
        task = (default or adige_task)()
    if args.simulator is not None:
        task["simulator"] = args.simulator
    if args.executable is not None:
        if task.get("simulator", "embedded") != "tracewin":
            raise SystemExit("--executable needs --simulator tracewin")
        argv = args.executable.split()
        task["simulator_options"] = {
            **task.get("simulator_options", {}),
            "executable": argv[0] if len(argv) == 1 else argv,
        }
    return task


def slot_resources(args: argparse.Namespace) -> dict[str, float] | None:
    """The Ray resources each service slot takes: ``--slot-resource`` and ``--licence``."""
    names = [n for n in (args.slot_resource, args.licence) if n]
    return {n: 1.0 for n in names} or None


#: The file a checkpoint directory keeps the training progress in (next to RLlib's files).
STATE_FILE = "accelerate_rl_state.json"


def service(
    task: Mapping[str, Any],
    name: str,
    slots: int,
    max_actors: int | None = None,
    resources: Mapping[str, float] | None = None,
    resource_wait: float = RESOURCE_WAIT,
):
    """The named simulation service every env runner and trial shares, on the task's
    simulator (a context manager: it is shut down on exit). ``resources``: the custom Ray
    resources each slot takes (e.g. ``{"sim_slot": 1}`` on KubeRay's simulation
    workers, so the autoscaler adds them; ``{"tracewin_licence": 1}``: a licence).
    It starts with one actor and grows up to ``max_actors`` on the load the env runners
    and trials report (they are the service's clients); actors that cannot be placed yet
    are the autoscaler's demand. A resource the cluster lacks (and no autoscaler adds)
    ends the program after ``resource_wait`` seconds with a message saying how to add it.
    """
    try:
        return start_service(
            task,
            name=name,
            slots=slots,
            max_actors=max_actors,
            resources_per_slot=resources,
            resource_wait=resource_wait,
        )
    except MissingResources as exc:
        raise SystemExit(f"error: {exc}") from None


def service_from_args(task: Mapping[str, Any], args: argparse.Namespace):
    """:func:`service` for a script's command line: ``--service`` (the name),
    ``--slots``, ``--max-actors``, the slot resources (``--licence``,
    ``--slot-resource``) and ``--resource-wait``."""
    return service(
        task, args.service, args.slots, args.max_actors, slot_resources(args), args.resource_wait
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
