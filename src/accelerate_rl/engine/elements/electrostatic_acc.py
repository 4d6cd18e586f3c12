"""ELECTROSTA_ACC V L K R: a DC accelerating column, V [V] across L [mm], aperture R [mm].

Inside, a uniform longitudinal field E = V / L; a particle of charge q gains
G = q E [MeV/m] per metre, q V in all. The paraxial motion is solved exactly for every
particle (total energy Et = Et0 + G s, momentum pc(Et), transverse momentum constant):

    x(L) = x0 + x0' p0c [acosh(Et1 / mc2) - acosh(Et0 / mc2)] / G,   x'(L) = x0' p0c / p1c
    t(L) = (p1c - p0c) / (G c)

K = 1 adds the end fields' aperture lenses (Davisson-Calbick, relativistic): at the
entry, where Ez rises from 0 to E, dx' = -x G / (2 beta0 p0c) (focusing for an
accelerating column), at the exit dx' = +x G / (2 beta1 p1c); K = 0 leaves them out (a
column with field-shaping electrodes). The meaning of K is our reading of TraceWin's
element list (no manual text was found): a note says so when K is 1. The envelope's
linear map is the Jacobian of the particle solution at the reference.
"""

from __future__ import annotations

import numpy as np

from ..rf import Crossing
from ..species import C_LIGHT, Kinematics, relativistic
from .rf_base import RFElement

#: Step of the central differences giving the linear map (internal units).
JACOBIAN_STEP = 1e-7


def track_column(
    coords: np.ndarray, kin: Kinematics, volts: float, length: float, lenses: float
) -> np.ndarray:
    """Particles (6, N) through the column: ``volts`` [V] over ``length`` [m] from the
    reference's entry kinematics ``kin``; ``lenses`` (0..1) scales the end-field kicks."""
    species = kin.species
    mass, q = species.mass, species.charge
    w_ref = float(np.asarray(kin.energy).reshape(-1)[0])
    gain = q * volts * 1e-6  # [MeV]
    b_ref_in, _, p_ref_in = relativistic(w_ref, mass)  # p as beta gamma
    b_ref_out, _, p_ref_out = relativistic(w_ref + gain, mass)
    p0 = p_ref_in * (1.0 + coords[5])
    e0 = mass * np.sqrt(1.0 + p0 * p0)  # total energy [MeV]
    e1 = e0 + gain
    with np.errstate(invalid="ignore"):  # particles stopped by the field: NaN, lost
        p1 = np.sqrt(np.where(e1 > mass, e1 * e1 - mass * mass, np.nan)) / mass
    b0, b1 = p0 / np.sqrt(1 + p0 * p0), p1 / np.sqrt(1 + p1 * p1)
    out = coords.copy()
    xp, yp = coords[1].copy(), coords[3].copy()
    g = lenses * gain / length  # the end fields' gradient [MeV/m], scaled by K
    if g:
        xp -= coords[0] * g / (2 * b0 * p0 * mass)
        yp -= coords[2] * g / (2 * b0 * p0 * mass)
    if gain:
        reach = p0 * (np.arccosh(e1 / mass) - np.arccosh(e0 / mass)) * length / gain * mass
        dt = (p1 - p0) * mass * length / (gain * C_LIGHT)  # [s]
    else:
        reach = np.full_like(p0, length)
        dt = length / (b0 * C_LIGHT)
    out[0] = coords[0] + xp * reach
    out[2] = coords[2] + yp * reach
    out[1] = xp * p0 / p1
    out[3] = yp * p0 / p1
    if g:
        out[1] += out[0] * g / (2 * b1 * p1 * mass)
        out[3] += out[2] * g / (2 * b1 * p1 * mass)
    # time relative to the reference: entry offset -z / (beta c), then the transit's
    dt_ref = column_transit(w_ref, kin, volts, length)
    late = -coords[4] / (b_ref_in * C_LIGHT) + (dt - dt_ref)
    out[4] = -late * b_ref_out * C_LIGHT
    out[5] = p1 / p_ref_out - 1.0
    return out


def column_transit(w_in: float, kin: Kinematics, volts: float, length: float) -> float:
    """The reference particle's time through the column [s] from ``w_in`` [MeV]."""
    mass = kin.species.mass
    gain = kin.species.charge * volts * 1e-6
    b0, _, p0 = relativistic(w_in, mass)
    if not gain:
        return length / (b0 * C_LIGHT)
    p1 = relativistic(w_in + gain, mass)[2]
    return (p1 - p0) * mass * length / (gain * C_LIGHT)


class ElectrostaticAcc(RFElement):
    keyword = "ELECTROSTA_ACC"
    length_param = 2
    aperture_param = 4
    cavity = False  # no RF: not a line of Cav_set_point_res.dat

    def validate(self) -> None:
        if np.any(self.p(2) <= 0):
            raise self.unsupported("a length L <= 0")
        if np.any((self.p(3) < 0) | (self.p(3) > 1)):
            raise self.unsupported("K outside 0 (no end lenses) .. 1 (end-field lenses)")

    def notes(self) -> list[str]:
        if np.any(self.p(3) != 0):
            return [
                f"{self.source.describe()}: K = {float(self.p(3)[0]):g} read as the fraction "
                "of the end fields' aperture lenses (Davisson-Calbick) applied; TraceWin's "
                "definition of K was not found"
            ]
        return []

    @property
    def absolute(self) -> bool:
        return False  # a DC field: no phase

    def _track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        return track_column(
            coords, kin, float(self.p(1)[0]), float(self.length_m[0]), float(self.p(3)[0])
        )

    def _cross(self, kin: Kinematics, time: float | None) -> Crossing:
        species = kin.species
        w_in = float(np.asarray(kin.energy).reshape(-1)[0])
        w_out = w_in + species.charge * float(self.p(1)[0]) * 1e-6
        if w_out <= 0:
            raise self.unsupported(f"a voltage that stops the reference particle ({w_out:g} MeV)")
        step = np.eye(6) * JACOBIAN_STEP
        plus, minus = self._track(step, kin), self._track(-step, kin)
        matrix = (plus - minus) / (2 * JACOBIAN_STEP)
        transit = column_transit(w_in, kin, float(self.p(1)[0]), float(self.length_m[0]))
        return Crossing(float(w_out), self.omega * transit, 0j, 0.0, matrix)

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        if fraction != 1.0:
            raise self.unsupported("a partial ELECTROSTA_ACC")
        return self.crossing(kin).matrix[None].copy()

    @property
    def nonlinear(self) -> bool:
        return True

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        return self._track(coords, kin)
