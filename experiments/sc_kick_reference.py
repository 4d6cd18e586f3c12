"""Space-charge fields of our mesh solver and of HELIX's against independent references.

First (``ellipsoid``), one kick against the analytic field of a uniformly filled
ellipsoidal bunch, each axis separately. A bunch of charge Q = I / f filling the
laboratory ellipsoid of semi-axes a, b, c (x, y, z) is, in its rest frame, the ellipsoid
a, b, gamma c of uniform density rho' = 3 Q / (4 pi a b gamma c), whose field inside is
linear: E'_i = rho' N_i x'_i / eps0 with the depolarisation factors N_i (here from their
defining integral, scipy ``quad``, not from the engine's Carlson form). A particle of
charge q, momentum p = beta gamma m c then gets over ds, in the laboratory,

    dx' = q E'_x ds / (m c^2 beta^2 gamma^2)   (E_x = gamma E'_x, net of v x B: / gamma^2)
    dW  = q E'_z ds = q rho' N_z gamma z ds / eps0   (E_z = E'_z, z' = gamma z)

Each code kicks the same particles over ds; the slope of the kick against the
coordinate, fitted on the particles inside 0.7 of the ellipsoid's radius (the mesh
smooths the edge by a cell), is compared with the analytic one for x, y and z
separately: ``ratio`` = code / analytic. Ours is kicked both ways it is kicked in a
run: in the transport coordinates (``MeshSpaceCharge.kick``: drifts, quadrupoles) and in
the RF maps' integration state (``kick_rf_state``: x, p_x / mc, y, p_y / mc, phase, W).
HELIX (``linac_gen``'s ``PicSolver.kick``, its default 5-sigma ``fixed`` grid, fitted
at this first kick) runs when ``linac_gen`` imports in this interpreter or in
``ARL_HELIX_PYTHON`` (this script is then run again there with ``--helix-only``).

Second (``prefix``), the beams of issue 19's comparison: our 33 m prefix run (10,000
particles, 32^3 mesh every cm, ``bench_engine.py``'s ``mesh_prefix``) writes its
particles at every element (``.plt``); at every ``--every``-th element the rest-frame
positions (x, y, gamma z) get each solver's field E' and its rms strengths k_i = <x_i
E'_i> / <x_i^2> (what moves the rms envelopes), against the direct Coulomb sum over the
same macroparticles (exact for them: the pair sum of (x_i - x_j)^2 / r^3 is bounded by
1 / r, an integrable singularity). Ours fits its mesh to the beam (``reuse=0``); HELIX
with its ``fixed`` grid (set on the first beam, as in a run), ``adaptive`` (5 rms sizes,
fitted) and ``extent`` (our grid given to it, ``helix_peer.extent_grid``).

    python experiments/sc_kick_reference.py [--particles 200000] [--mesh 32] [--every 10]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy.integrate import quad

EPS0 = 8.8541878128e-12  # F/m
C_LIGHT = 299_792_458.0  # m/s
PROTON_MC2 = 938.27208816  # MeV
#: Laboratory semi-axes a, b, c [m] of the uniform ellipsoid (x, y, z).
AXES = (3.0e-3, 2.0e-3, 2.5e-3)
CURRENT_MA, FREQ_MHZ = 5.0, 352.2
KICK_M = 0.01
ENERGIES_MEV = (3.0, 30.0, 300.0)
INNER = 0.7


def depolarisation(axes: tuple[float, float, float]) -> np.ndarray:
    """N_i = (a b c / 2) int_0^inf ds / ((a_i^2 + s) sqrt((a^2 + s)(b^2 + s)(c^2 + s)))."""
    a, b, c = axes
    abc = a * b * c

    def n_of(ai: float) -> float:
        def f(s: float) -> float:
            return 1.0 / ((ai * ai + s) * np.sqrt((a * a + s) * (b * b + s) * (c * c + s)))

        return 0.5 * abc * quad(f, 0.0, np.inf, limit=200)[0]

    return np.array([n_of(a), n_of(b), n_of(c)])


def analytic_slopes(energy_mev: float) -> dict[str, float]:
    """Laboratory kick slopes over KICK_M: d(x')/dx, d(y')/dy [rad/m], dW/dz [MeV/m]."""
    gamma = 1 + energy_mev / PROTON_MC2
    beta = np.sqrt(1 - 1 / gamma**2)
    a, b, c = AXES
    n = depolarisation((a, b, gamma * c))
    q_bunch = CURRENT_MA * 1e-3 / (FREQ_MHZ * 1e6)
    rho = 3 * q_bunch / (4 * np.pi * a * b * gamma * c)  # rest frame [C/m^3]
    field = rho * n / EPS0  # E'_i / x'_i [V/m^2]
    mc2_v = PROTON_MC2 * 1e6
    return {
        "x": field[0] * KICK_M / (mc2_v * beta**2 * gamma**2),
        "y": field[1] * KICK_M / (mc2_v * beta**2 * gamma**2),
        "z": field[2] * gamma * KICK_M * 1e-6,
        "depolarisation": n.tolist(),
    }


def uniform_ellipsoid(n: int, seed: int = 0) -> np.ndarray:
    """(3, n) positions [m] filling the ellipsoid AXES uniformly."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((3, n))
    g /= np.linalg.norm(g, axis=0)
    return g * rng.random(n) ** (1 / 3) * np.array(AXES)[:, None]


