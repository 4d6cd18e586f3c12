"""SimulationPool: a ``concurrent.futures.Executor``-like pool of SimulationActors.

    with SimulationPool("embedded", project="line.toml", slots=2) as pool:
        fut = pool.submit({"ele[3][2]": -4.2})          # a Future of SimResult
        for res in pool.map(settings, ordered=False, errors="return"):
            ...
        pool.run({"ele[3][2]": -4.0})                   # SimResult, or a typed error

Behaviour:
* Backpressure: at most ``max_pending`` requests are queued or in flight; ``submit``
  then blocks (``on_full="block"``), raises ``PoolFullError`` (``"raise"``) or waits at
  most that many seconds (a number). ``map`` reads its iterable lazily: memory stays flat.
* Least-loaded dispatch over the actors, one dispatcher thread using ``ray.wait``.
* Faults: a ``RayActorError`` (actor died or unreachable) puts the request back at the
  head of the queue, up to ``max_retries`` times, and the actor is replaced. Each request
  yields exactly one result (a ``SimResult`` whose status says what happened).
* Timeouts: per request; the actor kills the slot's process. Cancellation: ``cancel()``.
* Elastic between ``min_actors`` and ``max_actors`` (default: as many as the cluster's
  CPUs allow, re-read as nodes join): an actor is added while requests wait, an idle one
  removed after ``idle_timeout`` seconds. Pending actors are how the Ray autoscaler
  (KubeRay) sees demand.
* Deadlock-free defaults: actors reserve ``num_cpus=0`` (plus optional custom resources
  per slot, e.g. ``{"sim_slot": 1}`` or licences) and use ``scheduling_strategy="DEFAULT"``,
  so RLlib env runners and Tune trials holding CPUs cannot starve them, and Tune's
  placement groups do not capture them.
* A named service: ``SimulationPool(..., name="beamline")`` registers the actors;
  ``SimulationPool.connect("beamline")`` in any process of the same Ray cluster (an env
  runner, a Tune trial) sends requests to the same actors.
"""

from __future__ import annotations

import collections
import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError, TaskCancelledError

from ..simulators import make_simulator
from ..simulators.base import SimResult
from .actor import SimulationActor, SimulatorSpec, pack_folder
from .errors import PoolFullError, error_for
from .metrics import PoolMetrics

NAMESPACE = "accelerate_rl"
#: Simulations faster than this [s] are batched deeply (see ``_capacity``).
FAST_SIMULATION = 0.005
_ERRORS = ("raise", "return", "skip")


@dataclass
class _Request:
    id: int
    params: dict[str, Any]
    seed: int | None
    timeout: float | None
    future: Future
    attempts: int = 0
    batch: bool = False  # params is a list of parameter sets (submit_batch)

    def failed(self, status: str, error: str, error_type: str | None = None):
        """This request's result for a failure: one SimResult, or a list for a batch."""
        sets = self.params if self.batch else [self.params]
        results = [
            SimResult(p, status, seed=self.seed, error=error, error_type=error_type) for p in sets
        ]
        return results if self.batch else results[0]


@dataclass
class _Actor:
    handle: Any
    name: str
    in_flight: int = 0
    last_busy: float = 0.0
    ready: bool = False
    ready_ref: Any = None


