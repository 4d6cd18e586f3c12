"""SimulationActor: a long-lived async Ray actor with a private scratch directory and a
pool of simulator slots.

The project's files arrive once per actor as an object-store blob (a tar archive) and
are unpacked into the scratch directory (``/dev/shm`` when present, for in-memory I/O).
A crashed slot is restarted, not the actor; a timed-out run's process is killed; a
cancelled request kills its slot's process. A slot that cannot restart answers its
requests :class:`Unserved` (the pool sends them elsewhere) and shows in
``stats()["unhealthy_slots"]``. ``stats()`` reports runs, failures by status,
busy slots, restarts and scratch usage; ``shutdown()`` removes the scratch directory.
"""

from __future__ import annotations

import asyncio
import collections
import io
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import ray

from ..simulators import make_simulator
from ..simulators.base import SimResult, Status
from .metrics import ActorMetrics
from .request import FAST_SIMULATION, Request
from .slots import RUN_ALONE, ProcessSlot, SlotUnavailable, ThreadSlot
from .window import split_evenly


@dataclass(frozen=True)
class SimulatorSpec:
    """How an actor builds its simulator: ``kind`` ("embedded", "tracewin", a picklable
    object with ``simulate``, or a function), the project's file name inside the shipped
    folder, constructor options, and whether slots are processes or threads."""

    kind: Any
    project_name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    isolation: str = "process"


