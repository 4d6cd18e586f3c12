"""Futures the pool hands out: a bounded window over a lazy stream of them (how
``SimulationPool.map`` keeps memory flat whatever the number of requests), a future
joining several batch parts, and an already-resolved one."""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def windowed(futures: Iterable[Future], window: int, ordered: bool) -> Iterator[Future]:
    """The futures of ``futures`` once done, in order (``ordered``) or as they complete,
    with at most ``window`` outstanding: the next one is pulled from the (lazy) iterable
    only when there is room. Unordered, each future reports itself done through a queue
    (O(1) per completion, however wide the window)."""
    window = max(1, window)
    if ordered:
        live: collections.deque[Future] = collections.deque()
        for fut in futures:
            if len(live) >= window:
                yield live.popleft()
            live.append(fut)
        yield from live
        return
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
    outstanding = 0
    for fut in futures:
        if outstanding >= window:
            yield finished.get()
            outstanding -= 1
        fut.add_done_callback(finished.put)
        outstanding += 1
    for _ in range(outstanding):
        yield finished.get()


def done(value: Any) -> Future:
    """A future already holding ``value``."""
    fut: Future = Future()
    fut.set_result(value)
    return fut


class _Joined(Future):
    """A future of several parts: waiting on it waits on each part (so a part that
    finishes itself in the waiting thread does)."""

    def __init__(self, parts: Sequence[Future]) -> None:
        super().__init__()
        self.parts = parts

    def result(self, timeout: float | None = None) -> Any:
        end = None if timeout is None else time.monotonic() + timeout
        for part in self.parts:
            left = None if end is None else max(0.0, end - time.monotonic())
            try:
                part.result(left)
            except BaseException:  # the joined future reports it
                break
        return super().result(None if end is None else max(0.0, end - time.monotonic()))


def joined(parts: Sequence[Future]) -> Future:
    """A future of the concatenated lists of ``parts`` (in order), set when the last part
    is done; the first part's exception if one raised. It cannot be cancelled (its
    parts run on their own)."""
    out: Future = _Joined(parts)
    out.set_running_or_notify_cancel()
    left = [len(parts)]
    lock = threading.Lock()

    def one_done(_: Future) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        try:
            out.set_result([r for part in parts for r in part.result()])
        except BaseException as exc:
            out.set_exception(exc)

    for part in parts:
        part.add_done_callback(one_done)
    return out


def split_evenly(items: list[T], parts: int) -> list[list[T]]:
    """``items`` cut into ``parts`` contiguous chunks (at most len(items)) whose sizes
    differ by one at most."""
    parts = max(1, min(int(parts), len(items)))
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        chunks.append(items[start:end])
        start = end
    return chunks
