"""One space-charge kick of our mesh solver and of HELIX's against the analytic field of a
uniformly filled ellipsoidal bunch (an independent reference for each axis).

A bunch of charge Q = I / f filling the laboratory ellipsoid of semi-axes a, b, c (x, y,
z) is, in its rest frame, the ellipsoid a, b, gamma c of uniform density rho' = 3 Q /
(4 pi a b gamma c), whose field inside is linear: E'_i = rho' N_i x'_i / eps0 with the
depolarisation factors N_i (here from their defining integral, scipy ``quad``, not from
the engine's Carlson form). A particle of charge q, momentum p = beta gamma m c then gets
over ds, in the laboratory,

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

    python experiments/sc_kick_reference.py [--particles 200000] [--mesh 32]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from scipy.integrate import quad

EPS0 = 8.8541878128e-12  # F/m
C_LIGHT = 299_792_458.0  # m/s
PROTON_MC2 = 938.27208816  # MeV
#: Laboratory semi-axes a, b, c [m] of the uniform ellipsoid (x, y, z).
AXES = (3.0e-3, 2.0e-3, 2.5e-3)
CURRENT_MA, FREQ_MHZ = 5.0, 352.2
KICK_M = 0.01
ENERGIES_MEV = (3.0, 30.0)
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


def fitted(coord: np.ndarray, kick: np.ndarray, inner: np.ndarray) -> float:
    """Least-squares slope of ``kick`` against ``coord`` (through 0) on ``inner``."""
    u, k = coord[inner], kick[inner]
    return float(u @ k / (u @ u))


def ours(energy_mev: float, pos: np.ndarray, mesh: int) -> dict:
    """Our kicks: transport coordinates and the RF maps' integration state."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
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


def with_ratios(slopes: dict, reference: dict) -> dict:
    """Slopes plus their ratios to the analytic ones."""
    return {**slopes, "ratio": {k: slopes[k] / reference[k] for k in "xyz"}}


def helix_results(args: argparse.Namespace) -> dict:
    """HELIX's slopes per energy: here, or in ``ARL_HELIX_PYTHON``, or why not."""
    try:
        import linac_gen  # noqa: F401
    except ImportError:
        python = os.environ.get("ARL_HELIX_PYTHON")
        if not python:
            return {"ran": False, "why": "linac_gen not importable; set ARL_HELIX_PYTHON"}
        argv = [python, __file__, "--helix-only", "--particles", str(args.particles)]
        done = subprocess.run(
            [*argv, "--mesh", str(args.mesh)], capture_output=True, text=True, check=False
        )
        if done.returncode:
            return {"ran": False, "why": done.stderr.strip().splitlines()[-3:]}
        return json.loads(done.stdout.strip().splitlines()[-1])
    pos = uniform_ellipsoid(args.particles)
    return {f"{w:g}": helix(w, pos, args.mesh) for w in ENERGIES_MEV}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--particles", type=int, default=200_000)
    ap.add_argument("--mesh", type=int, default=32)
    ap.add_argument("--helix-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.helix_only:
        print(json.dumps(helix_results(args)))
        return
    pos = uniform_ellipsoid(args.particles)
    peer = helix_results(args)
    out: dict = {
        "axes_m": AXES,
        "current_ma": CURRENT_MA,
        "freq_mhz": FREQ_MHZ,
        "kick_m": KICK_M,
        "particles": args.particles,
        "mesh": [args.mesh] * 3,
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
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
