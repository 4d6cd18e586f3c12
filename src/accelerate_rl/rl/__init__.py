"""Reinforcement learning on beamlines: gymnasium environments served by the simulation
runtime (or the engine in-process), and the benchmark task."""

from .backends import start_service
from .env import BeamlineEnv
from .task import TaskConfig, adige_task

__all__ = ["BeamlineEnv", "TaskConfig", "adige_task", "start_service"]
