"""The actors a pool dispatches to, and how their number changes.

* :class:`OwnedFleet`: the pool started these actors. Elastic between ``min_actors`` and
  ``max_actors`` (None: as many as the cluster's resources allow, re-read as nodes join)
  on the total demand: its own requests queued and in flight plus, for a named pool, its
  clients' (read from the registry). It asks for ``ceil(demand / slots)`` actors at once
  (actors Ray cannot place yet wait pending: that is what an autoscaler such as KubeRay's
  sees and adds nodes for); an actor neither side has used for ``idle_timeout`` is
  removed (a pending one no longer needed too), a dead one replaced; failed starts back
  off exponentially (0.5 s doubling to 30 s). A named pool republishes its actors to its
  registry whenever they change.
* :class:`ClientFleet`: a client of a named service uses the service's actors, never
  starts or kills one. It reports its demand to the registry (on change at most every
  :data:`REPORT_INTERVAL`, unchanged every :data:`HEARTBEAT` while it lasts, without
  waiting for the answer), adopts the actors the answer lists, and re-reads them when one
  goes away.

Every method is called with the dispatcher's lock held.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from .actor import SimulationActor, SimulatorSpec, pack_folder
from .resources import RESOURCE_WAIT, MissingResources, require_actor_resources
from .service import Demand, ServiceClient, ServiceInfo, start_registry

#: Longest pause between failed actor starts [s].
MAX_START_BACKOFF = 30.0
#: A client sends a changed demand at most this often [s].
REPORT_INTERVAL = 0.5
#: A client repeats an unchanged, non-zero demand this often [s] (well within DEMAND_TTL).
HEARTBEAT = 2.0


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
        self.id = uuid.uuid4().hex
        self.actors: dict[str, ActorState] = {}
        self._adopt(client.actors)
        self._sent: Demand | None = None
        self._sent_at = 0.0
        self._report_ref: Any = None

    def _adopt(self, actors: list[tuple[str, Any]] | None) -> None:
        if actors is None:  # the registry is gone: keep what is left
            return
        current = self.actors
        self.actors = {n: current.get(n) or ActorState(h, n, ready=True) for n, h in actors}

    @property
    def max_actors(self) -> int:
        return max(1, len(self.actors), self.client.max_actors)

    def mark_ready(self) -> None:
        pass

    def scale(self, queued: int, slots: int, closing: bool) -> None:
        """Find actors if there are none; tell the owner what this client has waiting."""
        if queued and not self.actors:
            self._adopt(self.client.refresh())
        self._report(queued)

    def _report(self, queued: int) -> None:
        if self._report_ref is not None:  # the last report's answer: the current actors
            done, _ = ray.wait([self._report_ref], timeout=0)
            if not done:
                return
            try:
                self._adopt(ray.get(done[0]))
            except Exception:  # the registry is gone: keep what is left
                pass
            self._report_ref = None
        in_flight = {n: a.in_flight for n, a in self.actors.items() if a.in_flight}
        demand = Demand(queued, in_flight)
        since = time.monotonic() - self._sent_at
        changed = demand != self._sent and since >= REPORT_INTERVAL
        if changed or (demand.total and since >= HEARTBEAT):
            try:
                self._report_ref = self.client.report(self.id, demand)
            except Exception:  # the registry is gone: the service cannot grow any more
                return
            self._sent, self._sent_at = demand, time.monotonic()

    def remove(self, actor: ActorState) -> None:
        """An actor died or stays unhealthy: re-read the service's actors."""
        self.actors.pop(actor.name, None)
        self._adopt(self.client.refresh())

    def shutdown(self) -> None:
        """Withdraw this client's demand (best effort: it expires anyway)."""
        self.actors.clear()
        if self._sent is not None and self._sent.total:
            try:
                self.client.report(self.id, None)
            except Exception:
                pass


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
        self.resources_per_slot = dict(resources_per_slot)
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
        self.clients = Demand()  # the clients' demand, as last read from the registry
        self._clients_ref: Any = None
        for _ in range(max(1, self.min_actors)):
            self._start_actor()

    def _cluster_max(self) -> int:
        """Actors the cluster's resources hold now: by each resource an actor asks for
        (CPUs, licences, ...); an actor asking for none counts ``slots`` of the CPUs."""
        total = ray.cluster_resources()
        asks = dict(self.actor_options["resources"])
        if self.actor_options["num_cpus"]:
            asks["CPU"] = self.actor_options["num_cpus"]
        asks = {k: v for k, v in asks.items() if v > 0} or {"CPU": max(1, self.slots)}
        return max(1, int(min(total.get(k, 0.0) // v for k, v in asks.items())))

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

    def wait_first(self, timeout: float = 600.0, resource_wait: float = RESOURCE_WAIT) -> None:
        """Block until one actor is up (``timeout`` [s]); after ``resource_wait`` [s], raise
        :class:`MissingResources` if no node holds its resources and no autoscaler may add
        one (see resources.py). On failure the actors and the registry are stopped."""
        refs = [a.ready_ref for a in self.actors.values()]
        try:
            require_actor_resources(
                self.resources_per_slot,
                self.slots,
                resource_wait,
                started=lambda: bool(ray.wait(refs, num_returns=1, timeout=0)[0]),
            )
        except MissingResources:
            self.shutdown()
            raise
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if not ready:
            self.shutdown()
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
                [(a.name, a.handle) for a in self.actors.values() if a.ready], self.max_actors
            )

    def _read_clients(self) -> None:
        """Refresh :attr:`clients` from the registry without waiting: collect the answer
        asked for on the last call (if in), ask again."""
        if self.registry is None:
            return
        if self._clients_ref is not None:
            done, _ = ray.wait([self._clients_ref], timeout=0)
            if not done:
                return
            try:
                self.clients = ray.get(done[0])
            except Exception:
                self.clients = Demand()
        self._clients_ref = self.registry.demand.remote()

    def scale(self, queued: int, slots: int, closing: bool) -> None:
        """Keep ``min_actors`` (replacing lost ones), size the fleet on the total demand
        (own and clients'), remove actors nobody used for ``idle_timeout``."""
        if closing:
            return
        now = time.monotonic()
        if self._fixed_max is None:
            self.max_actors = max(self.min_actors, self._cluster_max())
        self._read_clients()
        for name in self.clients.in_flight:
            if name in self.actors:
                self.actors[name].last_busy = now
        if self.start_failures:
            backoff = min(MAX_START_BACKOFF, 0.5 * 2**self.start_failures)
            if now - self._last_start_failure < backoff:
                return
        demand = queued + sum(a.in_flight for a in self.actors.values()) + self.clients.total
        floor = max(1, self.min_actors)
        wanted = max(floor, min(self.max_actors, math.ceil(demand / max(1, slots))))
        if wanted >= len(self.actors):  # every actor is wanted, the pending ones too
            for actor in self.actors.values():
                if not actor.ready:
                    actor.last_busy = now
        while len(self.actors) < wanted:
            self._start_actor()
        for actor in list(self.actors.values()):
            if len(self.actors) <= wanted:
                break
            used = actor.in_flight or self.clients.in_flight.get(actor.name)
            if not used and now - actor.last_busy > self.idle_timeout:
                self.actors.pop(actor.name, None)
                _stop(actor)
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
        refs = [r for r in (_stop(a) for a in self.actors.values()) if r is not None]
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


def _stop(actor: ActorState):
    """Ask a started actor to clean its scratch and exit (the call's ref; None if gone);
    kill one still pending (it has no scratch, and would only run the call once placed)."""
    try:
        if actor.ready:
            return actor.handle.shutdown.remote()
        ray.kill(actor.handle)
    except Exception:
        pass
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
