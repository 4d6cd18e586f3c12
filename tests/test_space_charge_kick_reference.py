"""One mesh space-charge kick against the analytic laboratory kicks of a uniformly filled
ellipsoidal bunch, per axis, at energies where the Lorentz factors differ (3, 30 and
300 MeV protons): the rest-frame bunch is gamma times longer, E_z is unchanged and the
transverse force is q E'/gamma (the magnetic force taken off), so dx' = q E'_x ds /
(m c^2 beta^2 gamma^2) and dW = q E'_z ds. The depolarisation factors come from their
defining integral (scipy quad), not from the engine. The same check with HELIX's solver
is ``experiments/sc_kick_reference.py``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from accelerate_rl.engine.spacecharge_mesh import MeshSolver, MeshSpaceCharge
from accelerate_rl.engine.species import C_LIGHT, Kinematics, Species

EPS0 = 8.8541878128e-12  # F/m
PROTON_MEV = 938.27208816  # CODATA 2018 proton rest energy [MeV]
AXES = np.array([3.0e-3, 2.0e-3, 2.5e-3])  # laboratory semi-axes x, y, z [m]
CURRENT_MA, FREQ_MHZ, DS = 5.0, 352.2, 0.01
N = 60_000


def _field_per_metre(gamma: float) -> np.ndarray:
    """E'_i / x'_i [V/m^2] inside the rest-frame ellipsoid (a, b, gamma c)."""
    rest = AXES * np.array([1.0, 1.0, gamma])

    def factor(ai: float) -> float:
        def integrand(s: float) -> float:
            return 1 / ((ai * ai + s) * np.sqrt(np.prod(rest * rest + s)))

        return 0.5 * np.prod(rest) * quad(integrand, 0, np.inf, limit=200)[0]

    charge = CURRENT_MA * 1e-3 / (FREQ_MHZ * 1e6)
    density = 3 * charge / (4 * np.pi * np.prod(rest))
    return density * np.array([factor(a) for a in rest]) / EPS0


@pytest.fixture(scope="module")
def bunch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    u = rng.standard_normal((3, N))
    u /= np.linalg.norm(u, axis=0)
    pos = u * rng.random(N) ** (1 / 3) * AXES[:, None]
    core = np.sum((pos / AXES[:, None]) ** 2, axis=0) < 0.49
    return pos, core


def _slope(u: np.ndarray, kick: np.ndarray, core: np.ndarray) -> float:
    return float(u[core] @ kick[core] / (u[core] @ u[core]))


@pytest.mark.parametrize("energy", [3.0, 30.0, 300.0])
def test_one_kick_gives_the_analytic_laboratory_kicks_in_x_y_and_z(bunch, energy):
    pos, core = bunch
    proton = Species.proton()
    kin = Kinematics(energy, proton)
    gamma = 1.0 + energy / PROTON_MEV  # the reference's own kinematics, not the engine's
    beta = float(np.sqrt(1.0 - 1.0 / gamma**2))
    mc2 = PROTON_MEV * 1e6  # V
    e = _field_per_metre(gamma)
    expect = {  # d(x')/dx, d(y')/dy [1/m], dW/dz [MeV/m] over DS
        "x": e[0] * DS / (mc2 * beta**2 * gamma**2),
        "y": e[1] * DS / (mc2 * beta**2 * gamma**2),
        "z": e[2] * gamma * DS * 1e-6,
    }

    def sc() -> MeshSpaceCharge:
        return MeshSpaceCharge(CURRENT_MA, FREQ_MHZ, N, MeshSolver(reuse=0.0), DS)

    coords = np.zeros((6, N))  # transport coordinates: m, rad, m, rad, m, dp/p
    coords[[0, 2, 4]] = pos
    sc().kick(coords, kin, DS)
    transport = {
        "x": _slope(pos[0], coords[1], core),
        "y": _slope(pos[1], coords[3], core),
        "z": _slope(pos[2], coords[5] * beta**2 * gamma * PROTON_MEV, core),
    }
    omega = 2 * np.pi * FREQ_MHZ * 1e6
    state = np.zeros((6, N))  # RF maps: x, p_x / mc, y, p_y / mc, phase [rad], W [MeV]
    state[0], state[2] = pos[0], pos[1]
    state[4] = -pos[2] * omega / (beta * C_LIGHT)
    state[5] = energy
    sc().kick_rf_state(state, DS, proton, omega)
    in_rf = {
        "x": _slope(pos[0], state[1] / (beta * gamma), core),
        "y": _slope(pos[1], state[3] / (beta * gamma), core),
        "z": _slope(pos[2], state[5] - energy, core),
    }
    for axis, value in expect.items():
        assert transport[axis] == pytest.approx(value, rel=0.02), ("transport", axis)
        assert in_rf[axis] == pytest.approx(value, rel=0.02), ("rf", axis)
