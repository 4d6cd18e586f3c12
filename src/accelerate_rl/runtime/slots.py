"""Simulator slots: where one simulation runs at a time.

* :class:`ProcessSlot`: a persistent worker process that builds the simulator once (the
  embedded engine compiles the project once) and serves :class:`Request` s over a pipe. A
  crash (segfault, ``os._exit``) or a timeout kills and restarts the process; the slot
  goes on. A restart that fails leaves the slot *unhealthy*: it is retried with an
  exponential backoff on the next request, which meanwhile raises :class:`SlotUnavailable`
  (the pool re-dispatches it elsewhere and replaces an actor that stays unhealthy).
* :class:`ThreadSlot`: the simulator runs in the actor's thread pool; for simulators whose
  work already happens in a subprocess with its own timeout (TraceWin, command codes).

A group of single requests (``call_many``: what the actor gives a slot while simulations
are fast) runs as one ``simulate_batch`` call when the simulator has one and no request
carries a seed (:class:`Vectorised`: the embedded engine's envelope runs vectorised,
their results equal to single runs'); a result of it that failed (not ``ok``, not a lost
beam) is run again alone, so a neighbour's fault or timeout never becomes its own. A
vectorised exchange that fails as a whole (the process crashed, or no answer within the
group's largest timeout) is run again request by request, each with its own timeout, so
that only a culprit fails; when the slot cannot restart for that, the group's requests
come back :data:`RUN_ALONE` (the pool sends each in a call of its own, where a culprit is
found wherever it lands).

Every result leaving a slot went through :func:`~accelerate_rl.simulators.base.checked`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from ..simulators.base import SimResult, Simulator, Status, checked, failure
from .request import ERROR_TAIL_CHARS, Request

SimulatorFactory = Callable[[], Simulator]
#: Longest pause between restart attempts of an unhealthy slot [s].
MAX_RESTART_BACKOFF = 30.0


def _serve(factory_blob: bytes, conn) -> None:  # pragma: no cover - child process
    """Worker process main loop: build the simulator, answer requests until EOF."""
    try:
        import cloudpickle

        sim = cloudpickle.loads(factory_blob)()
        conn.send(("ready", callable(getattr(sim, "simulate_batch", None))))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        if isinstance(request, Vectorised):
            _answer_all(conn, request.requests, run_vectorised(sim, request.requests))
            continue
        for one in request if isinstance(request, list) else [request]:
            _answer(conn, one, run_request(sim, one))


@dataclass(frozen=True)
class Vectorised:
    """Single requests a slot process runs in one ``simulate_batch`` call (no seeds),
    answered in one message: one result each, in order."""

    requests: list[Request]


#: What ``call_many`` gives for the requests of a vectorised group that failed as a whole
#: on a slot that could not restart: run it again in a call of its own.
RUN_ALONE = "run-alone"


def group_timeout(requests: list[Request]) -> float | None:
    """The wall-time limit [s] of a vectorised group: its largest request timeout (None:
    one of them has no limit), so a tight neighbour never cuts the others' runs short."""
    timeouts = [r.timeout for r in requests]
    return None if any(t is None for t in timeouts) else max(timeouts)


def run_vectorised(sim: Simulator, requests: list[Request]) -> list[SimResult]:
    """The requests' results from one batch run of their parameter sets
    (:func:`run_request`: ``simulate_batch`` with :func:`group_timeout`, each result
    checked); a result that failed (not ``ok``, not a lost beam: also every set of a batch
    call that raised or returned a wrong list) runs again alone with its own timeout."""
    merged = Request.many([r.params for r in requests], group_timeout(requests), -1)
    kept = (Status.OK, Status.LOST)
    return [
        one if one.status in kept else _simulate(sim, r.params, None, r.timeout)
        for one, r in zip(run_request(sim, merged), requests)
    ]


def _answer_all(
    conn, requests: list[Request], results: list[SimResult]
) -> None:  # pragma: no cover
    """Send a vectorised group's results in one message; a result that cannot be pickled
    is replaced by a failed one naming why (the others are sent as they are)."""
    try:
        conn.send(("result", results))
        return
    except Exception:
        pass
    sendable = []
    for request, result in zip(requests, results):
        try:
            pickle.dumps(result)
            sendable.append(result)
        except Exception as exc:
            text = f"result cannot be sent: {exc!r}"
            sendable.append(_failed(request, request.params, text, type(exc).__name__))
    conn.send(("result", sendable))


def _answer(conn, request: Request, results: list[SimResult]) -> None:  # pragma: no cover
    """Send one request's results (each request of a coalesced exchange on its own)."""
    try:
        conn.send(("result", results))
    except Exception as exc:  # an unpicklable result
        text = f"result cannot be sent: {exc!r}"
        conn.send(("result", [_failed(request, p, text, type(exc).__name__) for p in request.sets]))


