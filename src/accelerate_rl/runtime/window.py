"""A bounded window over a lazy stream of futures (how ``SimulationPool.map`` keeps
memory flat whatever the number of requests)."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_futures


def windowed(futures: Iterable[Future], window: int, ordered: bool) -> Iterator[Future]:
    """The futures of ``futures`` once done, in order (``ordered``) or as they complete,
    with at most ``window`` outstanding: the next one is pulled from the (lazy) iterable
    only when there is room."""
    live: collections.deque[Future] = collections.deque()

    def drain(limit: int) -> Iterator[Future]:
        while len(live) >= limit and live:
            if ordered:
                yield live.popleft()
                continue
            done, _ = wait_futures(live, return_when=FIRST_COMPLETED)
            for fut in done:
                live.remove(fut)
                yield fut

    for fut in futures:
        yield from drain(max(1, window))
        live.append(fut)
    yield from drain(1)
