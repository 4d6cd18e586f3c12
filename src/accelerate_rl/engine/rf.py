"""The synchronous (reference) particle through RF field maps: energy gain, phases and
the linear map, as TraceWin defines them (the whole line's reference particle and cavity
set points: :mod:`.reference`).

Conventions (checked on TraceWin's spoke run, see the tests):

* On axis the field is ``Ez(z, t) = ke * E(z) / norm * cos(omega t + phi0)``; ``E`` in
  MV/m, omega = 2 pi FREQ (the RF frequency of the section, set by ``FREQ``).
* ``FIELD_MAP ... phi ... p``: with p = 0 (relative) phi is the RF phase the synchronous
  particle sees when it enters the map; with p = 1 (absolute) it sees phi + omega t, t
  its time of flight from the start of the line (LightWin's phi_0_rel = phi_0_abs +
  phi_rf); after the command ``SET_SYNC_PHASE`` phi is the synchronous phase and the
  entry phase is solved for.
* Along the map: dW/dz = |q| Ez(z) cos(phi) [MeV/m per unit charge], dphi/dz = omega / (beta c);
  integrated with RK4 on the map's own grid, the field linearly interpolated between nodes.
* The cavity's voltage and synchronous phase: ``V exp(i phi_s) = int Ez(z) exp(i phi(z)) dz``
  along the synchronous particle's trajectory; V [MV], phi_s [deg]; the energy gain is
  q V cos(phi_s) only when phi(z) does not depend on W (short maps); W is integrated.

* Negative ions (q < 0): an RF element's phase refers to the crest of the particle's own
  charge, i.e. the field acts with |q| (the physical RF phase is the lattice's + 180 deg),
  so an H- line with a proton line's phases accelerates alike (:func:`rf_charge`,
  :func:`rf_phase_shift`; evidence: HELIX, validated against TraceWin on PIP-II, uses |q|
  for NCELLS and finds SET_SYNC_PHASE cavities "absorb the species charge"; PIP-II's
  H- lattice has negative synchronous phases; medium confidence, not in TraceWin's text).

Not verified against TraceWin: SET_SYNC_PHASE and absolute phases (no sample run uses
them; both are checked for consistency with relative phases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..tracewin.fieldmaps import FieldMap1D
from .species import C_LIGHT, Species, relativistic

#: Largest RF phase advance [rad] of one RK4 step when tracking particles through a map.
MAX_STEP_PHASE = 0.2
#: Geometry of an RF electric 1D map on axis.
RF_E_1D = 100
#: Geometry of a static magnetic 1D map on axis.
STATIC_B_1D = 10


def rf_charge(charge: float) -> float:
    """The charge [e] an RF field acts with on a particle of ``charge`` [e]: |q| (the
    phase convention for negative ions above); RF fields only, never static ones."""
    return abs(charge)


#: The run's note when a negative ion crosses RF elements (the convention is our reading).
NEGATIVE_ION_NOTE = (
    "negative ions: RF phases refer to the crest for the particle's own charge (the field "
    "acts with |q|), as HELIX reads TraceWin on PIP-II; medium confidence, not in "
    "TraceWin's manual text we found"
)


def rf_phase_shift(charge: float) -> float:
    """The physical RF phase minus the lattice's [rad] for ``charge`` [e]: pi for a
    negative ion (its field flipped, so that q E cos(phi + pi) = |q| E cos(phi))."""
    return float(np.pi) if charge < 0 else 0.0


@dataclass(frozen=True)
class Crossing:
    """The synchronous particle through one RF map.

    Attributes:
        w_out: exit kinetic energy [MeV]. phase_advance: RF phase advance [rad].
        voltage: int Ez exp(i phi) dz [MV] (complex; its angle is phi_s). phi_in: entry
        phase [rad]. matrix: (6, 6) linear map about the synchronous particle, in
        (x, x', y, y', z, dp/p) relative to the entry and exit reference momenta.
    """

    w_out: float
    phase_advance: float
    voltage: complex
    phi_in: float
    matrix: np.ndarray


def cross_field_map(
    fmap: FieldMap1D,
    ke: float,
    freq_mhz: float,
    w_in: float,
    phi_in: float,
    species: Species,
) -> Crossing:
    """RK4 through an RF map from entry phase ``phi_in`` [rad] and energy ``w_in`` [MeV],
    with the linear map about the synchronous particle integrated alongside.

    Linear equations (paraxial, axially symmetric field; E' = dEz/dz from centred
    differences of the map): transversely d(x')/dz = -q / (2 beta mc2 P) (E' cos phi -
    (beta omega / c) E sin phi) x - q E cos phi / (beta mc2 P) x' with P = beta gamma;
    longitudinally, about (phi, W): d(dW)/dz = -q E sin phi dphi and d(dphi)/dz =
    -omega / (c beta^3 gamma^3 mc2) dW, converted to (z, dp/p) with dphi = -omega z /
    (beta c) and dW = beta^2 gamma mc2 dp/p at the entry and exit energies.
    """
    omega = 2 * np.pi * freq_mhz * 1e6
    q = rf_charge(species.charge)
    mass = species.mass  # [MeV]
    values = ke * fmap.values  # [MV/m]
    slopes = ke * fmap.derivative()  # [MV/m^2]
    dz = fmap.dz
    mid = 0.5 * (values[:-1] + values[1:])  # linear interpolation at half steps
    mid_slope = 0.5 * (slopes[:-1] + slopes[1:])

    def rates(e: float, de: float, w: float, phi: float) -> tuple[float, float, np.ndarray]:
        beta, gamma, p = relativistic(w, mass)
        c, s = np.cos(phi), np.sin(phi)
        a = np.zeros((4, 4))
        a[0, 1] = 1.0
        a[1, 0] = -q / (2 * beta * mass * p) * (de * c - beta * omega / C_LIGHT * e * s)
        a[1, 1] = -q * e * c / (beta * mass * p)
        a[2, 3] = -omega / (C_LIGHT * beta**3 * gamma**3 * mass)
        a[3, 2] = -q * e * s
        return q * e * c, omega / (beta * C_LIGHT), a

    w, phi = float(w_in), float(phi_in)
    m = np.eye(4)  # (x, x', dphi, dW)
    voltage = 0j
    for i in range(fmap.steps):
        e0, em, e1 = values[i], mid[i], values[i + 1]
        s0, sm, s1 = slopes[i], mid_slope[i], slopes[i + 1]
        k1w, k1p, a1 = rates(e0, s0, w, phi)
        w2, p2 = w + 0.5 * dz * k1w, phi + 0.5 * dz * k1p
        k2w, k2p, a2 = rates(em, sm, w2, p2)
        w3, p3 = w + 0.5 * dz * k2w, phi + 0.5 * dz * k2p
        k3w, k3p, a3 = rates(em, sm, w3, p3)
        w4, p4 = w + dz * k3w, phi + dz * k3p
        k4w, k4p, a4 = rates(e1, s1, w4, p4)
        b1 = a1 @ m
        b2 = a2 @ (m + 0.5 * dz * b1)
        b3 = a3 @ (m + 0.5 * dz * b2)
        b4 = a4 @ (m + dz * b3)
        m = m + dz / 6 * (b1 + 2 * b2 + 2 * b3 + b4)
        voltage += (
            dz
            / 6
            * (
                e0 * np.exp(1j * phi)
                + 2 * em * np.exp(1j * p2)
                + 2 * em * np.exp(1j * p3)
                + e1 * np.exp(1j * p4)
            )
        )
        w += dz / 6 * (k1w + 2 * k2w + 2 * k3w + k4w)
        phi += dz / 6 * (k1p + 2 * k2p + 2 * k3p + k4p)

    def to_phase_energy(energy: float) -> np.ndarray:
        beta, gamma, _ = relativistic(energy, mass)
        return np.diag([-omega / (beta * C_LIGHT), beta * beta * gamma * mass])

    out = np.eye(6)
    out[0:2, 0:2] = out[2:4, 2:4] = m[0:2, 0:2]
    out[4:6, 4:6] = np.linalg.inv(to_phase_energy(w)) @ m[2:4, 2:4] @ to_phase_energy(w_in)
    return Crossing(w, phi - phi_in, voltage, phi_in, out)


def track_field_map(
    fmap: FieldMap1D,
    ke: float,
    freq_mhz: float,
    crossing: Crossing,
    w_in: float,
    coords: np.ndarray,
    species: Species,
    space_charge: Callable[[np.ndarray, float], None] | None = None,
    sc_step: float = 0.01,
) -> np.ndarray:
    """Track particles (6, N) through an RF map, each with its own phase and energy
    (RK4 over an even number of grid intervals per step, at most MAX_STEP_PHASE of RF
    phase, the middle node's field at the half step; all particles at once). Coordinates
    are relative to the synchronous particle at the entry (``w_in``) and, on return, at
    the exit.

    Per particle (q = |charge|, :func:`rf_charge`): dW/dz = q E cos(phi), dphi/dz = omega /
    (beta c), and transversely
    d(P x')/dz = -q x / (2 beta mc2) (E' cos(phi) - (beta omega / c) E sin(phi)) with its own
    beta, P = beta gamma (the paraxial fields of an axially symmetric mode; the on-axis
    field's radial dependence is neglected in the energy gain).

    ``space_charge(state, ds)``, when given, kicks the integration state (x [m], P x', y
    [m], P y', phi [rad], W [MeV]) in place for ``ds`` [m] of space charge: half a stretch
    at the entry, then between stretches of about ``sc_step`` [m], half at the exit
    (second order, like the slices of other elements).
    """
    omega = 2 * np.pi * freq_mhz * 1e6
    q, mass = rf_charge(species.charge), species.mass
    values = ke * fmap.values
    slopes = ke * fmap.derivative()
    k_omega = omega / C_LIGHT
    # RK4 steps of 2k grid intervals, the middle node's field at the half step: k as
    # large as keeps the RF phase advance of a step below MAX_STEP_PHASE; the rest of the
    # grid in steps of two intervals, then one (its middle linearly interpolated)
    beta_min = min(relativistic(w_in, mass)[0], relativistic(crossing.w_out, mass)[0])
    per_interval = omega * fmap.dz / (beta_min * C_LIGHT)
    span = 2 * max(1, int(MAX_STEP_PHASE / (2 * per_interval)))
    steps, i = [], 0
    while i < fmap.steps:
        width = next(w for w in (span, 2, 1) if i + w <= fmap.steps)
        mid = i + width // 2 if width > 1 else None
        steps.append((i, mid, i + width, width * fmap.dz))
        i += width

    beta_in, _, p_in = relativistic(w_in, mass)  # P = beta gamma
    state = np.empty((6, coords.shape[1]))
    p = p_in * (1.0 + coords[5])
    state[0], state[2] = coords[0], coords[2]
    state[1], state[3] = coords[1] * p, coords[3] * p
    state[4] = crossing.phi_in - omega * coords[4] / (beta_in * C_LIGHT)
    state[5] = mass * (np.sqrt(1.0 + p * p) - 1.0)
    rate = np.empty_like(state)

    def rates(e: float, de: float, s: np.ndarray) -> np.ndarray:
        beta, _, big_p = relativistic(s[5], mass)
        c, sn = np.cos(s[4]), np.sin(s[4])
        k = (-q / (2 * mass)) * (de * c / beta - k_omega * e * sn)
        rate[0] = s[1] / big_p
        rate[1] = k * s[0]
        rate[2] = s[3] / big_p
        rate[3] = k * s[2]
        rate[4] = k_omega / beta
        rate[5] = (q * e) * c
        return rate.copy()

    # space-charge stretches: consecutive steps of about sc_step; kicks between them
    kicks: dict[int, float] = {}  # step index after which to kick -> kick length [m]
    if space_charge is not None:
        stretches, ends, run = [], [], 0.0
        for n, (*_, h) in enumerate(steps):
            run += h
            if run >= sc_step - 1e-12 or n == len(steps) - 1:
                stretches.append(run)
                ends.append(n)
                run = 0.0
        following = stretches[1:] + [0.0]
        kicks = {n: 0.5 * (a + b) for n, a, b in zip(ends, stretches, following, strict=True)}
        space_charge(state, 0.5 * stretches[0])
    for n, (i, m, j, h) in enumerate(steps):
        em, sm = (
            (values[m], slopes[m])
            if m is not None
            else (0.5 * (values[i] + values[j]), 0.5 * (slopes[i] + slopes[j]))
        )
        k1 = rates(values[i], slopes[i], state)
        k2 = rates(em, sm, state + (0.5 * h) * k1)
        k3 = rates(em, sm, state + (0.5 * h) * k2)
        k4 = rates(values[j], slopes[j], state + h * k3)
        state += (h / 6) * (k1 + 2 * (k2 + k3) + k4)
        if n in kicks:
            space_charge(state, kicks[n])
    x, px, y, py, phi, w = state
    beta_out, _, p_out = relativistic(crossing.w_out, mass)
    p = relativistic(w, mass)[2]
    phi_ref = crossing.phi_in + crossing.phase_advance
    return np.array(
        [
            x,
            px / p,
            y,
            py / p,
            -(phi - phi_ref) * beta_out * C_LIGHT / omega,
            p / p_out - 1.0,
        ]
    )


def solve_entry_phase(
    fmap: FieldMap1D, ke: float, freq: float, w_in: float, phi_s: float, species: Species
) -> float:
    """The entry phase [rad] that gives synchronous phase ``phi_s`` [rad] (secant)."""
    phi = phi_s
    for _ in range(30):
        got = np.angle(cross_field_map(fmap, ke, freq, w_in, phi, species).voltage)
        error = np.angle(np.exp(1j * (got - phi_s)))
        phi -= error
        if abs(error) < 1e-12:
            return float(np.angle(np.exp(1j * phi)))  # in (-pi, pi]
    raise ValueError(f"SET_SYNC_PHASE: no entry phase gives phi_s={np.rad2deg(phi_s)} deg")
