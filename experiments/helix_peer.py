"""Run HELIX (Fermilab's ``linac_gen``, GPL) as a peer of ``bench_engine.py``'s mesh section.

This script is run by the benchmark in a separate process with an interpreter that has
``linac_gen`` installed (``ARL_HELIX_PYTHON``, see ``bench_engine.py``); nothing of the
package imports it and HELIX is never a dependency. It tracks a given TraceWin
distribution (``.dst``) through a TraceWin lattice (``.dat``) with HELIX's
multiparticle tracker and its 3D PIC space charge (``--current 0``: none), writes
HELIX's final distribution (surviving particles) as a ``.dst`` and prints one JSON
line: wall and CPU time [s] of the tracking (lattice parsing and beam loading
excluded), HELIX's version, whether its C++ kernels were built, and the settings used.

Phases: TraceWin reads a ``FIELD_MAP`` phase with P = 0 as the RF phase when the
reference particle enters the map; HELIX 1.9 adds to it the reference's phase
accumulated since the start of the line (on the 33 m prefix it ends at 19.8 MeV instead
of 34.1). So, unless ``--helix-phases``, an element-entry hook (HELIX's public
``Simulation(element_entry_hook=)``) sets each such map's phase to the file's minus the
reference's accumulated phase at its entry: HELIX then sees TraceWin's phases (its
reference ends within 1e-5 of ours).

Fields of 1D RF maps (``--fields``): off the axis TraceWin's 1D map (geometry 100) has
the paraxial fields Er = -(r/2) dEz/dz and B theta = (r / 2c^2) dEz/dt (without B theta
our engine's cavity matrix on TraceWin's spoke run is 3.4 % off TraceWin's R21 and its
envelope 1.5 %; with it within 1e-4). HELIX 1.9 applies Er only (its design notes
defer B theta, believing TraceWin uses it only for negative geometries), so its RF
defocusing is gamma^2 times too strong (4-7 % on the prefix). ``--fields 1d`` (the
default) runs the lattice as given; ``--fields 3d`` first rewrites every ``FIELD_MAP
100`` as a ``FIELD_MAP 7700`` of the same map's first-order fields (Ez, Er, B theta, on
a 3D grid: they are linear in x and y, so HELIX's trilinear interpolation is exact
across; along z the nodes and the centred-difference slope are HELIX's 1D ones), kb =
ke. HELIX tracks a 3D map with the same kick-drift slices as a 1D one, so only the
missing field changes.

    python experiments/helix_peer.py LATTICE.dat INPUT.dst OUTPUT.dst [--mesh 32]
        [--kicks-per-m 100] [--grid-mode fixed|adaptive|extent] [--current 5] [--freq 100]
        [--fields 1d|3d] [--helix-phases] [--history HISTORY.json]

Grids (``--grid-mode``): HELIX's ``fixed`` (5 rms sizes about the centre of the beam at
the first kick, kept for the whole line; particles outside are deposited on its faces)
and ``adaptive`` (the same fitted at every kick) are HELIX's own; ``extent`` gives HELIX
our mesh's grid through ``Simulation(pic_setup_hook=)`` (public), whose hook here
replaces private attributes of HELIX 1.9.0's solver (``_setup_grid``, ``_grid_min``,
``_grid_max``, ``_n_grid``, ``_solver``; refused on another version): at every kick the
nodes cover every particle with one empty cell on each side (cell = extent / (n - 3),
centred on the extent), as ``MeshSolver(reuse=0)``, so the two solvers see the same
nodes and only their implementations differ (HELIX's deposition, integrated Green's
function and gathers run unchanged on them).

``--history`` writes HELIX's rms sizes after every element (s [m], sigma_x, sigma_y,
sigma_z [mm], sigma_z from its sigma_phi at the local beta and RF wavelength) as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

#: Speed of light [m/s].
C_LIGHT = 299_792_458.0
#: Geometry of an RF electric 1D map (TraceWin's FIELD_MAP code).
RF_E_1D = 100


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("lattice")
    ap.add_argument("initial")
    ap.add_argument("final")
    ap.add_argument("--mesh", type=int, default=32, help="PIC nodes per axis")
    ap.add_argument("--kicks-per-m", type=float, default=100.0, help="space-charge kicks / m")
    ap.add_argument("--grid-mode", choices=("fixed", "adaptive", "extent"), default="fixed")
    ap.add_argument("--current", type=float, required=True, help="beam current [mA]; 0: no SC")
    ap.add_argument("--freq", type=float, required=True, help="bunch frequency [MHz]")
    ap.add_argument("--helix-phases", action="store_true", help="keep HELIX's own reading of P = 0")
    ap.add_argument(
        "--fields",
        choices=("1d", "3d"),
        default="1d",
        help="1d: the lattice's 1D RF maps as HELIX reads them (no B theta); 3d: the same "
        "maps' paraxial fields with B theta, as 3D maps (module docstring)",
    )
    ap.add_argument("--history", help="write the rms sizes after every element here (JSON)")
    args = ap.parse_args()

    import linac_gen
    from linac_gen.cli import common
    from linac_gen.core.config import BeamConfig, SpaceChargeConfig
    from linac_gen.core.simulation import Simulation
    from linac_gen.core.step_config import StepConfig
    from linac_gen.distributions.factory import create_beam
    from linac_gen.elements.field_map import FieldMap
    from linac_gen.elements.field_map_3d import FieldMap3D

    lattice_path, converted = Path(args.lattice), 0
    if args.fields == "3d":
        lattice_path, converted = with_3d_rf_maps(lattice_path)
    lattice = common.load_lattice(str(lattice_path))
    maps_3d = sum(isinstance(e, FieldMap3D) for e in lattice.elements)
    if maps_3d != converted:  # HELIX drops a FIELD_MAP whose files it cannot read
        raise SystemExit(f"{lattice_path}: HELIX built {maps_3d} 3D maps of {converted}")
    cfg = BeamConfig(
        current=args.current,
        frequency=args.freq,
        source="file",
        distribution_file=args.initial,
    )
    step = StepConfig(sc_steps_per_metre=args.kicks_per_m)
    lattice.step_config = step
    sc = SpaceChargeConfig(
        nx=args.mesh,
        ny=args.mesh,
        nz=args.mesh,
        grid_mode="adaptive" if args.grid_mode == "extent" else args.grid_mode,
        use_gpu="cpu",
    )
    beam = create_beam(cfg, seed=1)
    n0 = int(beam.n_alive)
    entry_phases = {
        id(e): e.phase
        for e in lattice.elements
        if isinstance(e, (FieldMap, FieldMap3D)) and e.p_flag == 0
    }

    def tracewin_phase(element, _index: int, beam) -> None:
        if id(element) in entry_phases:  # deg, at the map's entry (see the docstring)
            element.phase = entry_phases[id(element)] - beam.ref.phi_s

    hook = None if args.helix_phases else tracewin_phase
    sim = Simulation(
        lattice,
        beam,
        space_charge=sc if args.current > 0 else "off",
        element_entry_hook=hook,
        pic_setup_hook=extent_grid if args.grid_mode == "extent" else None,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    record = sim.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    common.write_final_dst(beam, args.final)
    if args.history:
        Path(args.history).write_text(json.dumps(size_history(record)))
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
                    "grid_extent_sigma": None if args.grid_mode == "extent" else sc.grid_extent,
                    "green_kind": sc.green_kind,
                    "deposition": sc.kernel,
                    "space_charge": args.current > 0,
                    "phases": "helix" if args.helix_phases else "tracewin (entry hook)",
                    "rf_1d_maps": (
                        "as 3D maps with B theta (FIELD_MAP 7700)"
                        if args.fields == "3d"
                        else "HELIX's 1D reading (Er only)"
                    ),
                },
            }
        )
    )


def extent_grid(pic) -> None:
    """Make HELIX's PIC solver ``pic`` fit our mesh's grid at every kick (module
    docstring): nodes ``origin + i h`` [mm, rest frame], h = (max - min) / (n - 3) per
    axis, the extent centred; a solver built at the first kick, retargeted after."""
    import linac_gen
    from linac_gen.pic.poisson_solver import PoissonSolverFFT

    version = getattr(linac_gen, "__version__", "unknown")
    private = ("_setup_grid", "_grid_min", "_grid_max", "_n_grid", "_solver")
    if version != "1.9.0" or not all(hasattr(pic, name) for name in private):
        raise SystemExit(
            f"--grid-mode extent replaces private attributes {private} of HELIX 1.9.0's PIC "
            f"solver; this is HELIX {version}: check them in its source, then allow it here"
        )
    n = np.array([pic.config.nx, pic.config.ny, pic.config.nz], dtype=np.int64)

    def setup(coords_rest: np.ndarray) -> None:
        lo, hi = coords_rest.min(axis=0), coords_rest.max(axis=0)
        h = np.maximum(hi - lo, 1e-9) / (n - 3)
        pic._grid_min = 0.5 * (lo + hi) - 0.5 * h * (n - 1)
        pic._grid_max = pic._grid_min + h * (n - 1)
        pic._n_grid = n
        if pic._solver is None:
            pic._solver = PoissonSolverFFT(
                pic._grid_min,
                pic._grid_max,
                n,
                use_gpu=pic.config.use_gpu,
                green_kind=pic.config.green_kind,
            )
        else:
            pic._solver.update_grid(pic._grid_min, pic._grid_max)

    pic._setup_grid = setup


def size_history(record) -> dict[str, list]:
    """HELIX's recorder (one row per element exit, row 0 the input) as rms sizes: s [m],
    sigma_x, sigma_y [mm], sigma_z [mm] = sigma_phi [deg] beta lambda / 360."""
    wavelength_mm = [C_LIGHT / (f * 1e6) * 1e3 for f in record.ref_frequency]
    return {
        "element": list(record.element_names),
        "s_m": [s * 1e-3 for s in record.s],
        "sigma_x_mm": list(map(float, record.sigma_x)),
        "sigma_y_mm": list(map(float, record.sigma_y)),
        "sigma_z_mm": [
            float(p) * b * lam / 360.0
            for p, b, lam in zip(record.sigma_phi, record.ref_beta, wavelength_mm, strict=True)
        ],
    }


def with_3d_rf_maps(dat: Path) -> tuple[Path, int]:
    """A copy of the lattice ``dat`` (``<stem>_3d.dat`` next to it) whose ``FIELD_MAP 100``
    lines are ``FIELD_MAP 7700`` maps of the same fields (:func:`write_3d_fields`, files
    in ``<stem>_3d_maps/``, absolute paths), kb = ke; other lines unchanged; and the number
    of maps rewritten."""
    folder = dat.parent.resolve() / f"{dat.stem}_3d_maps"
    folder.mkdir(exist_ok=True)
    map_dir, freq, out, written, count = dat.parent, None, [], set(), 0
    for line in dat.read_text(encoding="latin-1").splitlines():
        body = line.split(";", 1)[0]
        tokens = body.split()
        if tokens and tokens[0].endswith(":"):  # a TraceWin label
            tokens = tokens[1:]
        key = tokens[0].upper() if tokens else ""
        if key == "FIELD_MAP_PATH":
            map_dir = dat.parent / tokens[1]
        elif key == "FREQ":
            freq = float(tokens[1])
        elif key == "FIELD_MAP" and int(float(tokens[1])) == RF_E_1D:
            if freq is None:
                raise SystemExit(f"{dat}: FIELD_MAP before any FREQ: {line.strip()}")
            length, phase, radius, _kb, ke, ki, ka, name = tokens[2:10]
            target = folder / f"{name}_{freq:g}MHz"
            if target not in written:
                write_3d_fields(map_dir / f"{name}.edz", target, freq, float(radius))
                written.add(target)
            count += 1
            rest = " ".join(tokens[10:])
            line = f"FIELD_MAP 7700 {length} {phase} {radius} {ke} {ke} {ki} {ka} {target} {rest}"
        out.append(line)
    path = dat.with_name(f"{dat.stem}_3d.dat")
    path.write_text("\n".join(out) + "\n", encoding="latin-1")
    return path, count


def write_3d_fields(edz: Path, prefix: Path, freq_mhz: float, radius_mm: float) -> None:
    """TraceWin 3D tables (``prefix.ed{x,y,z}``, ``prefix.bd{x,y,z}``) of a 1D RF map's
    first-order fields at ``freq_mhz``: Ez(z) off the axis too, Ex = -(x/2) dEz/dz,
    B theta = (r / 2c^2) dEz/dt, i.e. on the sine phasor Bx = omega y Ez / (2 c^2), By =
    -omega x Ez / (2 c^2) [T for Ez in V/m] (Ez cos(omega t + phi) -> dEz/dt = -omega Ez
    sin). Same Norm as the 1D file, so ke / Norm scales E and kb / Norm B; x and y on 2
    nodes at +-2 R [m] (the fields are linear in them); z on the 1D file's nodes, dEz/dz
    from centred differences there (np.gradient, as HELIX's 1D maps)."""
    lines = [ln.split() for ln in edz.read_text(encoding="latin-1").splitlines() if ln.strip()]
    nz, zmax = int(lines[0][0]), float(lines[0][1])
    norm = float(lines[1][0])
    ez = np.array([float(v) for row in lines[2:] for v in row][: nz + 1])  # MV/m
    if ez.size != nz + 1:
        raise SystemExit(f"{edz}: {ez.size} field values, the header says {nz + 1}")
    slope = np.gradient(ez, np.linspace(0.0, zmax, nz + 1))  # MV/m per m
    half = 2 * max(radius_mm, 1.0) * 1e-3  # m
    x = np.array([-half, half])
    xg, yg = np.meshgrid(x, x)  # (y, x): x fastest, as the files loop
    omega = 2 * math.pi * freq_mhz * 1e6
    k_b = omega * 1e6 / (2 * C_LIGHT**2)  # T per (m * MV/m)
    tables = {
        "edx": -0.5 * xg[None] * slope[:, None, None],
        "edy": -0.5 * yg[None] * slope[:, None, None],
        "edz": np.broadcast_to(ez[:, None, None], (nz + 1, 2, 2)),
        "bdx": k_b * yg[None] * ez[:, None, None],
        "bdy": -k_b * xg[None] * ez[:, None, None],
        "bdz": np.zeros((nz + 1, 2, 2)),
    }
    header = f"{nz} {zmax!r}\n1 {-half!r} {half!r}\n1 {-half!r} {half!r}\n{norm!r}\n"
    for ext, values in tables.items():
        body = "\n".join(repr(float(v)) for v in np.ravel(values))
        Path(f"{prefix}.{ext}").write_text(header + body + "\n", encoding="latin-1")


if __name__ == "__main__":
    main()
