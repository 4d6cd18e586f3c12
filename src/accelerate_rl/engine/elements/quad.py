"""QUAD L G R theta G3 G4 G5 G6 GFR: magnetic quadrupole.

L [mm], G [T/m] (G > 0 focuses x for a positive charge), R aperture radius [mm], theta
skew angle [deg]. Higher-order components G3..G6 are not modelled (an error if set).
Multiparticle tracking is chromatic: each particle sees k / (1 + delta).

A defocusing plane grows a beam by cosh(sqrt(|k|) L); beyond MAX_GROWTH the transfer
matrix no longer holds a number of significant digits (its determinant cosh^2 - sinh^2
cancels to 0: TraceWin's own output overflows there), so such a quadrupole is refused
with a message naming it, its strength and the growth, not a linear-algebra error.
"""

from __future__ import annotations

import numpy as np

from ..species import Kinematics
from .base import ElementModel, focusing_matrix, plane_functions, rotated, rotation

#: Largest envelope growth cosh(sqrt(|k|) L) of a defocusing plane the engine accepts:
#: beyond it the map's 1e-16 relative precision leaves no digit of its inverse.
MAX_GROWTH = 1e7


class Quad(ElementModel):
    keyword = "QUAD"
    length_param = 1
    aperture_param = 3
    chromatic = True
    steerable = True

    def validate(self) -> None:
        for v, name in ((5, "G3"), (6, "G4"), (7, "G5"), (8, "G6")):
            if np.any(self.p(v)):
                raise self.unsupported(f"the {name} higher-order component")

    def strength(self, kin: Kinematics) -> np.ndarray:
        """Focusing strength k [1/m^2] of the reference particle (> 0 focuses x)."""
        return self.p(2) / np.asarray(kin.brho, dtype=float)

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        k = self.strength(kin)
        self._check_growth(k, kin)
        m = focusing_matrix(k, -k, self.length_m * fraction, kin.gamma)
        return rotated(m, np.radians(self.p(4)))

    def _check_growth(self, k: np.ndarray, kin: Kinematics) -> None:
        growth = np.cosh(np.sqrt(np.abs(k)) * self.length_m)
        if np.any(growth > MAX_GROWTH):
            b = int(np.argmax(growth))
            energy = float(np.asarray(kin.energy).reshape(-1)[0])
            raise ValueError(
                f"{self.source.describe()}: G = {self.p(2)[b]:g} T/m over "
                f"L = {self.p(1)[b]:g} mm at {energy:g} MeV (k = {k[b]:.4g} 1/m^2) grows the "
                f"beam in its defocusing plane by cosh(sqrt(|k|) L) = {growth[b]:.3g}: the "
                "beam is lost and the transfer matrix is beyond floating-point precision "
                "(TraceWin's output overflows too); shorten the quadrupole or lower G"
            )

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        return track_chromatic_quad(self, coords, kin, float(self.strength(kin)[0]), 1.0)

    def track_slice(self, coords: np.ndarray, kin: Kinematics, fraction: float) -> np.ndarray:
        k0 = float(self.strength(kin)[0])
        return track_chromatic_quad(self, coords, kin, k0, 1.0, fraction)


def track_chromatic_quad(
    element: ElementModel,
    coords: np.ndarray,
    kin: Kinematics,
    k0: float,
    chroma: float,
    fraction: float = 1.0,
) -> np.ndarray:
    """Track through a (possibly skew) quadrupole with per-particle k = k0 / (1 + chroma*delta)
    (its first ``fraction``, without the steering kick, when ``fraction`` < 1)."""
    theta = float(np.radians(element.p(4)[0]))
    length = float(element.length_m[0]) * fraction
    x = rotation(np.array([theta]))[0] @ coords if theta else coords.copy()
    k = k0 / (1.0 + chroma * x[5])
    cx, sx = plane_functions(k, length)
    cy, sy = plane_functions(-k, length)
    out = x.copy()
    out[0] = cx * x[0] + sx * x[1]
    out[1] = -k * sx * x[0] + cx * x[1]
    out[2] = cy * x[2] + sy * x[3]
    out[3] = k * sy * x[2] + cy * x[3]
    out[4] = x[4] + length / float(kin.gamma) ** 2 * x[5]
    if theta:
        out = rotation(np.array([theta]))[0].T @ out
    d = element.kick(kin) if fraction == 1.0 else None
    if d is not None:
        out += d[0][:, None]
    return out
