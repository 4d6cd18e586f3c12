"""Run HELIX (Fermilab's ``linac_gen``, GPL) as a peer of ``bench_engine.py``'s mesh section.

This script is run by the benchmark in a separate process with an interpreter that has
``linac_gen`` installed (``ARL_HELIX_PYTHON``, see ``bench_engine.py``); nothing of the
package imports it and HELIX is never a dependency. It tracks a given TraceWin
distribution (``.dst``) through a TraceWin lattice (``.dat``) with HELIX's
multiparticle tracker and its 3D PIC space charge, writes HELIX's final distribution
(surviving particles) as a ``.dst`` and prints one JSON line: wall and CPU time [s] of
the tracking (lattice parsing and beam loading excluded), HELIX's version, whether its
C++ kernels were built, and the settings used.

Phases: TraceWin reads a ``FIELD_MAP`` phase with P = 0 as the RF phase when the
reference particle enters the map; HELIX 1.9 adds to it the reference's phase
accumulated since the start of the line (on the 33 m prefix it ends at 19.8 MeV instead
of 34.1). So, unless ``--helix-phases``, an element-entry hook (HELIX's public
``Simulation(element_entry_hook=)``) sets each such map's phase to the file's minus the
reference's accumulated phase at its entry: HELIX then sees TraceWin's phases (its
reference ends within 1e-5 of ours).

    python experiments/helix_peer.py LATTICE.dat INPUT.dst OUTPUT.dst [--mesh 32]
        [--kicks-per-m 100] [--grid-mode fixed|adaptive] [--current 5] [--freq 100]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("lattice")
    ap.add_argument("initial")
    ap.add_argument("final")
    ap.add_argument("--mesh", type=int, default=32, help="PIC nodes per axis")
    ap.add_argument("--kicks-per-m", type=float, default=100.0, help="space-charge kicks / m")
    ap.add_argument("--grid-mode", choices=("fixed", "adaptive"), default="fixed")
    ap.add_argument("--current", type=float, required=True, help="beam current [mA]")
    ap.add_argument("--freq", type=float, required=True, help="bunch frequency [MHz]")
    ap.add_argument("--helix-phases", action="store_true", help="keep HELIX's own reading of P = 0")
    args = ap.parse_args()

    import linac_gen
    from linac_gen.cli import common
    from linac_gen.core.config import BeamConfig, SpaceChargeConfig
    from linac_gen.core.simulation import Simulation
    from linac_gen.core.step_config import StepConfig
    from linac_gen.distributions.factory import create_beam
    from linac_gen.elements.field_map import FieldMap

    lattice = common.load_lattice(args.lattice)
    cfg = BeamConfig(
        current=args.current,
        frequency=args.freq,
        source="file",
        distribution_file=args.initial,
    )
    step = StepConfig(sc_steps_per_metre=args.kicks_per_m)
    lattice.step_config = step
    sc = SpaceChargeConfig(
        nx=args.mesh, ny=args.mesh, nz=args.mesh, grid_mode=args.grid_mode, use_gpu="cpu"
    )
    beam = create_beam(cfg, seed=1)
    n0 = int(beam.n_alive)
    entry_phases = {
        id(e): e.phase for e in lattice.elements if isinstance(e, FieldMap) and e.p_flag == 0
    }

    def tracewin_phase(element, _index: int, beam) -> None:
        if id(element) in entry_phases:  # deg, at the map's entry (see the docstring)
            element.phase = entry_phases[id(element)] - beam.ref.phi_s

    hook = None if args.helix_phases else tracewin_phase
    sim = Simulation(
        lattice, beam, space_charge=sc if args.current > 0 else "off", element_entry_hook=hook
    )
    t0, c0 = time.perf_counter(), time.process_time()
    sim.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    common.write_final_dst(beam, args.final)
    print(
        json.dumps(
            {
                "version": getattr(linac_gen, "__version__", "unknown"),
                "cpp_kernels": common.cpp_kernels_built(),
                "s": wall,
                "cpu_s": cpu,
                "transmission": int(beam.n_alive) / n0,
                "final_energy_mev": float(beam.ref.w_kin),
                "settings": {
                    "mesh": [args.mesh] * 3,
                    "kicks_per_m": args.kicks_per_m,
                    "integration_steps_per_m": step.integration_steps_per_metre,
                    "grid_mode": args.grid_mode,
                    "grid_extent_sigma": sc.grid_extent,
                    "green_kind": sc.green_kind,
                    "deposition": sc.kernel,
                    "phases": "helix" if args.helix_phases else "tracewin (entry hook)",
                },
            }
        )
    )


if __name__ == "__main__":
    main()
