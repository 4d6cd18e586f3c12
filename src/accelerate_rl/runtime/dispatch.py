"""The dispatcher: the queue, the in-flight table, dispatch to the least-loaded actor,
completion, retries, and the thread that drives them (one per pool, using ``ray.wait``).
A thread waiting on a request's future settles the request's actor call itself when the
call is out (:class:`RequestFuture`), whichever of the two threads sees it done first.

Each request yields exactly one result. What comes back for a request is judged on its
own, so one request never fails another:

* a result: completes the request (results were checked in the slot);
* :class:`~accelerate_rl.runtime.actor.Unserved` (its slot is down): sent again without
  counting an attempt; an actor that answers so three times in a row is replaced;
* the actor died (``RayActorError``) or its result object was lost
  (``ObjectLostError``, e.g. its node went away before the driver fetched it): sent
  again, up to ``max_retries`` times, then ``actor_died``;
* anything else (the actor method raised, an unexpected error while settling): that
  call's requests fail with the error; the dispatcher goes on.

Requests queued for the same actor are coalesced into one ``run_many`` call (single and
batch requests alike, up to the actor's free capacity), which cuts Ray's per-call cost;
the actor runs them concurrently over its slots and answers each on its own, so the
rules above still hold per request.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field, replace
from typing import Any

import ray
from ray.exceptions import ObjectLostError, RayActorError, RayTaskError, TaskCancelledError

from ..simulators.base import SimResult, Status
from .actor import Unserved
from .errors import PoolFullError
from .fleet import ActorState, ClientFleet, OwnedFleet
from .metrics import PoolMetrics
from .request import ERROR_TAIL_CHARS, FAST_SIMULATION, Request

log = logging.getLogger(__name__)

#: Consecutive unserved requests after which an actor is replaced.
UNHEALTHY_AFTER = 3
#: Times a request may come back unserved before it fails.
MAX_UNSERVED = 50
#: Requests an actor call carries at least while simulations are fast: with 64 instead
#: of 16, ``bench_runtime.py --only embedded`` went from 0.77-0.84x to 1.45-1.78x the
#: in-process runs/s (2 slots; a slot runs a call's share in one vectorised exchange).
FAST_BATCH = 64
#: Seconds a thread waiting on a request's result waits on Ray at a time, so that an
#: abandoned request (a bounded shutdown) releases it.
FINISH_SLICE = 0.2


class RequestFuture(Future):
    """A request's Future. Waiting on it (``result``) finishes the request in the waiting
    thread as soon as its actor call is done, one thread wake-up sooner than the
    dispatcher thread would; otherwise (not sent yet, sent again) it waits as any Future."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        super().__init__()
        self.dispatcher = dispatcher
        self.ref: Any = None  # the actor call carrying the request, once sent

    def result(self, timeout: float | None = None) -> Any:
        end = None if timeout is None else time.monotonic() + timeout
        if not self.done() and self.ref is not None:
            self.dispatcher.finish(self.ref, timeout, self)
        return super().result(None if end is None else max(0.0, end - time.monotonic()))


@dataclass
class Ticket:
    """A request on the driver with its future."""

    request: Request
    future: Future = field(default_factory=Future)
    unserved: int = 0
    #: Send in an actor call of its own (it came back from a failed vectorised group).
    alone: bool = False


