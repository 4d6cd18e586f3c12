"""Whether the Ray cluster can place a pool's actors: a pool on licence slots
(``SimulationPool(..., resources_per_slot={"tracewin_licence": 1})``) started on a Ray that
has no such resource would otherwise wait, silently, until its start timeout (600 s).

``SimulationPool`` requests its first actor (so an autoscaler sees the demand), then
:func:`require_actor_resources` returns as soon as that actor started, a live node holds
one actor's resources, or an autoscaler may add such nodes (the actor then waits pending:
that is the autoscaler's cue); otherwise, after ``resource_wait`` seconds (a licence host
started by hand may join meanwhile), it raises :class:`MissingResources` naming the
resource, what the cluster has, and how to give it the resource.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping

#: Seconds to wait for a node with a pool actor's resources to join a fixed cluster.
RESOURCE_WAIT = 20.0
#: What KubeRay sets in every Ray container it starts (Ray's usage stats read it too).
KUBERAY_ENV = "RAY_USAGE_STATS_KUBERAY_IN_USE"


class MissingResources(RuntimeError):
    """No node of the cluster can hold a simulation pool's actor, and none will join."""


def _fits(node: Mapping[str, float], need: Mapping[str, float]) -> bool:
    return all(node.get(key, 0.0) >= amount for key, amount in need.items())


def _nodes_hold(need: Mapping[str, float]) -> bool:
    import ray

    return any(n["Alive"] and _fits(n["Resources"], need) for n in ray.nodes())


def autoscaled(resources: Mapping[str, float]) -> bool:
    """Whether an autoscaler may add nodes holding ``resources``: the driver runs in a
    KubeRay pod (``RAY_USAGE_STATS_KUBERAY_IN_USE=1``; its in-tree autoscaler adds a
    worker group's nodes on pending actors), Ray's autoscaler published a cluster config
    whose node groups hold every one of them, or Ray's classic autoscaler (``ray up``)
    reports configured node types in the monitor's status."""
    if os.environ.get(KUBERAY_ENV) == "1":
        return True
    try:
        from ray._private.state import state

        limits = state.get_max_resources_from_cluster_config() or {}
    except Exception:  # no config published (a cluster without an autoscaler)
        limits = {}
    if resources and all(limits.get(k, 0) >= v for k, v in resources.items()):
        return True
    try:
        from ray._private.ray_constants import DEBUG_AUTOSCALING_STATUS
        from ray.experimental.internal_kv import _internal_kv_get

        status = json.loads(_internal_kv_get(DEBUG_AUTOSCALING_STATUS) or b"{}")
        types = (status.get("autoscaler_report") or {}).get("node_type_mapping") or {}
    except Exception:  # not connected, or Ray moved the key
        return False
    # every head's monitor reports; without an autoscaling config (a local Ray, `ray
    # start`) its read-only provider names each node's type after the node ("node_<id>")
    return any(kind != f"node_{node}" for node, kind in types.items())


def _cluster_summary() -> str:
    import ray

    total = ray.cluster_resources()
    shown = {
        k: v
        for k, v in sorted(total.items())
        if not k.startswith("node:") and k not in ("memory", "object_store_memory")
    }
    return ", ".join(f"{k}: {v:g}" for k, v in shown.items()) or "nothing"


def require_actor_resources(
    resources_per_slot: Mapping[str, float] | None,
    slots: int,
    wait: float = RESOURCE_WAIT,
    started: Callable[[], bool] = lambda: False,
) -> None:
    """Return when ``started()`` (the pool's first actor is up), a live node holds one
    actor's custom resources (``resources_per_slot`` x ``slots``) or an autoscaler may add
    one; checked every second for ``wait`` seconds [s], then :class:`MissingResources`."""
    need = {k: float(v) * slots for k, v in (resources_per_slot or {}).items() if v > 0}
    if not need:
        return
    deadline = time.monotonic() + wait
    while not (started() or _nodes_hold(need) or autoscaled(need)):
        left = deadline - time.monotonic()
        if left <= 0:
            example = {k: max(4, int(v)) for k, v in need.items()}
            raise MissingResources(
                f"the simulation pool's actors need {need} each ({slots} slot(s) x "
                f"{dict(resources_per_slot or {})}) and no node of this Ray cluster has "
                f"them (waited {wait:g} s; the cluster has {_cluster_summary()}). Start Ray "
                f"with the resource, e.g. `ray start --head --resources "
                f"'{json.dumps(example)}'` or ray.init(resources={example}), one unit per "
                "licence you own; or run on KubeRay's tracewin worker group "
                "(cluster/rayjob-train-tracewin.yaml), whose autoscaler adds licence nodes"
            )
        time.sleep(min(1.0, left))
