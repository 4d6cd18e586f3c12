"""Simulator slots: where one simulation runs at a time.

* :class:`ProcessSlot`: a persistent worker process that builds the simulator once (the
  embedded engine compiles the project once) and serves requests over a pipe. A crash
  (segfault, ``os._exit``) or a timeout kills and restarts the process; the slot goes on.
* :class:`ThreadSlot`: the simulator runs in the actor's thread pool; for simulators whose
  work already happens in a subprocess with its own timeout (TraceWin, command codes).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from ..simulators.base import SimResult, Simulator

SimulatorFactory = Callable[[], Simulator]


def _serve(factory_blob: bytes, conn) -> None:  # pragma: no cover - child process
    """Worker process main loop: build the simulator, answer requests until EOF."""
    try:
        import cloudpickle

        sim = cloudpickle.loads(factory_blob)()
        conn.send(("ready", None))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        kind, requests, timeout = msg
        results = (
            _checked_batch(sim, requests, timeout)
            if kind == "batch"
            else [_checked(sim, requests[0][0], requests[0][1], timeout)]
        )
        try:
            conn.send(("result", results))
        except Exception as exc:  # an unpicklable result
            conn.send(
                (
                    "result",
                    [
                        SimResult(
                            dict(params),
                            "failed",
                            seed=seed,
                            error=f"result cannot be sent: {exc!r}",
                            error_type=type(exc).__name__,
                        )
                        for params, seed in requests
                    ],
                )
            )


def _checked(sim: Simulator, params: dict, seed: int | None, timeout: float | None) -> SimResult:
    """Call the simulator; an exception or a non-SimResult becomes a failed result."""
    from ..simulators.base import failure

    try:
        result = sim.simulate(params, seed=seed, timeout=timeout)
    except Exception as exc:
        return failure(params, exc, seed)
    if not isinstance(result, SimResult):
        return SimResult(
            dict(params),
            "failed",
            seed=seed,
            error=f"simulator returned {type(result).__name__}, not a SimResult",
            error_type="TypeError",
        )
    return result


def _checked_batch(
    sim: Simulator, requests: list[tuple[dict, int | None]], timeout: float | None
) -> list[SimResult]:
    """Several requests: the simulator's ``simulate_batch`` when it has one (seedless
    requests only), else one ``simulate`` each."""
    from ..simulators.base import failure

    batch = getattr(sim, "simulate_batch", None)
    if batch is None or any(seed is not None for _, seed in requests):
        return [_checked(sim, params, seed, timeout) for params, seed in requests]
    try:
        results = batch([params for params, _ in requests], timeout=timeout)
    except Exception as exc:
        return [failure(params, exc) for params, _ in requests]
    if not isinstance(results, list) or len(results) != len(requests):
        return [
            SimResult(
                dict(params),
                "failed",
                error="simulate_batch did not return one SimResult per request",
                error_type="TypeError",
            )
            for params, _ in requests
        ]
    return results


class SlotStartError(RuntimeError):
    """A slot's simulator could not be built (the message carries the traceback)."""


class ProcessSlot:
    """A persistent worker process holding one simulator instance."""

    def __init__(self, factory: SimulatorFactory, index: int, start_timeout: float = 300.0):
        self.factory = factory
        self.index = index
        self.start_timeout = start_timeout
        self.restarts = 0
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None
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
            raise SlotStartError(
                f"slot {self.index}: simulator did not start within {self.start_timeout} s"
            )
        kind, payload = parent.recv()
        if kind != "ready":
            proc.join(5)
            raise SlotStartError(f"slot {self.index}: building the simulator failed:\n{payload}")
        self._proc, self._conn = proc, parent

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def restart(self) -> None:
        self.kill()
        self.restarts += 1
        self._start()

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
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def call(self, params: dict[str, Any], seed: int | None, timeout: float | None) -> SimResult:
        """Run one request; a timeout or a crash restarts the process and is reported."""
        return self._exchange("one", [(params, seed)], timeout)[0]

    def call_batch(
        self, requests: list[tuple[dict[str, Any], int | None]], timeout: float | None
    ) -> list[SimResult]:
        """Run ``(params, seed)`` requests in one exchange (``timeout`` covers them all)."""
        return self._exchange("batch", requests, timeout)

    def _exchange(
        self, kind: str, requests: list[tuple[dict[str, Any], int | None]], timeout: float | None
    ) -> list[SimResult]:
        def failed(status: str, error: str, error_type: str) -> list[SimResult]:
            elapsed = time.monotonic() - t0
            return [
                SimResult(
                    dict(params),
                    status,
                    seed=seed,
                    elapsed=elapsed,
                    error=error,
                    error_type=error_type,
                )
                for params, seed in requests
            ]

        with self._lock:
            t0 = time.monotonic()
            try:
                self._conn.send((kind, requests, timeout))
                ready = self._conn.poll(timeout) if timeout is not None else self._conn.poll(None)
                if not ready:
                    self.restart()
                    return failed(
                        "timeout",
                        f"no result within {timeout} s; the slot's process "
                        "was killed and restarted",
                        "Timeout",
                    )
                _, results = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                code = self._proc.exitcode if self._proc else None
                self.restart()
                return failed(
                    "failed",
                    f"the simulator process crashed (exit code {code}); the slot was restarted",
                    "SimulatorCrashed",
                )
            elapsed = (time.monotonic() - t0) / len(results)
            for result in results:
                result.elapsed = result.elapsed or elapsed
            return results

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

    def __init__(self, factory: SimulatorFactory, index: int):
        self.index = index
        self.restarts = 0
        self.sim = factory()
        self.pid = os.getpid()

    def call(self, params: dict[str, Any], seed: int | None, timeout: float | None) -> SimResult:
        t0 = time.monotonic()
        result = _checked(self.sim, params, seed, timeout)
        result.elapsed = result.elapsed or time.monotonic() - t0
        return result

    def call_batch(
        self, requests: list[tuple[dict[str, Any], int | None]], timeout: float | None
    ) -> list[SimResult]:
        t0 = time.monotonic()
        results = _checked_batch(self.sim, requests, timeout)
        for result in results:
            result.elapsed = result.elapsed or (time.monotonic() - t0) / len(results)
        return results

    def kill(self) -> None:
        pass

    def interrupt(self) -> None:
        """Cancellation cannot stop a thread; its subprocess keeps its own timeout."""

    def restart(self) -> None:
        self.restarts += 1

    def close(self) -> None:
        pass