class Dispatcher:
    """Queue, in-flight table and dispatch thread of one pool."""

    def __init__(
        self,
        fleet: OwnedFleet | ClientFleet,
        *,
        slots: int,
        max_retries: int,
        max_batch: int,
        max_pending: int,
        metrics: PoolMetrics,
    ) -> None:
        self.fleet = fleet
        self.slots = slots
        self.max_retries = max_retries
        self.max_batch = max(1, max_batch)
        self.max_pending = max_pending
        self.metrics = metrics
        self.lock = threading.Condition()
        self.pending: collections.deque[Ticket] = collections.deque()
        self.inflight: dict[Any, tuple[list[Ticket], ActorState]] = {}
        self.closing = False
        self.error: BaseException | None = None
        self._room = threading.Semaphore(max_pending)
        self._ewma_elapsed = 1.0  # [s]; conservative until results come in
        self._thread = threading.Thread(target=self._loop, name="simulation-pool", daemon=True)
        self._thread.start()

    # -- the pool's side ------------------------------------------------------------------
    def admit(self, on_full: str | float, count: int = 1) -> None:
        """Take ``count`` places of ``max_pending`` as ``on_full`` says (block, raise, wait
        [s]); all or none (places taken before a refusal are given back)."""
        for taken in range(count):
            try:
                self._admit_one(on_full)
            except BaseException:
                for _ in range(taken):
                    self._room.release()
                raise

    def _admit_one(self, on_full: str | float) -> None:
        self.check_open()
        if on_full == "block":
            while not self._room.acquire(timeout=1.0):
                self.check_open()
        elif on_full == "raise":
            if not self._room.acquire(blocking=False):
                raise PoolFullError(f"{self.max_pending} requests pending")
        elif not self._room.acquire(timeout=float(on_full)):
            raise PoolFullError(f"no room within {on_full} s ({self.max_pending} pending)")

    def check_open(self) -> None:
        if self.closing:
            raise RuntimeError("the pool is shut down")
        if self.error is not None:
            raise RuntimeError(f"the pool's dispatcher failed: {self.error!r}")

    def put(self, requests: list[Request]) -> list[Future]:
        """Queue admitted requests together (one dispatch pass sees them all, so they go
        out in as few actor calls as the slots allow); their futures.

        Batch requests (what a vector env waits for) that find a free slot go out here,
        in the caller's thread: sent when ``put`` returns, not when the dispatcher thread
        next gets the GIL, so the caller's wait finishes them itself
        (:class:`RequestFuture`). Single requests wait for the thread, which coalesces
        what piles up meanwhile."""
        tickets = [Ticket(r, RequestFuture(self)) for r in requests]
        for ticket in tickets:
            ticket.future.request_id = ticket.request.request_id  # type: ignore[attr-defined]
        with self.lock:
            self.pending.extend(tickets)
            if any(r.batch for r in requests):
                self._dispatch(limit=self.slots)
            self.lock.notify()
        return [t.future for t in tickets]

    def cancel(self, future: Future) -> bool:
        if future.cancel():
            return True
        with self.lock:
            for ref, (tickets, _) in self.inflight.items():
                if len(tickets) == 1 and tickets[0].future is future:
                    ray.cancel(ref)
                    return True
        return False

    def close(self, cancel_futures: bool) -> None:
        with self.lock:
            self.closing = True
            if cancel_futures:
                while self.pending:
                    ticket = self.pending.popleft()
                    self._complete(
                        ticket, ticket.request.failed(Status.CANCELLED, "pool shut down")
                    )
            self.lock.notify()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the dispatcher thread still runs (after ``join``: it timed out)."""
        return self._thread.is_alive()

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {"queued": len(self.pending), "in_flight": len(self.inflight)}

    # -- dispatch -------------------------------------------------------------------------
    def _batch(self) -> int:
        """Requests one actor call carries at most: ``max_batch``, and at least
        :data:`FAST_BATCH` while simulations are fast (< 5 ms), where Ray's per-call cost
        (~4 ms on the 2-core benchmark machine) would otherwise dominate."""
        if self._ewma_elapsed < FAST_SIMULATION:
            return max(self.max_batch, FAST_BATCH)
        return self.max_batch

    def _capacity(self) -> int:
        """Requests an actor may hold: one running per slot plus one waiting; deep batches
        only for fast simulations (< 5 ms), where Ray's per-call cost dominates and
        batching cannot starve other actors of work: two full calls, so the actor works
        on one while the other's results travel back and the next one comes in."""
        if self._ewma_elapsed < FAST_SIMULATION:
            return 2 * max(2 * self.slots, self._batch())
        return 2 * self.slots

    def _dispatch(self, limit: int | None = None) -> None:
        """Send what is pending to the least-loaded actors, each holding at most its
        capacity (``limit``: at most that many requests in flight)."""
        while self.pending:
            ready = [a for a in self.fleet.actors.values() if a.ready]
            if not ready:
                return
            actor = min(ready, key=lambda a: a.in_flight)
            room = min(self._capacity(), limit or self._capacity()) - actor.in_flight
            if room <= 0:
                return
            share = -(-len(self.pending) // len(ready))  # ceil: spread a deep queue evenly
            size = max(1, min(room, share, self._batch()))
            tickets: list[Ticket] = []
            while self.pending and len(tickets) < size:
                if self.pending[0].alone and tickets:
                    break  # it goes in the next call, by itself
                ticket = self.pending.popleft()
                first = ticket.request.attempts == 0 and not ticket.unserved
                if first and not ticket.future.set_running_or_notify_cancel():
                    self._room.release()  # cancelled while queued
                    continue
                ticket.request = ticket.request.dispatched()
                tickets.append(ticket)
                if ticket.alone:
                    break
            if not tickets:
                continue
            try:
                ref = self._call(actor, [t.request for t in tickets])
            except Exception as exc:  # e.g. a parameter value Ray cannot serialise
                for t in tickets:
                    error = f"could not send the request to an actor: {exc!r}"
                    self._complete(t, t.request.failed(Status.FAILED, error, type(exc).__name__))
                continue
            actor.in_flight += len(tickets)
            actor.last_busy = time.monotonic()
            self.inflight[ref] = (tickets, actor)
            for ticket in tickets:
                ticket.future.ref = ref  # type: ignore[attr-defined]

    @staticmethod
    def _call(actor: ActorState, requests: list[Request]) -> Any:
        """Send ``requests`` to ``actor`` in one call; its result's ref."""
        if len(requests) > 1:  # coalesced: one actor call, each request on its own
            return actor.handle.run_many.remote(requests)
        if requests[0].batch:
            return actor.handle.run_batch.remote(requests[0])
        return actor.handle.run.remote(requests[0])

    # -- completion -----------------------------------------------------------------------
    def finish(self, ref: Any, timeout: float | None, future: Future) -> None:
        """Wait (at most ``timeout`` s) for the actor call ``ref`` in the calling thread
        and settle it, unless the dispatcher thread did already. Waits in slices of
        :data:`FINISH_SLICE` s, returning early once ``future`` is done without it
        (abandoned by a bounded shutdown, cancelled) or its request was sent again."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = FINISH_SLICE if end is None else min(FINISH_SLICE, end - time.monotonic())
            try:
                ready, _ = ray.wait([ref], timeout=max(0.0, left), fetch_local=True)
            except Exception:  # Ray going away: the dispatcher thread deals with it
                return
            if ready:
                with self.lock:
                    self._settle_if_open(ref)
                return
            if future.done() or future.ref is not ref:
                return
            if end is not None and time.monotonic() >= end:
                return

    def _settle_if_open(self, ref: Any) -> None:
        if ref not in self.inflight:
            return  # settled by the other thread
        try:
            self._settle(ref)
        except Exception as exc:
            self._fail_call(ref, exc)

    def _complete(self, ticket: Ticket, result: SimResult | list[SimResult]) -> None:
        for one in result if isinstance(result, list) else [result]:
            if one.elapsed > 0:
                self._ewma_elapsed = 0.9 * self._ewma_elapsed + 0.1 * one.elapsed
            ticket.request.stamp(one)
        if not ticket.future.done():
            if not ticket.future.running():
                ticket.future.set_running_or_notify_cancel()
            ticket.future.set_result(result)
        self._room.release()

    def _retry(self, ticket: Ticket, exc: BaseException) -> None:
        if ticket.request.attempts <= self.max_retries:
            self.pending.appendleft(ticket)
            return
        error = f"actor died {ticket.request.attempts} times: {exc}"
        self._complete(ticket, ticket.request.failed(Status.ACTOR_DIED, error, type(exc).__name__))

    def _unserved(self, ticket: Ticket, actor: ActorState, why: Unserved) -> None:
        actor.unserved += 1
        if actor.unserved >= UNHEALTHY_AFTER:
            log.warning("replacing actor %s: %s", actor.name, why.error)
            self.fleet.remove(actor)
        ticket.unserved += 1
        ticket.alone = ticket.alone or why.alone
        if ticket.unserved > MAX_UNSERVED:
            error = f"no slot could run it ({ticket.unserved} tries): {why.error}"
            self._complete(ticket, ticket.request.failed(Status.FAILED, error, why.error_type))
            return
        ticket.request = replace(ticket.request, attempts=ticket.request.attempts - 1)
        self.pending.appendleft(ticket)

    def _settle(self, ref: Any) -> None:
        """Complete (or send again) the requests of one finished call."""
        tickets, actor = self.inflight.pop(ref)
        actor.in_flight -= len(tickets)
        actor.last_busy = time.monotonic()
        try:
            value = ray.get(ref)
        except TaskCancelledError:
            for t in tickets:
                self._complete(t, t.request.failed(Status.CANCELLED, "cancelled"))
            return
        except RayActorError as exc:
            self.fleet.remove(actor)
            for t in reversed(tickets):
                self._retry(t, exc)
            return
        except ObjectLostError as exc:  # the result went with its node: run it again
            log.warning("lost the result of %d request(s) (%s); sending again", len(tickets), exc)
            for t in reversed(tickets):
                self._retry(t, exc)
            return
        except RayTaskError as exc:  # the actor method itself raised
            for t in tickets:
                error = str(exc)[-ERROR_TAIL_CHARS:]
                self._complete(t, t.request.failed(Status.FAILED, error, type(exc).__name__))
            return
        outcomes = value if len(tickets) > 1 else [value]
        if not isinstance(outcomes, list) or len(outcomes) != len(tickets):
            outcomes = [None] * len(tickets)  # a malformed reply: each request fails alone
        for ticket, outcome in zip(tickets, outcomes):
            self._settle_one(ticket, actor, outcome)

    def _settle_one(self, ticket: Ticket, actor: ActorState, outcome: Any) -> None:
        if isinstance(outcome, Unserved):
            self._unserved(ticket, actor, outcome)
            return
        actor.unserved = 0
        request = ticket.request
        if request.batch:
            fits = isinstance(outcome, list) and len(outcome) == len(request.params)
            fits = fits and all(isinstance(r, SimResult) for r in outcome)
        else:
            fits = isinstance(outcome, SimResult)
        if not fits:
            error = f"the actor returned {type(outcome).__name__}, not this request's result"
            outcome = ticket.request.failed(Status.FAILED, error, "TypeError")
        self._complete(ticket, outcome)

    def _fail_call(self, ref: Any, exc: BaseException) -> None:
        """The last resort for a call whose settling raised: fail its requests only."""
        log.exception("settling a simulation call failed")
        entry = self.inflight.pop(ref, None)
        for ticket in entry[0] if entry else []:
            if not ticket.future.done():
                error = f"internal error: {exc!r}"
                self._complete(ticket, ticket.request.failed(Status.FAILED, error, "InternalError"))

    # -- the thread -----------------------------------------------------------------------
    def _step(self, last_scale: list[float]) -> None:
        with self.lock:
            self.fleet.mark_ready()
            if time.monotonic() - last_scale[0] > 0.5:
                self.fleet.scale(len(self.pending), self.slots, self.closing)
                last_scale[0] = time.monotonic()
            self._dispatch()
            refs = list(self.inflight)
            self.metrics.update(len(refs), len(self.pending))
            if not refs:
                self.lock.wait(timeout=0.05)
                return
        ready, _ = ray.wait(refs, num_returns=min(len(refs), 256), timeout=0.01, fetch_local=True)
        with self.lock:
            for ref in ready:
                self._settle_if_open(ref)

    def _done(self) -> bool:
        with self.lock:
            return self.closing and not self.pending and not self.inflight

    def _loop(self) -> None:
        last_scale = [0.0]
        errors = 0
        try:
            while not self._done():
                if not ray.is_initialized():
                    self.abandon(RuntimeError("Ray was shut down before the pool"))
                    return
                try:
                    self._step(last_scale)
                    errors = 0
                except Exception:
                    if not ray.is_initialized():
                        continue  # Ray shutting down (e.g. at interpreter exit): see above
                    errors += 1
                    if errors > 20:
                        raise
                    log.exception("the pool's dispatcher hit an error; going on")
                    time.sleep(0.1 * errors)
        except BaseException as exc:  # pragma: no cover - surfaced to callers
            self.error = exc
            self.abandon(exc)
            raise

    def abandon(self, exc: BaseException) -> int:
        """Fail every open request with ``exc`` (the dispatcher stops); how many were open."""
        with self.lock:
            self.closing = True
            tickets = [t for ts, _ in self.inflight.values() for t in ts] + list(self.pending)
            self.pending.clear()
            self.inflight.clear()
            self.lock.notify()
        failed = 0
        for ticket in tickets:
            try:
                ticket.future.set_exception(exc)
                failed += 1
            except InvalidStateError:  # done or cancelled meanwhile (outside the lock)
                pass
        return failed
