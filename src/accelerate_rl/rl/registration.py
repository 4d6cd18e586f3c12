"""The beam-tuning tasks registered with gymnasium, as RL4AA's environments are:

    import gymnasium as gym
    import accelerate_rl.rl  # registers the ids below
    env = gym.make("accelerate_rl/AdigeHardTuning-v0")

``accelerate_rl/AdigeTuning-v0``: :func:`~.task.adige_task` (BeamlineEnv);
``accelerate_rl/AdigeHardTuning-v0``: :func:`~.hard_task.hard_task` (HardTuningEnv);
``accelerate_rl/AdigeHardTuningMismatched-v0``: the same on the mismatched machine.
All run the embedded engine in-process; pass ``config=`` (a task dict, e.g. with
``backend={"service": name}``) to ``gym.make`` to change the task. The step budget is the
task's ``max_steps`` (the env truncates itself), so no TimeLimit wrapper is added.
"""

from __future__ import annotations

import gymnasium as gym

from .hard_task import hard_task

#: gymnasium id -> (entry point, default task dict)
ENV_IDS = {
    "accelerate_rl/AdigeTuning-v0": ("accelerate_rl.rl.env:BeamlineEnv", None),
    "accelerate_rl/AdigeHardTuning-v0": ("accelerate_rl.rl.hard_task:HardTuningEnv", None),
    "accelerate_rl/AdigeHardTuningMismatched-v0": (
        "accelerate_rl.rl.hard_task:HardTuningEnv",
        hard_task("mismatched"),
    ),
}


def register_gymnasium() -> list[str]:
    """Register every id in ENV_IDS with gymnasium (idempotent); returns the ids."""
    for env_id, (entry_point, config) in ENV_IDS.items():
        if env_id not in gym.registry:
            kwargs = {"config": config} if config is not None else {}
            gym.register(env_id, entry_point=entry_point, kwargs=kwargs, disable_env_checker=True)
    return list(ENV_IDS)