def _failed(request: Request, params: dict, error: str, error_type: str, status=Status.FAILED):
    return SimResult.failed(params, status, error, error_type=error_type, seed=request.seed)


def _failed_all(
    request: Request, t0: float, status: Status, error: str, error_type: str
) -> list[SimResult]:
    """One failed result per set of ``request``, timed from ``t0`` (monotonic [s])."""
    elapsed = time.monotonic() - t0
    out = [_failed(request, p, error, error_type, status) for p in request.sets]
    for result in out:
        result.elapsed = elapsed
    return out


def _timed(results: list[SimResult], t0: float) -> list[SimResult]:
    """``results`` of an exchange sent at ``t0`` (monotonic [s]), each without its own
    ``elapsed`` given an equal share of the exchange's wall time."""
    elapsed = (time.monotonic() - t0) / max(1, len(results))
    for result in results:
        result.elapsed = result.elapsed or elapsed
    return results


def run_request(sim: Simulator, request: Request) -> list[SimResult]:
    """Run ``request`` on ``sim``: one checked result per parameter set. A batch uses the
    simulator's ``simulate_batch`` when it has one, else one ``simulate`` per set.
    Exceptions and malformed results become failed results, one per set."""
    if not request.batch:
        return [_simulate(sim, request.params, request.seed, request.timeout)]
    sets = request.sets
    batch = getattr(sim, "simulate_batch", None)
    if batch is None:
        return [_simulate(sim, params, None, request.timeout) for params in sets]
    try:
        results = batch(sets, timeout=request.timeout)
    except Exception as exc:
        return [failure(params, exc) for params in sets]
    if not isinstance(results, list) or len(results) != len(sets):
        text = "simulate_batch did not return one SimResult per request"
        return [_failed(request, p, text, "TypeError") for p in sets]
    return [checked(r, p) for r, p in zip(results, sets)]


def _simulate(sim: Simulator, params: dict, seed: int | None, timeout: float | None) -> SimResult:
    try:
        result = sim.simulate(params, seed=seed, timeout=timeout)
    except Exception as exc:
        return failure(params, exc, seed)
    return checked(result, params, seed)


class SlotStartError(RuntimeError):
    """A slot's simulator could not be built (the message carries the traceback)."""


class SlotUnavailable(RuntimeError):
    """The slot's process is down and could not be restarted (yet); the request did not
    run and may be sent elsewhere."""


