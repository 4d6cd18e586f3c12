"""RL against classical tuning on the hard task (``hard_task()``), on the design model and
on the mismatched machine (multiparticle with space charge, +-2 % quadrupole gradient
errors, a 1.5x wider incoming beam), every method unchanged between the two.

Every method runs the same seeded episodes (trial i: seed ``--seed + i``, disjoint from
the training seeds) on the same env and backend (in-process, or ``--service``: every
simulation a request to a SimulationPool) with the same move limits and step budget,
and is counted the same way: steps (machine measurements after the reset, probes
included), simulations (with the reset), model runs of the design-model inverse apart.

    python experiments/compare_tuning.py --policy ppo=experiments/policies/hard_ppo.pt \
        --trials 300 --mismatched-trials 50 --out experiments/results/compare_tuning.json

A run cut short by ``--minutes`` is continued by another with ``--first`` (its first
trial: where the earlier one ended) and the two ``--merge``d into one row (success rate
and means over all trials; medians None, as no row keeps per-trial values).

Prints one JSON object: per machine and method, success rate, mean / median steps to
success, mean simulations per trial, final error (largest |error| / tolerance over the
targets at the end; <= 1 is in tolerance), magnet travel (knob path length in units of
each knob's range, summed over knobs), wall time, and the up-front cost (training
simulations and wall time, from the policy's ``.json`` beside its file).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from accelerate_rl.rl.hard_task import HardTuningEnv, base_task, hard_task
from accelerate_rl.rl.policy_file import load_policy
from accelerate_rl.tune.baselines import CONTROLLERS, Machine, PolicyController, Trial, run_trial

#: Methods whose trials cost seconds each (GP fits): run on ``--expensive-trials``.
EXPENSIVE = ("bayes-opt", "bayes-opt-xopt")


def summarise(trials: list[Trial], seconds: float) -> dict[str, Any]:
    ok = np.array([t.success for t in trials])
    steps = np.array([t.steps for t in trials])
    final = np.array([t.final_error for t in trials])
    return {
        "trials": len(trials),
        "success_rate": float(ok.mean()),
        "steps_mean_success": float(steps[ok].mean()) if ok.any() else None,
        "steps_median_success": float(np.median(steps[ok])) if ok.any() else None,
        "simulations_mean": float(np.mean([t.simulations for t in trials])),
        "final_error_mean": float(final.mean()),
        "final_error_median": float(np.median(final)),
        "travel_mean": float(np.mean([t.travel for t in trials])),
        "model_simulations_mean": float(np.mean([t.model_simulations for t in trials])),
        "seconds": round(seconds, 1),
    }


def run_method(
    controller,
    task: dict,
    trials: int,
    seed: int,
    minutes: float | None = None,
    first: int = 0,
) -> dict[str, Any]:
    """Trials ``first``, ``first + 1``, ... ``trials - 1`` of ``controller`` (trial i:
    seed ``seed + i``), or as many as finish within ``minutes`` of wall time (the count
    and the first trial are in the row)."""
    machine = Machine(HardTuningEnv(task))
    t0 = time.perf_counter()
    stop = None if minutes is None else t0 + 60 * minutes
    results = []
    for i in range(first, trials):
        if stop is not None and results and time.perf_counter() > stop:
            break
        results.append(run_trial(controller, machine, seed + i))
    return {**summarise(results, time.perf_counter() - t0), "first": first}


def _upfront(path: Path) -> dict[str, Any]:
    meta = path.with_suffix(".json")
    if not meta.is_file():
        return {"training_simulations": None, "training_seconds": None}
    info = json.loads(meta.read_text())
    return {
        "training_simulations": info.get("env_steps"),
        "training_seconds": info.get("seconds"),
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as the README's table (one row per machine and method)."""

    def num(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| machine | method | trials | success | steps to success (mean / median) "
        "| simulations per trial | final error (mean / median) | magnet travel "
        "| up-front cost |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for machine, rows in report["machines"].items():
        for name, r in rows.items():
            sims, secs = r.get("training_simulations"), r.get("training_seconds")
            cost = "none" if not sims else f"{sims:,} simulations, {secs / 60:.0f} min"
            if r.get("model_simulations_mean"):
                cost += f" ({r['model_simulations_mean']:.0f} design-model runs a trial)"
            shown = f"{name} (service)" if r.get("backend") == "service" else name
            lines.append(
                f"| {machine} | {shown} | {r['trials']} | {100 * r['success_rate']:.1f} % "
                f"| {num(r['steps_mean_success'])} / {num(r['steps_median_success'], 0)} "
                f"| {r['simulations_mean']:.1f} | {r['final_error_mean']:.2f} / "
                f"{num(r['final_error_median'], 2)} | {r['travel_mean']:.2f} | {cost} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--methods", default=",".join(CONTROLLERS), help="classical, comma-separated")
    ap.add_argument("--policy", action="append", default=[], help="NAME=PATH (file or checkpoint)")
    ap.add_argument("--trials", type=int, default=300, help="per method, design model")
    ap.add_argument("--expensive-trials", type=int, default=100, help=f"for {EXPENSIVE}")
    ap.add_argument("--mismatched-trials", type=int, default=50)
    ap.add_argument("--machines", default="design,mismatched", help="comma-separated")
    ap.add_argument(
        "--minutes", type=float, default=None, help="wall time per method and machine at most"
    )
    ap.add_argument("--seed", type=int, default=5_000_000, help="trial i uses seed + i")
    ap.add_argument(
        "--first", type=int, default=0, help="start at trial FIRST (continue a run: --merge)"
    )
    ap.add_argument("--service", default=None, help="run every simulation on this new service")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument(
        "--update", action="store_true", help="merge the new rows into an existing --out"
    )
    ap.add_argument("--markdown", type=Path, default=None, help="print the table of this JSON")
    ap.add_argument(
        "--merge", type=Path, nargs="+", default=None, help="merge these runs' JSON into --out"
    )
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return {}
    if args.merge:
        return _write(merged([json.loads(p.read_text()) for p in args.merge]), args.out)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(CONTROLLERS))
    if unknown:
        ap.error(f"unknown method(s) {unknown}; choose from {list(CONTROLLERS)}")
    policies = {}
    for spec in args.policy:
        name, sep, path = spec.partition("=")
        if not sep:
            ap.error(f"--policy {spec!r}: use NAME=PATH")
        policies[name] = Path(path)
    chosen = [m.strip() for m in args.machines.split(",") if m.strip()]
    if not set(chosen) <= {"design", "mismatched"}:
        ap.error(f"--machines {args.machines!r}: choose from design, mismatched")
    machines = {m: hard_task(m) for m in chosen}
    pool = None
    if args.service:
        from accelerate_rl.rl.backends import start_service
        from accelerate_rl.runtime import init_ray

        init_ray()
        pool = start_service(base_task(hard_task()), name=args.service)
        machines = {k: {**v, "backend": {"service": args.service}} for k, v in machines.items()}
    report: dict[str, Any] = {
        "seed": args.seed,
        "backend": "service" if pool else "inprocess",
        "machines": {},
    }
    try:
        for machine, task in machines.items():
            rows = {}
            for name, path in policies.items():
                n = args.trials if machine == "design" else args.mismatched_trials
                rows[name] = {
                    **run_method(
                        PolicyController(load_policy(path)),
                        task,
                        n,
                        args.seed,
                        args.minutes,
                        args.first,
                    ),
                    **_upfront(path),
                    "policy": str(path),
                    "backend": report["backend"],
                }
                print(json.dumps({machine: {name: rows[name]}}), flush=True)
            for name in methods:
                n = args.trials if name not in EXPENSIVE else args.expensive_trials
                n = n if machine == "design" else min(n, args.mismatched_trials)
                rows[name] = {
                    **run_method(
                        CONTROLLERS[name](task), task, n, args.seed, args.minutes, args.first
                    ),
                    "training_simulations": 0,
                    "training_seconds": 0,
                    "backend": report["backend"],
                }
                print(json.dumps({machine: {name: rows[name]}}), flush=True)
            report["machines"][machine] = rows
    finally:
        if pool is not None:
            pool.shutdown()
    if args.update and args.out and args.out.is_file():
        report = merged([json.loads(args.out.read_text()), report])
    return _write(report, args.out)