HERE = os.path.dirname(os.path.abspath(__file__))


def _on_path(folder: str) -> None:
    """Import from ``folder`` (this script runs in HELIX's interpreter too)."""
    if folder not in sys.path:
        sys.path.insert(0, folder)


def fitted(coord: np.ndarray, kick: np.ndarray, inner: np.ndarray) -> float:
    """Least-squares slope of ``kick`` against ``coord`` (through 0) on ``inner``."""
    u, k = coord[inner], kick[inner]
    return float(u @ k / (u @ u))


def ours(energy_mev: float, pos: np.ndarray, mesh: int) -> dict:
    """Our kicks: transport coordinates and the RF maps' integration state."""
    _on_path(os.path.join(HERE, "..", "src"))
    from accelerate_rl.engine.spacecharge_mesh import MeshSolver, MeshSpaceCharge
    from accelerate_rl.engine.species import Kinematics, Species

    species = Species.proton()
    kin = Kinematics(energy_mev, species)
    gamma, beta = float(kin.gamma), float(kin.beta)
    n = pos.shape[1]
    inner = np.sum((pos / np.array(AXES)[:, None]) ** 2, axis=0) < INNER**2
    out = {}
    sc = MeshSpaceCharge(CURRENT_MA, FREQ_MHZ, n, MeshSolver((mesh,) * 3, reuse=0.0), KICK_M)
    coords = np.zeros((6, n))
    coords[0], coords[2], coords[4] = pos
    sc.kick(coords, kin, KICK_M)
    dw = coords[5] * beta**2 * gamma * PROTON_MC2  # d(dp/p) -> dW [MeV]
    out["transport"] = {
        "x": fitted(pos[0], coords[1], inner),
        "y": fitted(pos[1], coords[3], inner),
        "z": fitted(pos[2], dw, inner),
    }
    sc = MeshSpaceCharge(CURRENT_MA, FREQ_MHZ, n, MeshSolver((mesh,) * 3, reuse=0.0), KICK_M)
    omega = 2 * np.pi * FREQ_MHZ * 1e6
    state = np.zeros((6, n))
    state[0], state[2] = pos[0], pos[1]
    state[4] = -pos[2] * omega / (beta * C_LIGHT)  # phase [rad]: ahead is earlier
    state[5] = energy_mev
    sc.kick_rf_state(state, KICK_M, species, omega)
    bg = beta * gamma
    out["rf_state"] = {
        "x": fitted(pos[0], state[1] / bg, inner),
        "y": fitted(pos[1], state[3] / bg, inner),
        "z": fitted(pos[2], state[5] - energy_mev, inner),
    }
    return out


