"""Reinforcement learning on beamlines: gymnasium environments served by the simulation
runtime (or the engine in-process), the benchmark task, RLlib configurations and policy
evaluation."""

from .backends import start_service
from .env import BeamlineEnv, BeamlineVectorEnv, make_env
from .task import TaskConfig, adige_task

__all__ = [
    "BeamlineEnv",
    "BeamlineVectorEnv",
    "TaskConfig",
    "adige_task",
    "make_env",
    "start_service",
]
