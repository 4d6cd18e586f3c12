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
* Least-loaded dispatch over the actors, one dispatcher thread (``dispatch.py``); what is
  queued for one actor goes in one call. ``submit_many`` queues several requests
  together; ``submit_batch(parts=k)`` cuts a batch into k parts that run on k slots.
* Faults: an actor that died or a result lost with its node puts the request back at
  the head of the queue, up to ``max_retries`` times, and the actor is replaced. Each
  request yields exactly one result (a ``SimResult`` whose status says what happened);
  one bad request or result never fails another.
* Timeouts: per request, default :data:`DEFAULT_TIMEOUT` (600 s; ``timeout=None``
  disables it); the actor kills the slot's process. Cancellation: ``cancel()``.
* Elastic between ``min_actors`` and ``max_actors`` (``fleet.py``). Pending actors are
  how the Ray autoscaler (KubeRay) sees demand.
* Deadlock-free defaults: actors reserve ``num_cpus=0`` (plus optional custom resources
  per slot, e.g. ``{"sim_slot": 1}`` or licences) and use ``scheduling_strategy="DEFAULT"``,
  so RLlib env runners and Tune trials holding CPUs cannot starve them, and Tune's
  placement groups do not capture them.
* A named service: ``SimulationPool(..., name="beamline")`` registers the actors;
  ``SimulationPool.connect("beamline")`` in any process of the same Ray cluster (an env
  runner, a Tune trial) sends requests to the same actors (``service.py``).
* A pool still open at interpreter exit is closed quietly before Ray shuts down.

