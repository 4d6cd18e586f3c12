"""The actors a pool dispatches to, and how their number changes.

* :class:`OwnedFleet`: the pool started these actors. Elastic between ``min_actors`` and
  ``max_actors`` (None: as many as the cluster's CPUs allow, re-read as nodes join): an
  actor is added while requests wait, an idle one removed after ``idle_timeout``, a dead
  one replaced; failed starts back off exponentially (0.5 s doubling to 30 s). A named
  pool republishes its actors to its registry whenever they change.
* :class:`ClientFleet`: a client of a named service uses the service's actors, never
  starts or kills one, and re-reads them from the registry when one goes away.

Every method is called with the dispatcher's lock held.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from .actor import SimulationActor, SimulatorSpec, pack_folder
from .service import ServiceClient, ServiceInfo, start_registry

#: Longest pause between failed actor starts [s].
MAX_START_BACKOFF = 30.0


@dataclass
class ActorState:
    """One actor as the dispatcher sees it."""

    handle: Any
    name: str
    in_flight: int = 0
    last_busy: float = 0.0
    ready: bool = False
    ready_ref: Any = None
    unserved: int = 0  # consecutive requests it could not run (a slot down)


class ClientFleet:
    """The actors of a named service (a client's view)."""

    owner = False

    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self.actors: dict[str, ActorState] = {}
        self._adopt(client.actors)

    def _adopt(self, actors: list[tuple[str, Any]] | None) -> None:
        if actors is None:  # the registry is gone: keep what is left
            return
        current = self.actors
        self.actors = {n: current.get(n) or ActorState(h, n, ready=True) for n, h in actors}

    @property
    def max_actors(self) -> int:
        return max(1, len(self.actors))

    def mark_ready(self) -> None:
        pass

    def scale(self, queued: int, slots: int, closing: bool) -> None:
        if queued and not self.actors:
            self._adopt(self.client.refresh())

    def remove(self, actor: ActorState) -> None:
        """An actor died or stays unhealthy: re-read the service's actors."""
        self.actors.pop(actor.name, None)
        self._adopt(self.client.refresh())

    def shutdown(self) -> None:
        self.actors.clear()


class OwnedFleet:
    """Actors this pool starts, replaces and stops."""

    owner = True

    def __init__(
        self,
        spec: SimulatorSpec,
        project: Path | None,
        *,
        name: str | None,
        slots: int,
        num_cpus_per_slot: float,
        resources_per_slot: Mapping[str, float],
        scratch: str | None,
        min_actors: int,
        max_actors: int | None,
        idle_timeout: float,
    ) -> None:
        self.spec, self.slots, self.scratch = spec, slots, scratch
        # the project's folder reaches every actor once, through the object store
        self.blob = ray.put(pack_folder(project.parent)) if project is not None else None
        self.actor_options = dict(
            num_cpus=num_cpus_per_slot * slots,
            resources={k: v * slots for k, v in resources_per_slot.items()},
            max_concurrency=4 * slots + 16,
            scheduling_strategy="DEFAULT",
            max_restarts=0,
        )
        self.min_actors = max(0, int(min_actors))
        self._fixed_max = max_actors
        self.max_actors = max(
            self._cluster_max() if max_actors is None else int(max_actors), self.min_actors, 1
        )
        self.idle_timeout = idle_timeout
        self.name = name
        self.registry = None
        if name:
            info = ServiceInfo(spec, str(project) if project else None, slots, spec.options)
            self.registry = start_registry(name, info)
        self.actors: dict[str, ActorState] = {}
        self.start_failures = 0
        self._last_start_failure = 0.0
        for _ in range(max(1, self.min_actors)):
            self._start_actor()

    def _cluster_max(self) -> int:
        cpus = ray.cluster_resources().get("CPU", 1.0)
        return max(1, int(cpus // max(1, self.slots)))

    def _start_actor(self) -> ActorState:
        name = f"{self.name or 'pool'}-{uuid.uuid4().hex[:8]}"
        handle = (
            ray.remote(SimulationActor)
            .options(**self.actor_options)
            .remote(self.spec, self.blob, self.slots, self.scratch, name)
        )
        actor = ActorState(handle, name, last_busy=time.monotonic(), ready_ref=handle.ping.remote())
        self.actors[name] = actor
        return actor

    def wait_first(self, timeout: float = 600.0) -> None:
        """Block until one actor is up; raise naming the resources if none starts."""
        refs = [a.ready_ref for a in self.actors.values()]
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if not ready:
            raise TimeoutError(
                f"no simulation actor started within {timeout} s: the cluster lacks the "
                f"resources {self.actor_options['resources'] or 'asked'} or is still scaling"
            )
        try:
            ray.get(ready[0])
        except RayActorError as exc:
            self.shutdown()
            raise RuntimeError(f"the simulation actor failed to start: {exc}") from None
        self.mark_ready()
        self.publish()

    def mark_ready(self) -> None:
        """Note the actors that finished starting (or failed to)."""
        starting = {a.ready_ref: a for a in self.actors.values() if not a.ready}
        if not starting:
            return
        ready, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0)
        for ref in ready:
            actor = starting[ref]
            try:
                ray.get(ref)
                actor.ready = True
                actor.last_busy = time.monotonic()
                self.start_failures = 0
            except RayActorError:
                # e.g. placed on a node that was dying; scale() starts another after a pause
                self.actors.pop(actor.name, None)
                self.start_failures += 1
                self._last_start_failure = time.monotonic()
        if ready:
            self.publish()

    def publish(self) -> None:
        if self.registry is not None:
            self.registry.set_actors.remote(
                [(a.name, a.handle) for a in self.actors.values() if a.ready]
            )

    def scale(self, queued: int, slots: int, closing: bool) -> None:
        """Keep ``min_actors`` (replacing lost ones), grow with the backlog, shrink idle."""
        if closing:
            return
        now = time.monotonic()
        if self._fixed_max is None:
            self.max_actors = max(self.min_actors, self._cluster_max())
        if self.start_failures:
            backoff = min(MAX_START_BACKOFF, 0.5 * 2**self.start_failures)
            if now - self._last_start_failure < backoff:
                return
        starting = sum(not a.ready for a in self.actors.values())
        while len(self.actors) < max(1, self.min_actors):
            self._start_actor()
            starting += 1
        ready = [a for a in self.actors.values() if a.ready]
        busy = all(a.in_flight >= slots for a in ready)
        waiting = queued + sum(max(0, a.in_flight - slots) for a in ready)
        if waiting and busy and starting == 0 and len(self.actors) < self.max_actors:
            self._start_actor()
        for actor in ready:
            if len(self.actors) <= max(1, self.min_actors):
                break
            if actor.in_flight == 0 and now - actor.last_busy > self.idle_timeout:
                self.actors.pop(actor.name, None)
                _retire(actor)
                self.publish()

    def remove(self, actor: ActorState) -> None:
        """An actor died or stays unhealthy: kill it; ``scale`` starts the replacement."""
        if self.actors.pop(actor.name, None) is None:
            return
        try:
            ray.kill(actor.handle)
        except Exception:
            pass
        self.publish()

    def shutdown(self) -> None:
        """Stop every actor (cleaning their scratch) and unregister the service."""
        refs = [r for r in (_retire(a) for a in self.actors.values()) if r is not None]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=30)
        for actor in self.actors.values():
            try:
                ray.kill(actor.handle)
            except Exception:
                pass
        self.actors.clear()
        if self.registry is not None:
            ray.kill(self.registry)
            self.registry = None


def _retire(actor: ActorState):
    """Ask the actor to clean its scratch and exit; the call's ref (None if gone)."""
    try:
        return actor.handle.shutdown.remote()
    except Exception:
        return None


def actor_stats(handles: Mapping[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Every actor's ``stats()`` by name (``{"error": ...}`` for one that does not answer)."""
    refs = {name: handle.stats.remote() for name, handle in handles.items()}
    out: dict[str, Any] = {}
    for name, ref in refs.items():
        try:
            out[name] = ray.get(ref, timeout=timeout)
        except (RayActorError, GetTimeoutError) as exc:
            out[name] = {"error": repr(exc)}
    return out