def helix(energy_mev: float, pos: np.ndarray, mesh: int) -> dict:
    """HELIX's ``PicSolver.kick`` on the same particles (mm, mrad, deg, MeV)."""
    import linac_gen
    from linac_gen.core.beam import Beam
    from linac_gen.core.config import SpaceChargeConfig
    from linac_gen.core.particle import PROTON
    from linac_gen.core.reference import ReferenceParticle
    from linac_gen.pic.pic_solver import PicSolver

    ref = ReferenceParticle(PROTON, energy_mev, FREQ_MHZ)
    n = pos.shape[1]
    beam = Beam(ref, n, CURRENT_MA)
    beam.particles[:, 0] = pos[0] * 1e3
    beam.particles[:, 2] = pos[1] * 1e3
    beam.particles[:, 4] = -pos[2] * 1e3 * 360.0 / (ref.beta * ref.wavelength)  # deg
    solver = PicSolver(SpaceChargeConfig(nx=mesh, ny=mesh, nz=mesh, use_gpu="cpu"))
    solver.kick(beam, KICK_M * 1e3)
    inner = np.sum((pos / np.array(AXES)[:, None]) ** 2, axis=0) < INNER**2
    return {
        "version": linac_gen.__version__,
        "x": fitted(pos[0], beam.particles[:, 1] * 1e-3, inner),
        "y": fitted(pos[1], beam.particles[:, 3] * 1e-3, inner),
        "z": fitted(pos[2], beam.particles[:, 5], inner),
        "grid": "fixed, 5 sigma (HELIX's default)",
    }


def prefix_beams(every: int, folder: str) -> tuple[list[int], np.ndarray, np.ndarray, float]:
    """Our prefix run's beams at every ``every``-th element: element numbers, kinetic
    energies [MeV], (K, 3, N) laboratory positions x, y, z [m] about the centre and the
    bunch frequency [MHz] (Q = I / f)."""
    _on_path(HERE)
    from dataclasses import replace

    import bench_engine as be
    from accelerate_rl.tracewin.plt import read_plt

    beam = replace(be.Beam.from_ini(be.read_ini(be.LINAC / "example.ini")), n_particles=10_000)
    engine = be.Engine(be.parse_dat_text(be.prefix_text(), str(be.LINAC / "prefix.dat")), beam)
    plt = os.path.join(folder, "prefix.plt")
    engine.run(mode="multiparticle", seed=1, plt_path=plt)
    record = read_plt(plt)
    elements = list(range(0, record.n_elements + 1, every))
    energies, positions = [], []
    for n in elements:
        rec = record.at_element(n)
        raw = rec.raw[rec.alive]
        gamma = 1 + rec.energy / record.mass
        beta = np.sqrt(1 - 1 / gamma**2)
        z = -raw[:, 4] * beta * C_LIGHT / (2 * np.pi * record.freq * 1e6)
        pos = np.vstack([raw[:, 0] * 1e-2, raw[:, 2] * 1e-2, z])
        energies.append(rec.energy)
        positions.append(pos - pos.mean(axis=1, keepdims=True))
    return elements, np.array(energies), np.array(positions), record.freq


def coulomb_field(rest: np.ndarray, charge: float, chunk: int = 250) -> np.ndarray:
    """(3, N) field [V/m] of point charges ``charge`` [C] at ``rest`` (3, N) [m] by the
    direct sum (no self-force)."""
    out = np.zeros_like(rest)
    for i in range(0, rest.shape[1], chunk):
        d = rest[:, i : i + chunk, None] - rest[:, None, :]
        r2 = np.einsum("kij,kij->ij", d, d)
        r2[r2 == 0] = np.inf
        out[:, i : i + chunk] = np.einsum("kij,ij->ki", d, r2**-1.5)
    return out * charge / (4 * np.pi * EPS0)