class ProcessSlot:
    """A persistent worker process holding one simulator instance."""

    def __init__(self, factory: SimulatorFactory, index: int, start_timeout: float = 300.0):
        self.factory = factory
        self.index = index
        self.start_timeout = start_timeout
        self.restarts = 0
        self.start_failures = 0  # consecutive failed restarts
        self.start_error: str | None = None
        self._next_start = 0.0
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None
        self.vectorises = False
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        import cloudpickle

        parent, child = self._ctx.Pipe()
        blob = cloudpickle.dumps(self.factory)
        proc = self._ctx.Process(target=_serve, args=(blob, child), daemon=True)
        proc.start()
        child.close()
        if not parent.poll(self.start_timeout):
            proc.kill()
            proc.join(5)
            raise SlotStartError(
                f"slot {self.index}: simulator did not start within {self.start_timeout} s"
            )
        try:
            kind, payload = parent.recv()
        except (EOFError, OSError):
            proc.join(5)
            kind, payload = "error", f"the process exited with code {proc.exitcode}"
        if kind != "ready":
            proc.join(5)
            raise SlotStartError(f"slot {self.index}: building the simulator failed:\n{payload}")
        self._proc, self._conn = proc, parent
        self.vectorises = bool(payload)  # the simulator has simulate_batch

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def healthy(self) -> bool:
        """False while the process is down after a failed restart."""
        return self._conn is not None

    def restart(self) -> None:
        """Replace the process; a failure leaves the slot unhealthy (retried later)."""
        self.kill()
        self.restarts += 1
        self._try_start()

    def _try_start(self) -> None:
        try:
            self._start()
        except Exception as exc:
            self.start_failures += 1
            self.start_error = str(exc)[-ERROR_TAIL_CHARS:]
            backoff = min(MAX_RESTART_BACKOFF, 0.5 * 2 ** (self.start_failures - 1))
            self._next_start = time.monotonic() + backoff
            return
        self.start_failures = 0
        self.start_error = None

    def _ensure_started(self) -> None:
        if self._conn is None and time.monotonic() >= self._next_start:
            self._try_start()
        if self._conn is None:
            raise SlotUnavailable(
                f"slot {self.index} is down: {self.start_failures} restart(s) failed; "
                f"last: {self.start_error}"
            )

    def interrupt(self) -> None:
        """Kill the running simulation from another thread (cancellation). Only the child
        process is touched: the thread inside ``call`` sees it die and restarts the slot,
        so the slot's state is changed by one thread only."""
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.kill()

    def kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
        if self._proc is not None:
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def call(self, request: Request) -> SimResult:
        """Run one request; a timeout or a crash restarts the process and is reported."""
        return self._exchange(request)[0]

    def call_batch(self, request: Request) -> list[SimResult]:
        """Run a batch request in one exchange (its timeout covers every set)."""
        return self._exchange(request)

    def call_many(self, requests: list[Request]) -> list[SimResult | str | None]:
        """Run single requests in one exchange: vectorised when the simulator has
        ``simulate_batch`` and none has a seed (see the module docstring), else (or when
        that failed as a whole) one after another, the process answering each as it
        finishes, so each keeps its own timeout. A timeout or crash fails that request
        only; the process is restarted and the rest go on in a new exchange. None for a
        request not run because the slot is down (send it elsewhere), :data:`RUN_ALONE`
        for one of a vectorised group that failed as a whole on a slot that could not
        restart (send it elsewhere, alone)."""
        out: list[SimResult | None] = []
        with self._lock:
            unseeded = all(r.seed is None for r in requests)
            if len(requests) > 1 and unseeded and self.vectorises:
                results = self._vectorised(requests)
                if results is not None:
                    return results
                if not self.healthy:  # failed as a whole, and no process to find the culprit
                    return [RUN_ALONE] * len(requests)
            while len(out) < len(requests):
                rest = requests[len(out) :]
                try:
                    self._ensure_started()
                except SlotUnavailable:
                    return out + [None] * len(rest)
                t0 = time.monotonic()
                try:
                    self._conn.send(rest)
                except (EOFError, OSError):
                    out += self._crashed(rest[0], t0)
                    continue
                for request in rest:
                    results, restarted = self._receive(request, t0)
                    out += results
                    t0 = time.monotonic()
                    if restarted:
                        break
        return out

    def _vectorised(self, requests: list[Request]) -> list[SimResult] | None:
        """Run single requests as one :class:`Vectorised` exchange; their results, or None
        when it failed as a whole (the slot is down, the process crashed, or it gave no
        answer within :func:`group_timeout`: then it was restarted) and the requests must
        run one by one."""
        try:
            self._ensure_started()
        except SlotUnavailable:
            return None
        t0 = time.monotonic()
        try:
            self._conn.send(Vectorised(list(requests)))
            if not self._conn.poll(group_timeout(requests)):
                self.restart()
                return None
            _, results = self._conn.recv()
        except (EOFError, OSError):
            self._reap()
            self.restart()
            return None
        if not isinstance(results, list) or len(results) != len(requests):
            return None
        return _timed(results, t0)

    def _exchange(self, request: Request) -> list[SimResult]:
        with self._lock:
            self._ensure_started()
            t0 = time.monotonic()
            try:
                self._conn.send(request)
            except (EOFError, OSError):
                return self._crashed(request, t0)
            return self._receive(request, t0)[0]

    def _receive(self, request: Request, t0: float) -> tuple[list[SimResult], bool]:
        """The results of the request the process runs (sent at ``t0``), and whether the
        process was restarted (it timed out or crashed)."""
        timeout = request.timeout
        try:
            if not self._conn.poll(timeout):
                self.restart()
                error = f"no result within {timeout} s; the slot's process was killed and restarted"
                return _failed_all(request, t0, Status.TIMEOUT, error, "Timeout"), True
            _, results = self._conn.recv()
        except (EOFError, OSError):
            return self._crashed(request, t0), True
        return _timed(results, t0), False

    def _crashed(self, request: Request, t0: float) -> list[SimResult]:
        code = self._reap()
        self.restart()
        error = f"the simulator process crashed (exit code {code}); the slot was restarted"
        return _failed_all(request, t0, Status.FAILED, error, "SimulatorCrashed")

    def _reap(self) -> int | None:
        """The dead process's exit code (waited for, so it is known; negative: a signal)."""
        if self._proc is None:
            return None
        self._proc.join(5)
        return self._proc.exitcode

    def close(self) -> None:
        try:
            if self._conn is not None:
                self._conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        if self._proc is not None:
            self._proc.join(2)
        self.kill()


class ThreadSlot:
    """A slot for simulators that run their own subprocess (and own timeout)."""

    healthy = True

    def __init__(self, factory: SimulatorFactory, index: int):
        self.index = index
        self.restarts = 0
        self.sim = factory()
        self.pid = os.getpid()

    def call(self, request: Request) -> SimResult:
        return self.call_batch(request)[0]

    def call_many(self, requests: list[Request]) -> list[SimResult | None]:
        return [self.call(r) for r in requests]

    def call_batch(self, request: Request) -> list[SimResult]:
        t0 = time.monotonic()
        return _timed(run_request(self.sim, request), t0)

    def interrupt(self) -> None:
        """Cancellation cannot stop a thread; its subprocess keeps its own timeout."""

    def close(self) -> None:
        pass