class _Registry:
    """The named service: the current actors and what clients need to validate requests."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.actors: list[tuple[str, Any]] = []

    def set_actors(self, actors: list[tuple[str, Any]]) -> None:
        self.actors = actors

    def get(self) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
        return self.info, self.actors


def init_ray(num_cpus: int | None = None) -> None:
    """Join the cluster a job runs in (``RAY_ADDRESS``, as ``ray job submit`` sets it),
    else start a local Ray with ``num_cpus``; nothing if Ray is already initialised."""
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address="auto", namespace=NAMESPACE, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, namespace=NAMESPACE, log_to_driver=False)


def _ensure_ray(address: str | None) -> None:
    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)


class SimulationPool:
    """A pool of SimulationActors serving simulation requests.

    Args:
        simulator: "embedded" (default), "tracewin", a ``CommandSimulator`` or any object
            with ``simulate`` (picklable), or a function ``params -> metrics``.
        project: the project file; its folder is shipped once per actor via the object
            store.
        name: register as a named service for ``connect``.
        slots: simulator slots per actor (processes for in-process simulators).
        min_actors, max_actors: elastic bounds (``max_actors=None``: cluster CPUs / slots).
        num_cpus_per_slot: CPUs each slot reserves (default 0: see the module docstring).
        resources_per_slot: custom Ray resources per slot, e.g. ``{"tracewin_licence": 1}``.
        max_pending: requests queued or in flight at most (default 4 per slot, >= 64).
        on_full: "block", "raise", or seconds to wait before raising ``PoolFullError``.
        max_retries: re-dispatches after an actor died. timeout: default per-request [s].
        isolation: "process" (slots are persistent worker processes) or "thread"
            (default for "tracewin" and command simulators, which run subprocesses).
        simulator_options: constructor options of the simulator.
        scratch: the actors' scratch root (default ``/dev/shm`` when present).
        idle_timeout: seconds before an idle actor above ``min_actors`` is removed.
        max_batch: requests sent to an actor in one call when the queue is deep (a lone
            request always goes alone, so latency does not change).
        address: Ray address when Ray is not initialised yet (default: a local Ray).
    """

    def __init__(
        self,
        simulator: Any = "embedded",
        project: str | Path | None = None,
        *,
        name: str | None = None,
        slots: int = 1,
        min_actors: int = 1,
        max_actors: int | None = None,
        num_cpus_per_slot: float = 0.0,
        resources_per_slot: Mapping[str, float] | None = None,
        max_pending: int | None = None,
        on_full: str | float = "block",
        max_retries: int = 3,
        timeout: float | None = None,
        isolation: str | None = None,
        simulator_options: Mapping[str, Any] | None = None,
        scratch: str | None = None,
        idle_timeout: float = 60.0,
        max_batch: int = 16,
        address: str | None = None,
        _client: dict[str, Any] | None = None,
    ) -> None:
        if on_full not in ("block", "raise") and not isinstance(on_full, (int, float)):
            raise ValueError("on_full must be 'block', 'raise' or a number of seconds")
        _ensure_ray(address)
        self.name = name
        self.slots = int(slots)
        self.max_retries = int(max_retries)
        self.timeout = timeout
        self.on_full = on_full
        self.idle_timeout = idle_timeout
        self.max_batch = max(1, int(max_batch))
        self._owner = _client is None
        self._ids = itertools.count()
        self._lock = threading.Condition()
        self._pending: collections.deque[_Request] = collections.deque()
        self._inflight: dict[Any, tuple[list[_Request], _Actor]] = {}
        self._actors: dict[str, _Actor] = {}
        self._closing = False
        self._error: BaseException | None = None
        self._start_failures = 0
        self._last_start_failure = 0.0
        self._ewma_elapsed = 1.0  # [s]; conservative until results come in
        self._metrics = PoolMetrics(name or "pool")
        if _client is not None:
            self._init_client(_client)
        else:
            self._init_owner(
                simulator,
                project,
                min_actors,
                max_actors,
                num_cpus_per_slot,
                resources_per_slot,
                isolation,
                dict(simulator_options or {}),
                scratch,
            )
        if max_pending is None:
            max_pending = max(64, 4 * self.slots * max(1, self.max_actors))
        self.max_pending = int(max_pending)
        self._room = threading.Semaphore(self.max_pending)
        self._thread = threading.Thread(target=self._loop, name="simulation-pool", daemon=True)
        self._thread.start()

    # -- construction ------------------------------------------------------------------
    def _init_owner(
        self,
        simulator,
        project,
        min_actors,
        max_actors,
        cpus,
        resources,
        isolation,
        options,
        scratch,
    ) -> None:
        kind = simulator
        is_named_kind = isinstance(kind, str)
        if isolation is None:
            isolation = "thread" if (kind == "tracewin" or _is_command(kind)) else "process"
        project_path = Path(project).resolve() if project is not None else None
        if is_named_kind and project_path is None:
            raise ValueError(f"the {kind!r} simulator needs project=")
        # validate requests on the driver before dispatch (cheap: compile / read lattice)
        self._validator = make_simulator(kind, project_path, **options) if is_named_kind else kind
        blob_ref = ray.put(pack_folder(project_path.parent)) if project_path else None
        self._spec = SimulatorSpec(
            kind, project_path.name if project_path else None, options, isolation
        )
        self._blob = blob_ref
        self._scratch = scratch
        self.min_actors = max(0, int(min_actors))
        self._fixed_max = max_actors
        self.max_actors = self._cluster_max() if max_actors is None else int(max_actors)
        self.max_actors = max(self.max_actors, self.min_actors, 1)
        res = {k: v * self.slots for k, v in (resources or {}).items()}
        self._actor_options = dict(
            num_cpus=cpus * self.slots,
            resources=res,
            max_concurrency=4 * self.slots + 16,
            scheduling_strategy="DEFAULT",
            max_restarts=0,
        )
        self._registry = None
        if self.name:
            info = {
                "spec": self._spec,
                "project": str(project_path) if project_path else None,
                "slots": self.slots,
                "options": options,
            }
            self._registry = (
                ray.remote(_Registry)
                .options(
                    name=self.name, namespace=NAMESPACE, num_cpus=0, scheduling_strategy="DEFAULT"
                )
                .remote(info)
            )
        for _ in range(max(1, self.min_actors)):
            self._start_actor()
        self._wait_first_actor()

    def _init_client(self, client: dict[str, Any]) -> None:
        info = client["info"]
        self._registry = client["registry"]
        self._spec = info["spec"]
        self.slots = info["slots"]
        project = info["project"]
        kind = self._spec.kind
        self._validator = (
            make_simulator(kind, project, **info["options"])
            if isinstance(kind, str) and project and Path(project).exists()
            else (kind if not isinstance(kind, str) else None)
        )
        self.min_actors = 0
        self.max_actors = max(1, len(client["actors"]))
        self._set_client_actors(client["actors"])

    def _set_client_actors(self, actors: list[tuple[str, Any]]) -> None:
        current = dict(self._actors)
        self._actors = {}
        for name, handle in actors:
            self._actors[name] = current.get(name) or _Actor(handle, name, ready=True)
        self.max_actors = max(1, len(self._actors))

    @classmethod
    def connect(cls, name: str, *, address: str | None = None, **kwargs: Any) -> SimulationPool:
        """A client of the named service ``name`` (same Ray cluster): it sends requests to
        the service's actors and never creates or kills them."""
        _ensure_ray(address)
        try:
            registry = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            raise LookupError(
                f"no simulation service named {name!r} in namespace {NAMESPACE!r}: start one "
                f"with SimulationPool(..., name={name!r})"
            ) from None
        info, actors = ray.get(registry.get.remote())
        return cls(_client={"registry": registry, "info": info, "actors": actors}, **kwargs)

    def _cluster_max(self) -> int:
        cpus = ray.cluster_resources().get("CPU", 1.0)
        return max(1, int(cpus // max(1, self.slots)))

    def _start_actor(self) -> _Actor:
        name = f"{self.name or 'pool'}-{uuid.uuid4().hex[:8]}"
        handle = (
            ray.remote(SimulationActor)
            .options(**self._actor_options)
            .remote(self._spec, self._blob, self.slots, self._scratch, name)
        )
        actor = _Actor(handle, name, last_busy=time.monotonic(), ready_ref=handle.ping.remote())
        self._actors[name] = actor
        return actor

    def _wait_first_actor(self, timeout: float = 600.0) -> None:
        refs = [a.ready_ref for a in self._actors.values()]
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if not ready:
            raise TimeoutError(
                f"no simulation actor started within {timeout} s: the cluster lacks the "
                f"resources {self._actor_options['resources'] or 'asked'} or is still scaling"
            )
        try:
            ray.get(ready[0])
        except RayActorError as exc:
            for a in self._actors.values():
                ray.kill(a.handle)
            raise RuntimeError(f"the simulation actor failed to start: {exc}") from None
        self._mark_ready_actors()
        self._publish()

    def _mark_ready_actors(self) -> None:
        starting = {a.ready_ref: a for a in self._actors.values() if not a.ready}
        if not starting:
            return
        ready, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0)
        for ref in ready:
            actor = starting[ref]
            try:
                ray.get(ref)
                actor.ready = True
                actor.last_busy = time.monotonic()
                self._start_failures = 0
            except RayActorError:
                # e.g. placed on a node that was dying; _scale starts another after a pause
                self._actors.pop(actor.name, None)
                self._start_failures = self._start_failures + 1
                self._last_start_failure = time.monotonic()
        if ready:
            self._publish()

    def _publish(self) -> None:
        if self._owner and self._registry is not None:
            self._registry.set_actors.remote(
                [(a.name, a.handle) for a in self._actors.values() if a.ready]
            )

    # -- Executor API ------------------------------------------------------------------
    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise (a ValueError naming the key) if ``params`` would be rejected."""
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping, got {type(params).__name__}")
        check = getattr(self._validator, "validate", None)
        if check is not None:
            check(params)

    def submit(
        self,
        params: Mapping[str, Any],
        *,
        seed: int | None = None,
        timeout: float | None = None,
    ) -> Future:
        """Queue one request; a Future of its :class:`SimResult`.

        Raises:
            ValueError: bad parameters (checked here, before dispatch).
            PoolFullError: the pool is full and ``on_full`` is not "block".
            RuntimeError: the pool is shut down.
        """
        self.validate(params)
        return self._enqueue(dict(params), seed, timeout, batch=False)

    def submit_batch(
        self, requests: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> Future:
        """Queue several parameter sets as one request, run on one slot in one exchange
        (for the embedded engine, one vectorised call: how a batched RL environment
        steps all its sub-environments). A Future of the list of SimResults, in order.
        ``timeout`` [s] covers the whole batch. Takes one place of ``max_pending``.

        Raises:
            ValueError: a bad parameter set (naming its index and key).
        """
        sets = []
        for i, params in enumerate(requests):
            try:
                self.validate(params)
            except (ValueError, TypeError) as exc:
                kind = TypeError if isinstance(exc, TypeError) else ValueError
                raise kind(f"batch request {i}: {exc}") from exc
            sets.append(dict(params))
        if not sets:
            fut: Future = Future()
            fut.set_result([])
            return fut
        return self._enqueue(sets, None, timeout, batch=True)

    def _enqueue(self, params: Any, seed: int | None, timeout: float | None, batch: bool):
        if self._closing:
            raise RuntimeError("the pool is shut down")
        if self._error is not None:
            raise RuntimeError(f"the pool's dispatcher failed: {self._error!r}")
        if self.on_full == "block":
            while not self._room.acquire(timeout=1.0):
                if self._closing or self._error is not None:
                    raise RuntimeError("the pool is shut down")
        elif self.on_full == "raise":
            if not self._room.acquire(blocking=False):
                raise PoolFullError(f"{self.max_pending} requests pending")
        elif not self._room.acquire(timeout=float(self.on_full)):
            raise PoolFullError(f"no room within {self.on_full} s ({self.max_pending} pending)")
        fut: Future = Future()
        req = _Request(
            next(self._ids),
            params,
            seed,
            timeout if timeout is not None else self.timeout,
            fut,
            batch=batch,
        )
        fut.request_id = req.id  # type: ignore[attr-defined]
        with self._lock:
            self._pending.append(req)
            self._lock.notify()
        return fut

    def run(
        self, params: Mapping[str, Any], *, seed: int | None = None, timeout: float | None = None
    ) -> SimResult:
        """Submit and wait; a non-ok result raises its typed ``SimulationError``."""
        result = self.submit(params, seed=seed, timeout=timeout).result()
        if not result.ok:
            raise error_for(result)
        return result

    def map(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        ordered: bool = True,
        errors: str = "raise",
        progress: bool = False,
        total: int | None = None,
        seed: int | None = None,
    ) -> Iterator[SimResult]:
        """Results of ``requests`` as they complete (``ordered=False``) or in order.

        ``errors``: "raise" a typed error at the first failed request, "return" every
        result, "skip" failed ones. The iterable is consumed lazily (bounded window).
        ``seed``: base seed; request i gets ``seed + i``.
        """
        if errors not in _ERRORS:
            raise ValueError(f"errors must be one of {_ERRORS}, got {errors!r}")
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total if total is not None else _len(requests), unit="run")
        window = max(1, self.max_pending - 1)
        live: collections.deque[Future] = collections.deque()

        def finish(fut: Future) -> SimResult | None:
            result = fut.result()
            if bar is not None:
                bar.update(1)
            if result.ok or errors == "return":
                return result
            if errors == "raise":
                raise error_for(result)
            return None

        try:
            for i, params in enumerate(requests):
                while len(live) >= window:
                    if ordered:
                        out = finish(live.popleft())
                        if out is not None:
                            yield out
                    else:
                        done, _ = wait_futures(live, return_when=FIRST_COMPLETED)
                        for f in done:
                            live.remove(f)
                            out = finish(f)
                            if out is not None:
                                yield out
                live.append(self.submit(params, seed=None if seed is None else seed + i))
            while live:
                if ordered:
                    f = live.popleft()
                else:
                    done, _ = wait_futures(live, return_when=FIRST_COMPLETED)
                    f = next(iter(done))
                    live.remove(f)
                out = finish(f)
                if out is not None:
                    yield out
        finally:
            if bar is not None:
                bar.close()

    def cancel(self, future: Future) -> bool:
        """Cancel a request: dropped if still queued, its slot killed if running (a request
        dispatched inside a batch runs to its end). True if it will be cancelled."""
        if future.cancel():
            return True
        with self._lock:
            for ref, (batch, _) in self._inflight.items():
                if len(batch) == 1 and batch[0].future is future:
                    ray.cancel(ref)
                    return True
        return False  # done, unknown, or running inside a batch (not cancellable alone)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting requests; with ``wait`` finish the queued ones; then stop the
        actors (an owner) and unregister the service."""
        with self._lock:
            self._closing = True
            if cancel_futures:
                while self._pending:
                    req = self._pending.popleft()
                    self._complete(req, req.failed("cancelled", "pool shut down"))
            self._lock.notify()
        if wait:
            self._thread.join()
        if self._owner:
            refs = [self._retire(actor) for actor in list(self._actors.values())]
            ray.wait([r for r in refs if r is not None], num_returns=len(refs), timeout=30)
            for actor in list(self._actors.values()):
                try:
                    ray.kill(actor.handle)
                except Exception:
                    pass
            self._actors.clear()
            if self._registry is not None:
                ray.kill(self._registry)
                self._registry = None

    def __enter__(self) -> SimulationPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)

    # -- introspection -----------------------------------------------------------------
    @property
    def actors(self) -> list[Any]:
        return [a.handle for a in self._actors.values() if a.ready]

    def stats(self) -> dict[str, Any]:
        """Pool counters and every actor's ``stats()``."""
        with self._lock:
            summary = {
                "queued": len(self._pending),
                "in_flight": len(self._inflight),
                "actors": len(self._actors),
                "max_actors": self.max_actors,
            }
        refs = {a.name: a.handle.stats.remote() for a in self._actors.values() if a.ready}
        per_actor = {}
        for name, ref in refs.items():
            try:
                per_actor[name] = ray.get(ref, timeout=30)
            except (RayActorError, GetTimeoutError) as exc:
                per_actor[name] = {"error": repr(exc)}
        summary["per_actor"] = per_actor
        return summary

    # -- dispatcher ----------------------------------------------------------------------
    def _capacity(self, actor: _Actor) -> int:
        """Requests an actor may hold: one running per slot plus one waiting; deep batches
        only for fast simulations (< 5 ms), where Ray's per-call cost dominates and
        batching cannot starve other actors of work."""
        if self._ewma_elapsed < FAST_SIMULATION:
            return max(2 * self.slots, self.max_batch)
        return 2 * self.slots

    def _dispatch(self) -> None:
        while self._pending:
            ready = [a for a in self._actors.values() if a.ready]
            if not ready:
                return
            actor = min(ready, key=lambda a: a.in_flight)
            room = self._capacity(actor) - actor.in_flight
            if room <= 0:
                return
            share = -(-len(self._pending) // len(ready))  # ceil: spread a deep queue evenly
            size = max(1, min(room, share, self.max_batch))
            batch: list[_Request] = []
            while self._pending and len(batch) < size:
                if self._pending[0].batch and batch:
                    break  # a batch request goes alone
                req = self._pending.popleft()
                if req.attempts == 0 and not req.future.set_running_or_notify_cancel():
                    self._room.release()  # cancelled while queued
                    continue
                req.attempts += 1
                batch.append(req)
                if req.batch:
                    break
            if not batch:
                continue
            payload = [
                {
                    "params": r.params,
                    "seed": r.seed,
                    "timeout": r.timeout,
                    "request_id": r.id,
                    "attempts": r.attempts,
                }
                for r in batch
            ]
            if batch[0].batch:
                ref = actor.handle.run_batch.remote(payload[0])
            elif len(batch) == 1:
                ref = actor.handle.run.remote(payload[0])
            else:
                ref = actor.handle.run_many.remote(payload)
            actor.in_flight += len(batch)
            actor.last_busy = time.monotonic()
            self._inflight[ref] = (batch, actor)

    def _complete(self, req: _Request, result: SimResult | list[SimResult]) -> None:
        for one in result if isinstance(result, list) else [result]:
            if one.elapsed > 0:
                self._ewma_elapsed = 0.9 * self._ewma_elapsed + 0.1 * one.elapsed
            one.request_id = req.id
            one.attempts = max(one.attempts, req.attempts)
        if not req.future.done():
            if req.attempts == 0:
                req.future.set_running_or_notify_cancel()
            req.future.set_result(result)
        self._room.release()

    def _actor_died(self, actor: _Actor) -> None:
        if self._actors.pop(actor.name, None) is None:
            return
        if self._owner:
            try:
                ray.kill(actor.handle)
            except Exception:
                pass
            self._publish()  # _scale starts the replacement
        else:
            self._refresh_from_registry()

    def _refresh_from_registry(self) -> None:
        try:
            _, actors = ray.get(self._registry.get.remote(), timeout=30)
        except Exception:
            return
        self._set_client_actors(actors)

    def _handle_ready(self, ref: Any) -> None:
        batch, actor = self._inflight.pop(ref)
        actor.in_flight -= len(batch)
        actor.last_busy = time.monotonic()
        try:
            value = ray.get(ref)
            results = [value] if batch[0].batch or not isinstance(value, list) else value
        except TaskCancelledError:
            results = [r.failed("cancelled", "cancelled") for r in batch]
        except RayActorError as exc:
            self._actor_died(actor)
            for req in reversed(batch):
                if req.attempts <= self.max_retries:
                    self._pending.appendleft(req)
                else:
                    self._complete(
                        req,
                        req.failed(
                            "actor_died",
                            f"actor died {req.attempts} times: {exc}",
                            type(exc).__name__,
                        ),
                    )
            return
        except RayTaskError as exc:  # the actor method itself raised
            results = [r.failed("failed", str(exc)[-2000:], type(exc).__name__) for r in batch]
        for req, result in zip(batch, results):
            self._complete(req, result)

    def _scale(self) -> None:
        if not self._owner or self._closing:
            return
        now = time.monotonic()
        if self._fixed_max is None:
            self.max_actors = max(self.min_actors, self._cluster_max())
        starting = sum(not a.ready for a in self._actors.values())
        failures = self._start_failures
        backoff = min(30.0, 0.5 * 2**failures) if failures else 0.0
        if now - self._last_start_failure < backoff:
            return
        # keep min_actors (replacing actors lost with their node), then follow the backlog
        while len(self._actors) < max(1, self.min_actors):
            self._start_actor()
            starting += 1
        ready = [a for a in self._actors.values() if a.ready]
        busy = all(a.in_flight >= self.slots for a in ready)
        waiting = len(self._pending) + sum(max(0, a.in_flight - self.slots) for a in ready)
        if waiting and busy and starting == 0 and len(self._actors) < self.max_actors:
            self._start_actor()
        idle = [
            a
            for a in self._actors.values()
            if a.ready and a.in_flight == 0 and now - a.last_busy > self.idle_timeout
        ]
        for actor in idle:
            if len(self._actors) <= max(1, self.min_actors):
                break
            self._actors.pop(actor.name, None)
            self._retire(actor)
            self._publish()

    def _retire(self, actor: _Actor):
        """Ask the actor to clean its scratch and exit; returns the call's ref."""
        try:
            return actor.handle.shutdown.remote()
        except Exception:
            return None

    def _loop(self) -> None:
        last_scale = 0.0
        try:
            while True:
                with self._lock:
                    if self._closing and not self._pending and not self._inflight:
                        return
                    self._mark_ready_actors()
                    if time.monotonic() - last_scale > 0.5:
                        self._scale()
                        last_scale = time.monotonic()
                    if self._pending and not self._actors and not self._owner:
                        self._refresh_from_registry()
                    self._dispatch()
                    refs = list(self._inflight)
                    self._metrics.update(len(refs), len(self._pending))
                    if not refs:
                        self._lock.wait(timeout=0.05)
                        continue
                ready, _ = ray.wait(
                    refs, num_returns=min(len(refs), 256), timeout=0.01, fetch_local=True
                )
                if ready:
                    with self._lock:
                        for ref in ready:
                            self._handle_ready(ref)
        except BaseException as exc:  # pragma: no cover - surfaced to callers
            self._error = exc
            with self._lock:
                for batch, _ in list(self._inflight.values()):
                    for req in batch:
                        if not req.future.done():
                            req.future.set_exception(exc)
                for req in self._pending:
                    if not req.future.done():
                        req.future.set_exception(exc)
            raise


def _is_command(kind: Any) -> bool:
    from ..simulators.command import CommandSimulator

    return isinstance(kind, CommandSimulator)


def _len(iterable: Iterable) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None