def rms_strengths(rest: np.ndarray, field: np.ndarray) -> np.ndarray:
    """k_i = <x_i E_i> / <x_i^2> [V/m^2] about the centre."""
    c = rest - rest.mean(axis=1, keepdims=True)
    return (c * field).mean(axis=1) / (c * c).mean(axis=1)


def helix_rest_fields(
    energies: np.ndarray, positions: np.ndarray, bunch_mhz: float, mesh: int
) -> dict:
    """HELIX's rest-frame fields' rms strengths per grid mode and beam (from its kicks)."""
    from linac_gen.core.beam import Beam
    from linac_gen.core.config import SpaceChargeConfig
    from linac_gen.core.particle import PROTON
    from linac_gen.core.reference import ReferenceParticle
    from linac_gen.pic.pic_solver import PicSolver

    _on_path(HERE)
    from helix_peer import extent_grid

    def solver(grid: str) -> PicSolver:
        pic = PicSolver(SpaceChargeConfig(nx=mesh, ny=mesh, nz=mesh, use_gpu="cpu"))
        if grid == "extent":
            extent_grid(pic)
        return pic

    fixed = solver("fixed")
    out: dict = {"fixed": [], "adaptive": [], "extent": []}
    for w, pos in zip(energies, positions, strict=True):
        ref = ReferenceParticle(PROTON, float(w), FREQ_MHZ)
        rest = pos * np.array([[1.0], [1.0], [ref.gamma]])
        for grid, pic in (
            ("fixed", fixed),
            ("adaptive", solver("adaptive")),  # HELIX's own grid, fitted to this beam
            ("extent", solver("extent")),
        ):
            beam = Beam(ref, pos.shape[1], CURRENT_MA)
            beam.bunch_frequency = bunch_mhz
            beam.particles[:, 0], beam.particles[:, 2] = pos[0] * 1e3, pos[1] * 1e3
            beam.particles[:, 4] = -pos[2] * 1e3 * 360.0 / (ref.beta * ref.wavelength)
            pic.kick(beam, KICK_M * 1e3)
            t = KICK_M * 1e3 / (PROTON_MC2 * 1e6 * ref.beta**2 * ref.gamma**2)  # mrad per V/m
            field = np.vstack(
                [
                    beam.particles[:, 1] / t,
                    beam.particles[:, 3] / t,
                    beam.particles[:, 5] / (KICK_M * 1e-6),
                ]
            )
            out[grid].append(rms_strengths(rest, field).tolist())
    return out


def prefix_comparison(args: argparse.Namespace, folder: str) -> dict:
    """Rms strengths of each solver relative to the direct sum on the prefix's beams."""
    from accelerate_rl.engine.spacecharge_mesh import MeshSolver

    elements, energies, positions, bunch_mhz = prefix_beams(args.every, folder)
    charge = CURRENT_MA * 1e-3 / (bunch_mhz * 1e6) / positions.shape[2]
    rows = []
    for w, pos in zip(energies, positions, strict=True):
        rest = pos * np.array([[1.0], [1.0], [1 + w / PROTON_MC2]])
        direct = rms_strengths(rest, coulomb_field(rest, charge))
        ours_k = rms_strengths(rest, MeshSolver((args.mesh,) * 3, reuse=0.0).field(rest, charge))
        rows.append((direct, ours_k))
    out: dict = {
        "elements": elements,
        "energy_mev": energies.tolist(),
        "ours_over_direct_minus_1": [(o / d - 1).tolist() for d, o in rows],
    }
    data = os.path.join(folder, "beams.npz")
    np.savez(data, energies=energies, positions=positions, bunch_mhz=bunch_mhz)
    peer = helix_call(args, "prefix", data)
    if "ran" in peer:
        out["helix"] = peer
        return out
    for grid, strengths in peer.items():
        out[f"helix_{grid}_over_direct_minus_1"] = [
            (np.array(k) / d - 1).tolist() for k, (d, _) in zip(strengths, rows, strict=True)
        ]
    extent = peer["extent"]
    out["ours_over_helix_extent_max_abs"] = max(
        float(np.max(np.abs(o / np.array(k) - 1))) for k, (_, o) in zip(extent, rows, strict=True)
    )
    summary = {"ours": [o / d - 1 for d, o in rows]}
    for grid, strengths in peer.items():
        summary[f"helix_{grid}"] = [
            np.array(k) / d - 1 for k, (d, _) in zip(strengths, rows, strict=True)
        ]
    out["range_over_direct_minus_1"] = {
        name: [float(np.min(v)), float(np.max(v))] for name, v in summary.items()
    }
    return out


