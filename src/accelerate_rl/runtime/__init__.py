"""The Ray runtime: SimulationActor, SimulationPool (executor-like, backpressured, fault
tolerant, elastic, nameable), scans to Parquet, metrics."""

from .actor import SimulationActor, SimulatorSpec
from .errors import (
    BeamLostError,
    InvalidRequestError,
    PoolFullError,
    RequestCancelledError,
    SimulationError,
    SimulationTimeoutError,
    WorkerLostError,
)
from .pool import NAMESPACE, SimulationPool, init_ray
from .scan import grid, parse_axis, random_points, run_scan, summarize

__all__ = [
    "NAMESPACE",
    "BeamLostError",
    "InvalidRequestError",
    "PoolFullError",
    "RequestCancelledError",
    "SimulationActor",
    "SimulationError",
    "SimulationPool",
    "SimulationTimeoutError",
    "SimulatorSpec",
    "WorkerLostError",
    "grid",
    "init_ray",
    "parse_axis",
    "random_points",
    "run_scan",
    "summarize",
]
