"""Particles through tabulated fields: the Lorentz force integrated with RK4, the
longitudinal position z of the map frame as the independent variable, all particles at
once (numpy over the particle axis).

State per particle (rows of a (6, N) array): x, y [m], px, py, pz [MeV/c], t [s] (time
from the reference particle's entry). Equations, with r' = (x', y', 1) = p / pz, the
total energy E = sqrt(p^2 + mc2^2) [MeV], q the charge [e], fields E [MV/m] and B [T]::

    dx/dz = px / pz,  dy/dz = py / pz,  dt/dz = E / (pz c)
    dp/dz = q (E_field E / pz + 299.792458 r' x B)      [MeV/c per m]

RF fields are the tabulated amplitudes times cos(omega t + phi) (electric) and
sin(omega t + phi) (magnetic). A particle's engine coordinates (x, x', y, y', z,
dp/p) at the entry plane become t = -z / (beta0 c), p = p0 (1 + dp/p), pz = p /
sqrt(1 + x'^2 + y'^2); at the exit plane they are taken relative to the exit frame's
axis (x, x' = px/pz, ...) and to the reference particle's time and momentum.

Accuracy: RK4 with the step of the map's own grid by default (the fields are linear
between nodes), refined to at most ``MAX_STEP_PHASE`` of RF phase; see
``tests/test_fieldmap_tracking.py`` for the step-size study.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .field_sampler import FieldSum
from .rf import rf_phase_shift
from .species import C_LIGHT

#: Momentum change per unit charge of a 1 T field over 1 m, (MeV/c) / (T m).
C_MEV = C_LIGHT * 1e-6
#: Largest RF phase advance [rad] of one step.
MAX_STEP_PHASE = 0.1
#: Finite-difference steps of the linear map: (x, x', y, y', z, dp/p) in m, rad, dp/p.
FD_STEPS = np.array([1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6])


@dataclass(frozen=True)
class Drive:
    """The time dependence of the RF channels: omega [rad/s], phases [rad] each map's
    RF phase at t = 0 (the reference particle's entry into the element)."""

    omega: float = 0.0
    phases: tuple[float, ...] = ()


@dataclass(frozen=True)
class Passage:
    """The result of integrating a set of particles.

    Attributes:
        state: (6, N) exit state (x, y, px, py, pz, t). voltage: int Ez exp(i (omega t +
        phi)) dz along particle 0 [MV] (0 without RF). lost: (N,) particles turned back
        (pz <= 0) on the way.
    """

    state: np.ndarray
    voltage: complex
    lost: np.ndarray


def _rates(fields: FieldSum, z: float, s: np.ndarray, q: float, mass: float, drive: Drive):
    x, y, px, py, pz, t = s
    shift = rf_phase_shift(q)  # a negative ion's RF phases refer to its own charge's crest
    phases = tuple(p + shift for p in drive.phases) if shift else drive.phases
    e, b, integrand = fields.fields(x, y, z, t, drive.omega, phases)
    if shift:
        integrand = -integrand  # the voltage in the lattice's phase
    safe_pz = np.where(pz > 0, pz, np.inf)
    energy = np.sqrt(px * px + py * py + pz * pz + mass * mass)
    xp, yp, g = px / safe_pz, py / safe_pz, energy / safe_pz
    out = np.empty_like(s)
    out[0], out[1] = xp, yp
    out[2] = q * (e[0] * g + C_MEV * (yp * b[2] - b[1]))
    out[3] = q * (e[1] * g + C_MEV * (b[0] - xp * b[2]))
    out[4] = q * (e[2] * g + C_MEV * (xp * b[1] - yp * b[0]))
    out[5] = g / C_LIGHT
    return out, integrand


def integrate(
    fields: FieldSum,
    state: np.ndarray,
    z_range: tuple[float, float],
    steps: int,
    charge: float,
    mass: float,
    drive: Drive = Drive(),
) -> Passage:
    """RK4 through ``fields`` from z_range[0] to z_range[1] [m] in ``steps`` equal steps.
    ``state`` (6, N) as in the module docstring; charge [e], mass [MeV]."""
    s = np.array(state, dtype=float)
    z0, z1 = z_range
    h = (z1 - z0) / steps
    voltage = 0j
    lost = np.zeros(s.shape[1], dtype=bool)
    for i in range(steps):
        z = z0 + i * h
        k1, v1 = _rates(fields, z, s, charge, mass, drive)
        k2, v2 = _rates(fields, z + 0.5 * h, s + 0.5 * h * k1, charge, mass, drive)
        k3, v3 = _rates(fields, z + 0.5 * h, s + 0.5 * h * k2, charge, mass, drive)
        k4, v4 = _rates(fields, z + h, s + h * k3, charge, mass, drive)
        s += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        voltage += h / 6 * (v1 + 2 * v2 + 2 * v3 + v4)
        lost |= ~(s[4] > 0)
    return Passage(s, voltage, lost)


def to_state(coords: np.ndarray, p0: float, beta0: float) -> np.ndarray:
    """(6, N) state at the entry plane from engine coordinates about a reference of
    momentum p0 [MeV/c] and velocity beta0 (on the axis, t = 0)."""
    x, xp, y, yp, z, delta = coords
    p = p0 * (1.0 + delta)
    pz = p / np.sqrt(1.0 + xp * xp + yp * yp)
    return np.stack([x, y, xp * pz, yp * pz, pz, -z / (beta0 * C_LIGHT)])


def to_coords(state: np.ndarray, p_ref: float, beta_ref: float, t_ref: float) -> np.ndarray:
    """(6, N) engine coordinates at the exit plane about a reference of momentum p_ref
    [MeV/c], velocity beta_ref, passing at time t_ref [s]; positions and angles are
    relative to the frame's axis."""
    x, y, px, py, pz, t = state
    p = np.sqrt(px * px + py * py + pz * pz)
    return np.stack([x, px / pz, y, py / pz, -(t - t_ref) * beta_ref * C_LIGHT, p / p_ref - 1.0])


def steps_for(length: float, grid_steps: int, omega: float, beta: float, scale: float = 1.0) -> int:
    """Steps over ``length`` [m]: the finer of the table grid (``grid_steps`` intervals)
    and MAX_STEP_PHASE of RF phase at velocity beta, times ``scale``."""
    rf = int(np.ceil(omega * length / (beta * C_LIGHT) / MAX_STEP_PHASE)) if omega else 0
    return max(1, int(np.ceil(max(grid_steps, rf, 8) * scale)))


def fd_columns() -> np.ndarray:
    """(6, 13) coordinates: the reference, then +h and -h along each axis."""
    cols = np.zeros((6, 13))
    for k in range(6):
        cols[k, 1 + 2 * k] = FD_STEPS[k]
        cols[k, 2 + 2 * k] = -FD_STEPS[k]
    return cols


def fd_matrix(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(6, 6) central-difference Jacobian and (6,) reference exit from the 13 exit
    coordinates of :func:`fd_columns`."""
    m = np.empty((6, 6))
    for k in range(6):
        m[:, k] = (out[:, 1 + 2 * k] - out[:, 2 + 2 * k]) / (2 * FD_STEPS[k])
    return m, out[:, 0].copy()
