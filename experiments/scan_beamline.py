"""A scan of the example beamline (or your project) on a Ray cluster.

Entrypoint for ``ray job submit`` (and the RayJob in ``cluster/rayjob-scan.yaml``):

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python experiments/scan_beamline.py --points 41 --out /data/scan.parquet

Inside a job it joins the cluster (``RAY_ADDRESS``); run directly, it starts a local Ray.
Prints a JSON summary (runs, status counts, runs/s, best setting) at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import ray

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.runtime import SimulationPool, grid, init_ray, run_scan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--project", type=Path, default=ADIGE_DEMO)
    ap.add_argument(
        "--knob",
        action="append",
        default=None,
        help="KEY=start:stop:num (default: the last quadrupole doublet)",
    )
    ap.add_argument("--points", type=int, default=41, help="points per default knob")
    ap.add_argument("--out", type=Path, default=Path("/tmp/accelerate-rl/scan.parquet"))
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--max-actors", type=int, default=None)
    ap.add_argument(
        "--slot-resource",
        default=None,
        help="custom resource each slot takes, e.g. sim_slot (KubeRay workers)",
    )
    args = ap.parse_args()

    from accelerate_rl.runtime import parse_axis

    if args.knob:
        axes = dict(parse_axis(k) for k in args.knob)
    else:
        axes = {
            "ele[29][2]": np.linspace(1400, 4300, args.points),
            "ele[31][2]": np.linspace(-5000, -1700, args.points),
        }
    init_ray()
    resources = {args.slot_resource: 1} if args.slot_resource else None
    t0 = time.perf_counter()
    with SimulationPool(
        "embedded",
        args.project,
        slots=args.slots,
        max_actors=args.max_actors,
        resources_per_slot=resources,
    ) as pool:
        df = run_scan(pool, grid(axes), args.out, progress=False)
    elapsed = time.perf_counter() - t0
    ok = df[df["status"] == "ok"]
    best = ok.loc[np.hypot(ok["SizeX"], ok["SizeY"]).idxmin()] if len(ok) else None
    summary = {
        "runs": len(df),
        "status": df["status"].value_counts().to_dict(),
        "seconds": round(elapsed, 2),
        "runs_per_s": round(len(df) / elapsed, 1),
        "out": str(args.out),
        "best": None if best is None else {k: float(best[k]) for k in [*axes, "SizeX", "SizeY"]},
        "nodes": len(ray.nodes()),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