def pack_folder(folder: Path) -> bytes:
    """A project folder as tar bytes (symlinks followed; TraceWin run outputs left out)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith((".", "tracewin-run-", "__pycache__")):
                continue
            tar.add(entry.resolve(), arcname=entry.name)
    return buf.getvalue()


def build_simulator(spec: SimulatorSpec, project: str | None, workdir: str):
    """Module-level (picklable) factory run in slots."""
    return make_simulator(spec.kind, project, workdir=workdir, **spec.options)


def scratch_root(root: str | None) -> str:
    if root:
        return root
    return (
        "/dev/shm"
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
        else (tempfile.gettempdir())
    )


@dataclass(frozen=True)
class Unserved:
    """A request the actor could not run (its slot is down, or it broke before running):
    the pool sends it again, elsewhere if it can; ``alone``: in an actor call of its own
    (it was in a vectorised group that failed as a whole, see :mod:`.slots`)."""

    error: str
    error_type: str
    alone: bool = False


class SimulationActor:
    """Use via ``ray.remote(SimulationActor)``; see :class:`SimulationPool`."""

    def __init__(
        self,
        spec: SimulatorSpec,
        project_blob: bytes | None,
        slots: int = 1,
        scratch: str | None = None,
        name: str = "",
    ) -> None:
        self.name = name or f"sim-{os.getpid()}"
        self.scratch = Path(tempfile.mkdtemp(prefix="accelerate-rl-", dir=scratch_root(scratch)))
        project = None
        if project_blob is not None:
            folder = self.scratch / "project"
            folder.mkdir()
            with tarfile.open(fileobj=io.BytesIO(project_blob)) as tar:
                tar.extractall(folder, filter="data")
            project = str(folder / spec.project_name) if spec.project_name else str(folder)
        runs = self.scratch / "runs"
        runs.mkdir()
        factory = partial(build_simulator, spec, project, str(runs))
        slot_cls = ProcessSlot if spec.isolation == "process" else ThreadSlot
        with ThreadPoolExecutor(max_workers=max(1, slots)) as ex:
            self.slots = list(ex.map(lambda i: slot_cls(factory, i), range(slots)))
        self.executor = ThreadPoolExecutor(max_workers=max(1, slots))
        self._free: asyncio.Queue | None = None
        self.busy = 0
        self.runs = 0
        self.by_status: dict[str, int] = {}
        self.started = time.time()
        self._ewma_elapsed = 1.0  # [s] per run; conservative until results come in
        self.metrics = ActorMetrics(self.name, len(self.slots))

    def _queue(self) -> asyncio.Queue:
        if self._free is None:
            self._free = asyncio.Queue()
            for slot in self.slots:
                self._free.put_nowait(slot)
        return self._free

    async def _on_slot(self, method: str, *args: Any) -> Any:
        """Call ``slot.<method>(*args)`` on a free slot in the executor; cancellation
        interrupts the slot (its thread sees the process die and restarts it)."""
        free = self._queue()
        slot = await free.get()
        loop = asyncio.get_running_loop()
        self.busy += 1
        self.metrics.busy(self.busy)
        fut = loop.run_in_executor(self.executor, getattr(slot, method), *args)

        def release(_):
            self.busy -= 1
            self.metrics.busy(self.busy)
            free.put_nowait(slot)

        fut.add_done_callback(release)
        try:
            return slot.index, await asyncio.shield(fut)
        except asyncio.CancelledError:
            slot.interrupt()
            self._count({Status.CANCELLED.value: 1}, [], [0.0])
            raise

    def _stamp(
        self, results: list[SimResult], slot: int, requests: list[Request], batch: bool = False
    ) -> list[SimResult]:
        """Mark each result as run here for its request (``requests[i]``: result i's) and
        count them; ``batch``: the results are one batch request's (one latency)."""
        statuses: collections.Counter[str] = collections.Counter()
        for result, request in zip(results, requests):
            result.actor = self.name
            result.slot = slot
            request.stamp(result)
            statuses[str(result.status)] += 1
        elapsed = [r.elapsed for r in results]
        self._count(statuses, elapsed, [sum(elapsed)] if batch else elapsed)
        return results

    async def run(self, request: Request) -> SimResult | Unserved:
        """Run one request on a free slot (an :class:`Unserved` if its slot is down)."""
        try:
            slot, result = await self._on_slot("call", request)
        except SlotUnavailable as exc:
            return Unserved(str(exc), type(exc).__name__)
        return self._stamp([result], slot, [request])[0]

    async def run_many(
        self, requests: list[Request]
    ) -> list[SimResult | list[SimResult] | Unserved]:
        """Several requests in one call (the pool coalesces what is queued for this actor:
        single requests, batch requests, or both), run concurrently over the free slots,
        each contained: one that fails to run does not touch the others' results. While
        simulations are fast (< :data:`FAST_SIMULATION`), the single requests go to the
        slots in groups, one exchange per group: one vectorised call when the simulator
        has ``simulate_batch`` and no request a seed, else each request timed on its own
        (see :mod:`.slots`)."""
        singles = [i for i, r in enumerate(requests) if not r.batch]
        grouped = len(singles) > 1 and self._ewma_elapsed < FAST_SIMULATION
        jobs: list[tuple[list[int], Any]] = []
        for i, request in enumerate(requests):
            if request.batch or not grouped:
                jobs.append(([i], self._alone(request)))
        if grouped:
            for group in split_evenly(singles, len(self.slots)):
                jobs.append((group, self._run_group([requests[i] for i in group])))
        done = await asyncio.gather(*(job for _, job in jobs), return_exceptions=True)
        outcomes: list[Any] = [None] * len(requests)
        for (indices, _), outcome in zip(jobs, done):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                outcome = [Unserved(repr(outcome), type(outcome).__name__)] * len(indices)
            for i, one in zip(indices, outcome):
                outcomes[i] = one
        return outcomes

    async def _alone(self, request: Request) -> list[Any]:
        return [await (self.run_batch(request) if request.batch else self.run(request))]

    async def _run_group(self, requests: list[Request]) -> list[SimResult | Unserved]:
        """Single requests run one after another on one slot in one exchange."""
        try:
            slot, results = await self._on_slot("call_many", requests)
        except SlotUnavailable as exc:
            return [Unserved(str(exc), type(exc).__name__)] * len(requests)
        ran = [i for i, result in enumerate(results) if isinstance(result, SimResult)]
        self._stamp([results[i] for i in ran], slot, [requests[i] for i in ran])
        down = Unserved(f"slot {slot} went down before running it", "SlotUnavailable")
        alone = Unserved(
            f"slot {slot} went down running it in a vectorised group", "SlotUnavailable", True
        )
        return [down if r is None else alone if r == RUN_ALONE else r for r in results]

    async def run_batch(self, request: Request) -> list[SimResult] | Unserved:
        """One batch request on one slot in one exchange: the simulator's
        ``simulate_batch`` (one vectorised engine call for the embedded engine).
        The request's timeout covers the whole batch."""
        try:
            slot, results = await self._on_slot("call_batch", request)
        except SlotUnavailable as exc:
            return Unserved(str(exc), type(exc).__name__)
        return self._stamp(results, slot, [request] * len(results), batch=True)

    def _count(
        self, statuses: Mapping[str, int], elapsed: list[float], latencies: list[float]
    ) -> None:
        """Count runs by status; ``elapsed``: each run's wall time [s] (the running mean
        that decides grouping), ``latencies``: each request's (the histogram)."""
        for one in elapsed:
            if one > 0:
                self._ewma_elapsed = 0.9 * self._ewma_elapsed + 0.1 * one
        for status, count in statuses.items():
            self.runs += count
            self.by_status[status] = self.by_status.get(status, 0) + count
        self.metrics.record(statuses, latencies)

    async def ping(self) -> str:
        return self.name

    async def stats(self) -> dict[str, Any]:
        """Runs, failures by status, busy and total slots, restarts, scratch usage [bytes]."""
        usage = sum(p.stat().st_size for p in self.scratch.rglob("*") if p.is_file())
        return {
            "actor": self.name,
            "node": os.uname().nodename,
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "slots": len(self.slots),
            "busy": self.busy,
            "runs": self.runs,
            "by_status": dict(self.by_status),
            "failures": self.runs - self.by_status.get(Status.OK, 0),
            "restarts": sum(s.restarts for s in self.slots),
            "slot_pids": [s.pid for s in self.slots],
            "unhealthy_slots": [s.index for s in self.slots if not s.healthy],
            "scratch": str(self.scratch),
            "scratch_bytes": usage,
            "uptime": time.time() - self.started,
        }

    def close(self) -> None:
        """Stop the slots and remove the scratch directory (the actor stays)."""
        for slot in self.slots:
            slot.close()
        self.executor.shutdown(wait=False)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def shutdown(self) -> None:
        """Clean up and exit the actor process."""
        self.close()
        ray.actor.exit_actor()
