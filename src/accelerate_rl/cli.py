"""The ``accelerate-rl`` command.

    accelerate-rl simulate PROJECT [ele[n][v]=X ...] [--mode multiparticle] [--seed N]
    accelerate-rl scan PROJECT --param "ele[n][v]=start:stop:num" ... [--random N]
                       --out scan.parquet [--address auto] [--slots 2] [--max-actors N]
    accelerate-rl demo [--out runs/demo] [--points 41]

``scan`` runs on Ray: a local Ray on a laptop, an existing cluster with ``--address``
(``auto`` inside a cluster, or ``ray://...``). It writes a Parquet dataset incrementally
(one row per run with status and error columns) and resumes an interrupted scan.
``demo`` is the README's main job on the embedded engine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SIMULATORS = ("embedded", "tracewin")


def _params(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"accelerate-rl: {item!r} is not key=value")
        out[key] = value
    return out


def _simulator_options(args: argparse.Namespace) -> dict:
    if args.simulator == "tracewin":
        return {"executable": args.executable.split()}
    return {"mode": args.mode} if getattr(args, "mode", None) else {}


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulators import make_simulator

    params = _params(args.params)
    options = _simulator_options(args)
    if args.address:
        from .runtime import SimulationPool

        with SimulationPool(
            args.simulator,
            args.project,
            address=args.address,
            simulator_options=options,
            max_actors=1,
        ) as pool:
            result = pool.submit(params, seed=args.seed, timeout=args.timeout).result()
    else:
        sim = make_simulator(args.simulator, args.project, **options)
        check = getattr(sim, "validate", None)
        if check:
            check(params)
        result = sim.simulate(params, seed=args.seed, timeout=args.timeout)
    if args.json:
        print(json.dumps(result.to_row(), default=str))
    else:
        print(f"status: {result.status}" + (f" ({result.error})" if result.error else ""))
        for key, value in result.metrics.items():
            print(f"  {key:14s} {value:.6g}")
    return 0 if result.ok else 1


def _requests(args: argparse.Namespace):
    from .runtime import grid, parse_axis, random_points
    from .runtime.scan import grid_size

    axes = dict(parse_axis(p) for p in args.param)
    if not axes:
        raise SystemExit("accelerate-rl scan: give at least one --param KEY=start:stop:num")
    if args.random:
        bounds = {k: (float(v.min()), float(v.max())) for k, v in axes.items()}
        return random_points(bounds, args.random, args.seed), args.random
    return grid(axes), grid_size(axes)


def _cmd_scan(args: argparse.Namespace) -> int:
    from .runtime import SimulationPool, init_ray, run_scan, summarise

    requests, total = _requests(args)
    init_ray(address=args.address)
    t0 = time.perf_counter()
    with SimulationPool(
        args.simulator,
        args.project,
        slots=args.slots,
        max_actors=args.max_actors,
        timeout=args.timeout,
        simulator_options=_simulator_options(args),
    ) as pool:
        df = run_scan(
            pool,
            requests,
            args.out,
            resume=not args.no_resume,
            total=total,
            progress=not args.quiet,
        )
    elapsed = time.perf_counter() - t0
    _report(df, elapsed, args.out)
    print(summarise(df).to_string())
    return 0


def _report(df: pd.DataFrame, elapsed: float, out) -> None:
    from .simulators import Status

    ok = df[df["status"] == Status.OK]
    print(
        f"{len(df)} runs in {elapsed:.1f} s ({len(df) / max(elapsed, 1e-9):,.0f} runs/s)"
        + (f" -> {out}" if out else "")
    )
    cols = [c for c in ("SizeX", "SizeY", "x0", "y0", "transmission") if c in ok]
    if len(ok) and cols:
        print(ok[cols].describe().loc[["min", "50%", "max"]].to_string())


def _cmd_demo(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .engine.outputs import write_envelope, write_multiparticle
    from .engine.plot import plot_envelope
    from .engine.project import load_project
    from .examples import ADIGE_DEMO
    from .runtime import SimulationPool, grid, init_ray, run_scan, summarise

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    project = load_project(ADIGE_DEMO)
    engine = Engine(project.lattice, project.beam)
    b = project.beam
    print(
        f"project {project.path.name}: {len(engine.lattice)} elements, beam {b.energy} MeV, "
        f"charge {b.charge:g}, mass {b.mass:.1f} MeV"
    )
    env = engine.run()
    write_envelope(env, out)
    plot_envelope(env.table, out / "envelope.png", title="ADIGE-like demo beamline (envelope)")
    part = engine.run(mode="multiparticle", seed=1, plt_path=out / "dtl1.plt")
    write_multiparticle(part, out)
    for res in (env, part):
        s = res.summary
        print(
            f"  {res.mode:13s} final SizeX {s['SizeX']:.3f} mm, SizeY {s['SizeY']:.3f} mm, "
            f"ex {s['ex']:.4f} mm.mrad, transmission {s['transmission']:.4f}"
        )

    keys = ("ele[29][2]", "ele[31][2]")  # AD.1EQ.03, AD.1EQ.04 voltages [V]
    nominal = [engine.lattice.element(29).param(2), engine.lattice.element(31).param(2)]
    axes = {
        keys[0]: np.linspace(0.5, 1.5, args.points) * nominal[0],
        keys[1]: np.linspace(0.5, 1.5, args.points) * nominal[1],
    }
    init_ray(address=args.address)
    t0 = time.perf_counter()
    with SimulationPool("embedded", ADIGE_DEMO, slots=args.slots) as pool:
        df = run_scan(
            pool,
            grid(axes),
            out / "scan.parquet",
            resume=False,
            total=args.points**2,
            progress=not args.quiet,
        )
    elapsed = time.perf_counter() - t0
    df["spot"] = np.hypot(df["SizeX"], df["SizeY"])
    _report(df, elapsed, out / "scan.parquet")
    best = df.loc[df["spot"].idxmin()]
    print(
        f"  best spot {best['spot']:.3f} mm at {keys[0]}={best[keys[0]]:.0f} V, "
        f"{keys[1]}={best[keys[1]]:.0f} V (transmission {best['transmission']:.4f})"
    )
    print(summarise(df).to_string())
    print(
        f"outputs in {out}/: tracewin.out partran1.out Transfer_matrix1.dat dtl1.plt "
        "part_rfq.dst part_dtl1.dst envelope.png scan.parquet/"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accelerate-rl",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("project", help="TOML project or TraceWin .ini")
        p.add_argument("--simulator", choices=SIMULATORS, default="embedded")
        p.add_argument(
            "--executable", default="TraceWin", help="TraceWin command, e.g. 'xvfb-run -a TraceWin'"
        )
        p.add_argument("--mode", choices=("envelope", "multiparticle"), default=None)
        p.add_argument("--timeout", type=float, default=None, help="per run [s]")
        p.add_argument("--address", default=None, help="Ray address (default: a local Ray)")
        p.add_argument("--seed", type=int, default=None)

    sim = sub.add_parser("simulate", help="run one simulation")
    common(sim)
    sim.add_argument("params", nargs="*", help="ele[n][v]=X and TraceWin keys")
    sim.add_argument("--json", action="store_true", help="print the result as JSON")

    scan = sub.add_parser("scan", help="run a grid or random scan on Ray")
    common(scan)
    scan.add_argument(
        "--param",
        action="append",
        default=[],
        help="KEY=start:stop:num or KEY=v1,v2,... (repeat per knob)",
    )
    scan.add_argument(
        "--random",
        type=int,
        default=0,
        help="N random points within the --param ranges instead of a grid",
    )
    scan.add_argument("--out", type=Path, default=None, help="Parquet dataset folder")
    scan.add_argument("--no-resume", action="store_true", help="start over")
    scan.add_argument("--slots", type=int, default=1, help="simulator slots per actor")
    scan.add_argument("--max-actors", type=int, default=None)
    scan.add_argument("--quiet", action="store_true")

    demo = sub.add_parser("demo", help="the main job: the example beamline and a scan")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    demo.add_argument("--points", type=int, default=41, help="scan points per knob")
    demo.add_argument("--slots", type=int, default=1)
    demo.add_argument("--address", default=None)
    demo.add_argument("--quiet", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .tracewin.errors import InvalidParameterError, TraceWinFormatError

    try:
        if args.command == "simulate":
            return _cmd_simulate(args)
        if args.command == "scan":
            return _cmd_scan(args)
        return _cmd_demo(args)
    except (InvalidParameterError, TraceWinFormatError, FileNotFoundError, ValueError) as exc:
        print(f"accelerate-rl: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
