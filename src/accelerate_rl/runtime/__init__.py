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
from .pool import SimulationPool, close_open_pools
from .request import DEFAULT_TIMEOUT, Request
from .resources import RESOURCE_WAIT, MissingResources
from .scan import grid, parse_axis, random_points, run_scan, summarise
from .service import NAMESPACE, init_ray

__all__ = [
    "DEFAULT_TIMEOUT",
    "RESOURCE_WAIT",
    "NAMESPACE",
    "BeamLostError",
    "InvalidRequestError",
    "MissingResources",
    "PoolFullError",
    "Request",
    "RequestCancelledError",
    "SimulationActor",
    "SimulationError",
    "SimulationPool",
    "SimulationTimeoutError",
    "SimulatorSpec",
    "WorkerLostError",
    "close_open_pools",
    "grid",
    "init_ray",
    "parse_axis",
    "random_points",
    "run_scan",
    "summarise",
]