def merged(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs (e.g. methods run in parallel) as one report: later rows replace earlier ones
    of the same machine and method, except a row that starts where the earlier one ended
    (``--first``), which continues it (:func:`continued`); every row keeps its own
    ``backend``."""
    out: dict[str, Any] = {"seed": reports[0]["seed"], "machines": {}}
    for report in reports:
        if report["seed"] != out["seed"]:
            raise SystemExit(f"cannot merge runs of seeds {out['seed']} and {report['seed']}")
        for machine, rows in report["machines"].items():
            for name, row in rows.items():
                row.setdefault("backend", report.get("backend"))
                earlier = out["machines"].setdefault(machine, {}).get(name)
                if earlier and row.get("first", 0) == earlier.get("first", 0) + earlier["trials"]:
                    row = continued(earlier, row)
                out["machines"][machine][name] = row
        out["notes"] = report.get("notes", out.get("notes", []))
    return out


def continued(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """One row over both runs' trials (``later`` starts where ``earlier`` ended): the
    success rate and means weighted by trial (steps by success) counts, wall times added;
    the medians are unknown (a row keeps no per-trial values), so they are None."""
    n1, n2 = earlier["trials"], later["trials"]
    ok1, ok2 = n1 * earlier["success_rate"], n2 * later["success_rate"]
    row = {**later, "trials": n1 + n2, "first": earlier.get("first", 0)}
    row["success_rate"] = (ok1 + ok2) / (n1 + n2)
    for key in ("simulations_mean", "final_error_mean", "travel_mean", "model_simulations_mean"):
        row[key] = (n1 * earlier[key] + n2 * later[key]) / (n1 + n2)
    steps = [(ok, r["steps_mean_success"]) for ok, r in ((ok1, earlier), (ok2, later)) if ok]
    row["steps_mean_success"] = (
        sum(ok * s for ok, s in steps) / sum(ok for ok, _ in steps) if steps else None
    )
    row["steps_median_success"] = row["final_error_median"] = None
    row["seconds"] = round(earlier["seconds"] + later["seconds"], 1)
    return row


def _write(report: dict[str, Any], out: Path | None) -> dict[str, Any]:
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report), flush=True)
    return report


if __name__ == "__main__":
    main()