def with_ratios(slopes: dict, reference: dict) -> dict:
    """Slopes plus their ratios to the analytic ones."""
    return {**slopes, "ratio": {k: slopes[k] / reference[k] for k in "xyz"}}


def helix_here() -> bool:
    """Whether ``linac_gen`` imports in this interpreter."""
    try:
        import linac_gen  # noqa: F401
    except ImportError:
        return False
    return True


def helix_call(args: argparse.Namespace, part: str, data: str | None = None) -> dict:
    """HELIX's results for ``part`` (``ellipsoid``; ``prefix``: the beams in the ``.npz``
    ``data``): here, or by this script in ``ARL_HELIX_PYTHON``, or why not."""
    if helix_here():
        if part == "ellipsoid":
            pos = uniform_ellipsoid(args.particles)
            return {f"{w:g}": helix(w, pos, args.mesh) for w in ENERGIES_MEV}
        beams = np.load(data)
        return helix_rest_fields(
            beams["energies"], beams["positions"], float(beams["bunch_mhz"]), args.mesh
        )
    python = os.environ.get("ARL_HELIX_PYTHON")
    if not python:
        return {"ran": False, "why": "linac_gen not importable; set ARL_HELIX_PYTHON"}
    argv = [python, __file__, "--helix-only", part, "--particles", str(args.particles)]
    argv += ["--mesh", str(args.mesh)] + (["--data", data] if data else [])
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"ran": False, "why": done.stderr.strip().splitlines()[-3:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--particles", type=int, default=200_000)
    ap.add_argument("--mesh", type=int, default=32)
    ap.add_argument("--every", type=int, default=10, help="prefix: every n-th element")
    ap.add_argument("--parts", default="ellipsoid,prefix")
    ap.add_argument("--helix-only", choices=("ellipsoid", "prefix"), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.helix_only:
        print(json.dumps(helix_call(args, args.helix_only, args.data)))
        return
    out: dict = {"mesh": [args.mesh] * 3, "current_ma": CURRENT_MA, "kick_m": KICK_M}
    parts = args.parts.split(",")
    if "ellipsoid" in parts:
        out["ellipsoid"] = ellipsoid_comparison(args)
    if "prefix" in parts:
        with tempfile.TemporaryDirectory(prefix="arl-sc-ref-") as folder:
            out["prefix"] = prefix_comparison(args, folder)
    print(json.dumps(out, indent=1))


def ellipsoid_comparison(args: argparse.Namespace) -> dict:
    """Each code's kick slopes against the analytic ones, per energy and axis."""
    pos = uniform_ellipsoid(args.particles)
    peer = helix_call(args, "ellipsoid")
    out: dict = {
        "axes_m": AXES,
        "freq_mhz": FREQ_MHZ,
        "particles": args.particles,
        "fit": f"slope through 0 on the particles inside {INNER} of the ellipsoid's radius",
        "energies": {},
    }
    for w in ENERGIES_MEV:
        ref = analytic_slopes(w)
        mine = ours(w, pos, args.mesh)
        row = {
            "analytic": ref,
            "ours_transport": with_ratios(mine["transport"], ref),
            "ours_rf_state": with_ratios(mine["rf_state"], ref),
        }
        if f"{w:g}" in peer:
            row["helix"] = with_ratios(peer[f"{w:g}"], ref)
        out["energies"][f"{w:g}"] = row
    if "ran" in peer:
        out["helix"] = peer
    return out


if __name__ == "__main__":
    main()
