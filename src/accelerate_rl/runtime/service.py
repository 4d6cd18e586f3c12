"""The named service: joining Ray, the namespace, and the registry through which
``SimulationPool.connect(name)`` finds a pool's actors from any process of the cluster.

The owner of a named pool runs a :class:`Registry` actor (named ``name`` in
:data:`NAMESPACE`) holding what a client needs: the simulator spec (to validate
requests locally) and the current actors, republished whenever they change. A
:class:`ServiceClient` is a client's view of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import ray

from .actor import SimulatorSpec

#: The Ray namespace of every named service.
NAMESPACE = "accelerate_rl"


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


class Registry:
    """The named service's actor: its info and current ``(name, handle)`` actors."""

    def __init__(self, info: ServiceInfo) -> None:
        self.info = info
        self.actors: list[tuple[str, Any]] = []

    def set_actors(self, actors: list[tuple[str, Any]]) -> None:
        self.actors = actors

    def get(self) -> tuple[ServiceInfo, list[tuple[str, Any]]]:
        return self.info, self.actors


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
        self.info, self.actors = ray.get(self.registry.get.remote())

    def refresh(self) -> list[tuple[str, Any]] | None:
        """The service's current actors; None if the registry does not answer (gone)."""
        try:
            _, self.actors = ray.get(self.registry.get.remote(), timeout=30)
        except Exception:
            return None
        return self.actors