The module is the pool's public API only (under 500 lines, mostly docstrings of its methods);
the machinery is in ``dispatch.py``, ``fleet.py``, ``actor.py``, ``slots.py`` and
``window.py``.
"""

from __future__ import annotations

import atexit
import itertools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ..simulators import make_simulator
from ..simulators.base import SimResult
from .actor import SimulatorSpec
from .dispatch import Dispatcher
from .errors import error_for
from .fleet import ClientFleet, OwnedFleet, actor_stats
from .metrics import PoolMetrics
from .request import DEFAULT_TIMEOUT, Request
from .resources import RESOURCE_WAIT
from .service import ServiceClient, init_ray
from .window import done, joined, split_evenly, windowed

log = logging.getLogger(__name__)

_ERRORS = ("raise", "return", "skip")
#: Pools not shut down, held strongly: a dropped pool's dispatcher thread runs on, and
#: the exit hook must still close it before Ray shuts down (see :func:`close_open_pools`).
_OPEN_POOLS: set[SimulationPool] = set()


class SimulationPool:
    """A pool of SimulationActors serving simulation requests.

    Args:
        simulator: "embedded" (default), "tracewin", a ``CommandSimulator`` or any object
            with ``simulate`` (picklable), or a function ``params -> metrics``.
        project: the project file; its folder is shipped once per actor via the object
            store.
        name: register as a named service for ``connect``.
        slots: simulator slots per actor (processes for in-process simulators).
        min_actors, max_actors: elastic bounds, sized on the demand of the pool and of its
            clients (``max_actors=None``: what the cluster's resources hold, see fleet.py).
        num_cpus_per_slot: CPUs each slot reserves (default 0: see the module docstring).
        resources_per_slot: custom Ray resources per slot, e.g. ``{"tracewin_licence": 1}``.
        max_pending: requests queued or in flight at most (default 4 per slot, >= 64).
        on_full: "block", "raise", or seconds to wait before raising ``PoolFullError``.
        max_retries: re-dispatches after an actor died or a result was lost.
        timeout: default per-request wall-time limit [s]; 600 s unless given; None: no
            limit (a hung simulator then holds its slot for good).
        isolation: "process" (slots are persistent worker processes) or "thread"
            (default for "tracewin" and command simulators, which run subprocesses).
        simulator_options: constructor options of the simulator.
        scratch: the actors' scratch root (default ``/dev/shm`` when present).
        idle_timeout: seconds before an idle actor above ``min_actors`` is removed.
        max_batch: requests sent to an actor in one call when the queue is deep, at least
            64 while simulations are faster than 5 ms (``dispatch.FAST_BATCH``); a lone
            request always goes alone, so latency does not change.
        address: Ray address when Ray is not initialised yet (default: a local Ray).
        resource_wait: seconds [s] the first actor may stay unplaced, on a cluster where
            no node holds its ``resources_per_slot`` (x ``slots``) and no autoscaler may
            add one, before :class:`~.resources.MissingResources` says what is missing and
            how to add it (see resources.py).
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
        timeout: float | None = DEFAULT_TIMEOUT,
        isolation: str | None = None,
        simulator_options: Mapping[str, Any] | None = None,
        scratch: str | None = None,
        idle_timeout: float = 60.0,
        max_batch: int = 16,
        address: str | None = None,
        resource_wait: float = RESOURCE_WAIT,
    ) -> None:
        _check_on_full(on_full)
        init_ray(address=address)
        kind = simulator
        options = dict(simulator_options or {})
        if isolation is None:
            isolation = "thread" if (kind == "tracewin" or _is_command(kind)) else "process"
        project_path = Path(project).resolve() if project is not None else None
        if isinstance(kind, str) and project_path is None:
            raise ValueError(f"the {kind!r} simulator needs project=")
        # validate requests on the driver before dispatch (cheap: compile / read lattice)
        validator = make_simulator(kind, project_path, **options) if isinstance(kind, str) else kind
        spec = SimulatorSpec(kind, project_path.name if project_path else None, options, isolation)
        fleet = OwnedFleet(
            spec,
            project_path,
            name=name,
            slots=int(slots),
            num_cpus_per_slot=num_cpus_per_slot,
            resources_per_slot=resources_per_slot or {},
            scratch=scratch,
            min_actors=min_actors,
            max_actors=max_actors,
            idle_timeout=idle_timeout,
        )
        fleet.wait_first(resource_wait=resource_wait)
        limits = (max_pending, on_full, max_retries, timeout, max_batch)
        self._setup(fleet, spec, validator, name, slots, *limits)

    def _setup(
        self, fleet, spec, validator, name, slots, max_pending, on_full, max_retries, timeout, batch
    ) -> None:
        self.name = name
        self.slots = int(slots)
        self.max_retries = int(max_retries)
        self.timeout = timeout
        self.on_full = on_full
        self._spec = spec
        self._validator = validator
        self._fleet = fleet
        self._ids = itertools.count()
        if max_pending is None:
            max_pending = max(64, 4 * self.slots * max(1, fleet.max_actors))
        self.max_pending = int(max_pending)
        self._dispatcher = Dispatcher(
            fleet,
            slots=self.slots,
            max_retries=self.max_retries,
            max_batch=batch,
            max_pending=self.max_pending,
            metrics=PoolMetrics(name or "pool"),
        )
        _OPEN_POOLS.add(self)

    @classmethod
    def connect(
        cls,
        name: str,
        *,
        address: str | None = None,
        max_pending: int | None = None,
        on_full: str | float = "block",
        max_retries: int = 3,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_batch: int = 16,
    ) -> SimulationPool:
        """A client of the named service ``name`` (same Ray cluster): it sends requests to
        the service's actors and never creates or kills them."""
        _check_on_full(on_full)
        init_ray(address=address)
        client = ServiceClient(name)
        info = client.info
        kind = info.spec.kind
        if not isinstance(kind, str):
            validator = kind
        elif info.project and Path(info.project).exists():
            validator = make_simulator(kind, info.project, **info.options)
        else:
            validator = None
        pool = cls.__new__(cls)
        limits = (max_pending, on_full, max_retries, timeout, max_batch)
        pool._setup(ClientFleet(client), info.spec, validator, name, info.slots, *limits)
        return pool

    @property
    def max_actors(self) -> int:
        return self._fleet.max_actors

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
        """Queue one request; a Future of its :class:`SimResult`. ``timeout`` [s]: this
        request's limit (None: the pool's).

        Raises:
            ValueError: bad parameters, seed or timeout (checked here, before dispatch).
            PoolFullError: the pool is full and ``on_full`` is not "block".
            RuntimeError: the pool is shut down.
        """
        self.validate(params)
        request = Request.one(params, seed, self._timeout(timeout), next(self._ids))
        return self._enqueue([request])[0]

    def submit_many(
        self,
        requests: Sequence[Mapping[str, Any]],
        *,
        timeout: float | None = None,
        errors: str = "raise",
    ) -> list[Future]:
        """Queue several single requests at once: one Future of a SimResult each, in
        order. Queued together, they are spread over the free slots in one dispatch pass
        (as few actor calls as the slots allow), each still run, timed out and retried
        on its own (how a vector env fans out a slow simulator). ``errors="return"``: a
        rejected request's future holds its ``invalid`` result instead of raising."""
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
        rejected: dict[int, SimResult] = {}
        queued: list[Request] = []
        for i, params in enumerate(requests):
            try:
                self.validate(params)
                queued.append(Request.one(params, None, self._timeout(timeout), next(self._ids)))
            except (ValueError, TypeError) as exc:
                if errors == "raise":
                    raise
                rejected[i] = Request.rejected(params, exc, next(self._ids))
        futures = iter(self._enqueue(queued))
        return [done(rejected[i]) if i in rejected else next(futures) for i in range(len(requests))]

    def submit_batch(
        self,
        requests: Sequence[Mapping[str, Any]],
        *,
        timeout: float | None = None,
        parts: int = 1,
    ) -> Future:
        """Queue several parameter sets as one request, run on one slot in one exchange
        (for the embedded engine, one vectorised call: how a batched RL environment
        steps all its sub-environments). A Future of the list of SimResults, in order.
        ``timeout`` [s] covers the whole batch. Takes one place of ``max_pending``.

        ``parts`` > 1 cuts the sets into that many contiguous batch requests (each one
        exchange with one slot, its own timeout and retries), queued together: on a
        service of several slots they compute in parallel; the Future joins their
        results in order.

        Raises:
            ValueError: a bad parameter set (naming its index and key).
        """
        self._validate_sets(requests)
        if not requests:
            return done([])
        timeout = self._timeout(timeout)
        chunks = split_evenly(list(requests), parts)
        futures = self._enqueue([Request.many(c, timeout, next(self._ids)) for c in chunks])
        return futures[0] if len(futures) == 1 else joined(futures)

    def _validate_sets(self, requests: Sequence[Mapping[str, Any]]) -> None:
        """Validate a batch's sets, in one vectorised pass when the validator has
        ``validate_batch``; a bad set is named by its index."""
        check_all = getattr(self._validator, "validate_batch", None)
        if check_all is not None and all(isinstance(p, Mapping) for p in requests):
            try:
                check_all(requests)
                return
            except (ValueError, TypeError):
                pass  # find and name the bad set below
        for i, params in enumerate(requests):
            try:
                self.validate(params)
            except (ValueError, TypeError) as exc:
                kind = TypeError if isinstance(exc, TypeError) else ValueError
                raise kind(f"batch request {i}: {exc}") from exc

    @property
    def total_slots(self) -> int:
        """Slots of the ready actors (a service's: what its clients may spread work over)."""
        with self._dispatcher.lock:
            return self.slots * sum(a.ready for a in self._fleet.actors.values())

    def _timeout(self, timeout: float | None) -> float | None:
        return timeout if timeout is not None else self.timeout

    def _enqueue(self, requests: list[Request]) -> list[Future]:
        if not requests:
            return []
        self._dispatcher.admit(self.on_full, len(requests))
        return self._dispatcher.put(requests)

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

        ``errors``: "raise" a typed error at the first failed request (an invalid one
        raises from ``submit``), "return" every result, "skip" failed ones; with
        "return" or "skip" an invalid request is a result with status ``invalid`` like
        any failure. The iterable is consumed lazily (bounded window).
        ``seed``: base seed; request i gets ``seed + i``.
        """
        if errors not in _ERRORS:
            raise ValueError(f"errors must be one of {_ERRORS}, got {errors!r}")
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total if total is not None else _len(requests), unit="run")

        def finish(fut: Future) -> SimResult | None:
            result = fut.result()
            if bar is not None:
                bar.update(1)
            if result.ok or errors == "return":
                return result
            if errors == "raise":
                raise error_for(result)
            return None

        def submit(i: int, params: Mapping[str, Any]) -> Future:
            try:
                return self.submit(params, seed=None if seed is None else seed + i)
            except (ValueError, TypeError) as exc:
                if errors == "raise":
                    raise
                return done(Request.rejected(params, exc, next(self._ids)))

        futures = (submit(i, params) for i, params in enumerate(requests))
        try:
            for fut in windowed(futures, self.max_pending - 1, ordered):
                out = finish(fut)
                if out is not None:
                    yield out
        finally:
            if bar is not None:
                bar.close()

    def cancel(self, future: Future) -> bool:
        """Cancel a request: dropped if still queued, its slot killed if running (a request
        dispatched inside a batch runs to its end). True if it will be cancelled."""
        return self._dispatcher.cancel(future)

    def shutdown(
        self, wait: bool = True, *, cancel_futures: bool = False, timeout: float | None = None
    ) -> None:
        """Stop accepting requests; with ``wait`` finish the queued ones (at most
        ``timeout`` s, None: without limit; what is still open then is abandoned: its
        futures fail with a RuntimeError saying so, and a warning gives the count); then
        stop the actors (an owner) and unregister the service."""
        self._dispatcher.close(cancel_futures)
        if wait:
            self._dispatcher.join(timeout)
            if self._dispatcher.running:
                why = RuntimeError(
                    f"abandoned: the pool was shut down after waiting {timeout} s for it "
                    "(it may still run on the service; its result is dropped)"
                )
                count = self._dispatcher.abandon(why)
                self._dispatcher.join(timeout)
                if count:
                    log.warning(
                        "pool %s shut down after %s s with %d request(s) still open: abandoned",
                        self.name,
                        timeout,
                        count,
                    )
        with self._dispatcher.lock:
            self._fleet.shutdown()
        _OPEN_POOLS.discard(self)

    def _close_at_exit(self) -> None:
        """At interpreter exit: fail what is still open, stop the dispatcher, let Ray's
        own shutdown take the actors (no traceback from a thread racing Ray's exit)."""
        self._dispatcher.close(cancel_futures=True)
        self._dispatcher.join(timeout=5.0)
        _OPEN_POOLS.discard(self)

    def __enter__(self) -> SimulationPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)

    # -- introspection -----------------------------------------------------------------
    @property
    def actors(self) -> list[Any]:
        """The handles of the ready actors."""
        with self._dispatcher.lock:
            return [a.handle for a in self._fleet.actors.values() if a.ready]

    def stats(self) -> dict[str, Any]:
        """Pool counters (``queued``, ``in_flight``, ``actors``, ``max_actors``) and every
        ready actor's ``stats()`` under ``per_actor`` (by actor name)."""
        with self._dispatcher.lock:
            summary: dict[str, Any] = {
                "queued": len(self._dispatcher.pending),
                "in_flight": len(self._dispatcher.inflight),
                "actors": len(self._fleet.actors),
                "ready_actors": sum(a.ready for a in self._fleet.actors.values()),
                "max_actors": self._fleet.max_actors,
                "isolation": self._spec.isolation,
            }
            handles = {a.name: a.handle for a in self._fleet.actors.values() if a.ready}
        per_actor = actor_stats(handles)
        summary["per_actor"] = per_actor
        return summary


def _check_on_full(on_full: Any) -> None:
    if on_full not in ("block", "raise") and not isinstance(on_full, (int, float)):
        raise ValueError("on_full must be 'block', 'raise' or a number of seconds")


def _is_command(kind: Any) -> bool:
    from ..simulators.command import CommandSimulator

    return isinstance(kind, CommandSimulator)


def _len(iterable: Iterable) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None


@atexit.register  # registered after Ray's own hook, so it runs first
def close_open_pools() -> None:
    """Stop every pool of this process that was not shut down: what is queued or running
    fails as cancelled and their dispatcher threads end; the actors go with Ray. It runs by
    itself at interpreter exit; call it before an explicit ``ray.shutdown()`` when pools
    may still be open (a pool's thread calling into Ray after ``ray.shutdown()`` makes
    Ray end the process with exit code 1)."""
    for pool in list(_OPEN_POOLS):
        try:
            pool._close_at_exit()
        except Exception:
            pass
