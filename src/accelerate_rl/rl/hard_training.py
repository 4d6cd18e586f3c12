"""RLlib configurations for the hard task (:func:`~.hard_task.hard_task`): the PPO and SAC
configs of :mod:`.algorithms` with the hard task's env (HardVectorEnv per env runner).

    config = hard_config("sac", hard_task(), service="beamline")
    algo = config.build_algo()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .algorithms import ALGORITHMS
from .hard_task import HardTaskConfig, hard_task, make_hard_env
from .task import adige_task

#: The name the hard task's env creator is registered under with Ray Tune's env registry.
HARD_ENV_NAME = "accelerate_rl.HardTuningEnv"
#: [s] the longest an env runner may take to sample one iteration's steps.
SAMPLE_TIMEOUT = 1800.0


def register_hard_env() -> str:
    """Register :func:`~.hard_task.make_hard_env` as ``HARD_ENV_NAME`` (idempotent)."""
    from ray.tune.registry import register_env

    register_env(HARD_ENV_NAME, make_hard_env)
    return HARD_ENV_NAME


def hard_env_config(task: Mapping[str, Any] | None = None, service: str | None = None) -> dict:
    """The hard task dict (validated now), with ``backend`` set to the named service."""
    config = dict(task or hard_task())
    if service is not None:
        config["backend"] = {"service": service}
    HardTaskConfig(**config)
    return config


def hard_config(
    algo: str, task: Mapping[str, Any] | None = None, *, service: str | None = None, **options
):
    """``ALGORITHMS[algo]``'s config (same options) stepping the hard task's env (one
    batched engine call a step, each sub-environment its own incoming beam). On the
    mismatched machine or a slow simulator every sub-environment is its own run, so the
    env runners' sample timeout is raised to SAMPLE_TIMEOUT (RLlib's 60 s default drops
    a slow sample)."""
    if algo not in ALGORITHMS:
        raise ValueError(f"algo {algo!r}: choose from {sorted(ALGORITHMS)}")
    config = ALGORITHMS[algo](adige_task(), service=None, **options)
    return config.environment(
        register_hard_env(), env_config=hard_env_config(task, service)
    ).env_runners(sample_timeout_s=SAMPLE_TIMEOUT)
