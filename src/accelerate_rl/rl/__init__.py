"""Reinforcement learning on beamlines: gymnasium environments served by the simulation
runtime (or the engine in-process), the benchmark task, RLlib configurations and policy
evaluation."""

from .backends import start_service
from .env import BeamlineEnv, BeamlineVectorEnv, make_env
from .hard_task import HardTuningEnv, HardVectorEnv, hard_task
from .registration import register_gymnasium
from .task import TaskConfig, adige_task

register_gymnasium()

__all__ = [
    "BeamlineEnv",
    "BeamlineVectorEnv",
    "HardTuningEnv",
    "HardVectorEnv",
    "TaskConfig",
    "adige_task",
    "hard_task",
    "make_env",
    "register_gymnasium",
    "start_service",
]
