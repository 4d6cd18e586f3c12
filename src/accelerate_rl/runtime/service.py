"""The named service: joining Ray, the namespace, and the registry through which
``SimulationPool.connect(name)`` finds a pool's actors from any process of the cluster.

The owner of a named pool runs a :class:`Registry` actor (named ``name`` in
:data:`NAMESPACE`) holding what a client needs: the simulator spec (to validate
requests locally) and the current actors, republished whenever they change. A
:class:`ServiceClient` is a client's view of it.

Clients send their load to the registry (:class:`Demand`: requests queued on the client
and in flight on each actor), at most every ``REPORT_INTERVAL`` while it changes and every
``HEARTBEAT`` while it lasts; the answer is the current actors, so a client learns of new
ones as the owner adds them. A report older than :data:`DEMAND_TTL` (its client died or
hung) no longer counts. The owner reads the total and sizes its fleet on it (``fleet.py``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import ray

from .actor import SimulatorSpec

#: The Ray namespace of every named service.
NAMESPACE = "accelerate_rl"
#: Seconds after which a client's last demand report no longer counts (the client is gone).
DEMAND_TTL = 10.0


def init_ray(num_cpus: int | None = None, *, address: str | None = None) -> None:
    """Join Ray once per process: ``address`` if given, else the cluster a job runs in
    (``RAY_ADDRESS``, as ``ray job submit`` sets it), else a new local Ray with
    ``num_cpus`` (never another local instance that happens to run on the machine).
    Nothing if Ray is already initialised."""
    if ray.is_initialized():
        return
    if address is None:
        address = "auto" if os.environ.get("RAY_ADDRESS") else "local"
    ray.init(
        address=address,
        num_cpus=num_cpus if address == "local" else None,
        namespace=NAMESPACE,
        log_to_driver=False,
    )


@dataclass(frozen=True)
class ServiceInfo:
    """What a client needs to validate requests as the owner does."""

    spec: SimulatorSpec
    project: str | None
    slots: int
    options: dict[str, Any]


@dataclass(frozen=True)
class Demand:
    """Requests waiting and running: ``queued`` (not yet sent to an actor) and
    ``in_flight`` (sent, not finished) by actor name."""

    queued: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.queued + sum(self.in_flight.values())

    def __add__(self, other: Demand) -> Demand:
        in_flight = dict(self.in_flight)
        for name, n in other.in_flight.items():
            in_flight[name] = in_flight.get(name, 0) + n
        return Demand(self.queued + other.queued, in_flight)


class Registry:
    """The named service's actor: its info, current ``(name, handle)`` actors, the owner's
    ``max_actors`` and the clients' latest :class:`Demand` (stamped on arrival with this
    actor's clock, so clients' clocks do not matter)."""

    def __init__(self, info: ServiceInfo) -> None:
        self.info = info
        self.actors: list[tuple[str, Any]] = []
        self.max_actors = 1
        self.demands: dict[str, tuple[float, Demand]] = {}

    def set_actors(self, actors: list[tuple[str, Any]], max_actors: int) -> None:
        self.actors = actors
        self.max_actors = max_actors

    def get(self) -> tuple[ServiceInfo, list[tuple[str, Any]], int]:
        return self.info, self.actors, self.max_actors

    def report(self, client: str, demand: Demand | None) -> list[tuple[str, Any]]:
        """Record ``client``'s demand (None: it left); the current actors."""
        if demand is None or not demand.total:
            self.demands.pop(client, None)
        else:
            self.demands[client] = (time.monotonic(), demand)
        return self.actors

    def demand(self) -> Demand:
        """The clients' total demand, reports older than :data:`DEMAND_TTL` dropped."""
        now = time.monotonic()
        self.demands = {c: (t, d) for c, (t, d) in self.demands.items() if now - t < DEMAND_TTL}
        return sum((d for _, d in self.demands.values()), Demand())


def start_registry(name: str, info: ServiceInfo):
    """Register the service ``name``; the handle of its registry actor."""
    return (
        ray.remote(Registry)
        .options(name=name, namespace=NAMESPACE, num_cpus=0, scheduling_strategy="DEFAULT")
        .remote(info)
    )


class ServiceClient:
    """A client's connection to the named service ``name``: its info and actors."""

    def __init__(self, name: str) -> None:
        try:
            self.registry = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            raise LookupError(
                f"no simulation service named {name!r} in namespace {NAMESPACE!r}: start one "
                f"with SimulationPool(..., name={name!r})"
            ) from None
        self.name = name
        self.info, self.actors, self.max_actors = ray.get(self.registry.get.remote())

    def refresh(self) -> list[tuple[str, Any]] | None:
        """The service's current actors; None if the registry does not answer (gone)."""
        try:
            _, self.actors, self.max_actors = ray.get(self.registry.get.remote(), timeout=30)
        except Exception:
            return None
        return self.actors

    def report(self, client: str, demand: Demand | None):
        """Send ``client``'s demand (None: it leaves); a ref to the current actors."""
        return self.registry.report.remote(client, demand)
