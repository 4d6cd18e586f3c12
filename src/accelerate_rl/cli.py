"""The ``accelerate-rl`` command.

    accelerate-rl demo [--out runs/demo] [--points 41]

``demo`` is the README's main job on the embedded engine: the example ADIGE-like
beamline run in envelope and multiparticle mode (TraceWin-format files and an envelope
plot), then a scan of the last quadrupole doublet's voltages evaluated in one batched
call, written to Parquet with one row per setting.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def _demo(out: Path, points: int) -> int:
    from .engine import Engine
    from .engine.outputs import write_envelope, write_multiparticle
    from .engine.plot import plot_envelope
    from .engine.project import load_project
    from .examples import ADIGE_DEMO

    out.mkdir(parents=True, exist_ok=True)
    project = load_project(ADIGE_DEMO)
    engine = Engine(project.lattice, project.beam)
    b = project.beam
    print(
        f"project {project.path.name}: {len(engine.lattice)} elements, beam "
        f"{b.energy} MeV, charge {b.charge:g}, mass {b.mass:.1f} MeV"
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
    v3, v4 = np.meshgrid(
        np.linspace(0.5, 1.5, points) * nominal[0],
        np.linspace(0.5, 1.5, points) * nominal[1],
        indexing="ij",
    )
    t0 = time.perf_counter()
    batch = engine.run_batch({keys[0]: v3.ravel(), keys[1]: v4.ravel()})
    elapsed = time.perf_counter() - t0
    df = batch.summary()
    df["status"] = np.where(df["transmission"] > 0.99, "ok", "losses")
    df["spot"] = np.hypot(df["SizeX"], df["SizeY"])
    path = out / "scan.parquet"
    df.to_parquet(path)
    best = df.loc[df["spot"].idxmin()]
    print(
        f"scan: {len(df)} settings of {keys[0]}, {keys[1]} in {elapsed * 1e3:.1f} ms "
        f"({len(df) / elapsed:,.0f} settings/s) -> {path}"
    )
    print(
        f"  best spot {best['spot']:.3f} mm at {keys[0]}={best[keys[0]]:.0f} V, "
        f"{keys[1]}={best[keys[1]]:.0f} V (transmission {best['transmission']:.4f})"
    )
    print(df.groupby("status").size().rename("runs").to_string())
    print(
        f"outputs in {out}/: tracewin.out partran1.out Transfer_matrix1.dat dtl1.plt "
        "part_rfq.dst part_dtl1.dst envelope.png scan.parquet"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="accelerate-rl",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job on the example beamline")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    demo.add_argument("--points", type=int, default=41, help="scan points per knob")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args.out, args.points)
    return 2


if __name__ == "__main__":
    sys.exit(main())
