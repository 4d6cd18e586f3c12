"""Ray metrics (Ray dashboard / Prometheus): requests by status, latency, in-flight,
queue depth, slot utilisation. Metric names start with ``accelerate_rl_``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

LATENCY_BOUNDARIES = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300]


def _metrics():
    try:
        from ray.util import metrics
    except ImportError:  # pragma: no cover
        return None
    return metrics


class ActorMetrics:
    """Per-actor metrics: requests by status, latency histogram, busy slots."""

    def __init__(self, actor: str, slots: int) -> None:
        m = _metrics()
        self.tags = {"actor": actor}
        self.enabled = m is not None
        if not self.enabled:
            return
        self.requests = m.Counter(
            "accelerate_rl_requests_total",
            "simulation requests by final status",
            tag_keys=("actor", "status"),
        )
        self.latency = m.Histogram(
            "accelerate_rl_request_seconds",
            "simulation wall time per request [s]",
            boundaries=LATENCY_BOUNDARIES,
            tag_keys=("actor",),
        )
        self.busy_slots = m.Gauge(
            "accelerate_rl_busy_slots", "slots running a simulation", tag_keys=("actor",)
        )
        self.slots = m.Gauge("accelerate_rl_slots", "simulator slots", tag_keys=("actor",))
        self.slots.set(slots, tags=self.tags)

    def record(self, statuses: Mapping[str, int], latencies: Iterable[float]) -> None:
        """Count finished runs by status (one increment per status) and observe each
        request's wall time [s] (a batch request is one)."""
        if self.enabled:
            for status, count in statuses.items():
                self.requests.inc(count, tags={**self.tags, "status": status})
            for elapsed in latencies:
                self.latency.observe(max(elapsed, 0.0), tags=self.tags)

    def busy(self, n: int) -> None:
        if self.enabled:
            self.busy_slots.set(n, tags=self.tags)


class PoolMetrics:
    """Driver-side pool metrics: in-flight requests and queue depth."""

    def __init__(self, pool: str) -> None:
        m = _metrics()
        self.tags = {"pool": pool}
        self.enabled = m is not None
        if not self.enabled:
            return
        try:
            self.in_flight = m.Gauge(
                "accelerate_rl_in_flight", "requests dispatched to actors", tag_keys=("pool",)
            )
            self.queue = m.Gauge(
                "accelerate_rl_queue_depth", "requests waiting for a slot", tag_keys=("pool",)
            )
        except Exception:  # pragma: no cover - metrics unavailable in this process
            self.enabled = False

    def update(self, in_flight: int, queued: int) -> None:
        if self.enabled:
            try:
                self.in_flight.set(in_flight, tags=self.tags)
                self.queue.set(queued, tags=self.tags)
            except Exception:  # pragma: no cover
                self.enabled = False
