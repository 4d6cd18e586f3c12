"""QUAD_ELE L V R theta V3 V4 V5 V6: electrostatic quadrupole.

L [mm]; V [V] the voltage between adjacent electrodes (electrodes at +-V/2), giving a
field gradient V / R^2; R aperture radius [mm]; theta skew angle [deg]. The focusing
strength is k = V / (R^2 E_rho) with E_rho = p v / q the electric rigidity; V > 0 focuses
x for a positive charge. Chromatic: k scales as 1 / (1 + (2 - beta^2) delta).
"""

from __future__ import annotations

import numpy as np

from ..species import Kinematics
from .base import ElementModel, focusing_matrix, rotated
from .quad import track_chromatic_quad


class QuadEle(ElementModel):
    keyword = "QUAD_ELE"
    length_param = 1
    aperture_param = 3
    chromatic = True

    def validate(self) -> None:
        if np.any(self.p(3) <= 0):
            raise self.unsupported("an aperture R <= 0 (it sets the gradient V/R^2)")
        for v, name in ((5, "V3"), (6, "V4"), (7, "V5"), (8, "V6")):
            if np.any(self.p(v)):
                raise self.unsupported(f"the {name} higher-order component")

    def strength(self, kin: Kinematics) -> np.ndarray:
        r = self.p(3) * 1e-3
        return self.p(2) / (r * r * np.asarray(kin.erho, dtype=float))

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        k = self.strength(kin)
        m = focusing_matrix(k, -k, self.length_m * fraction, kin.gamma)
        return rotated(m, np.radians(self.p(4)))

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        chroma = 2.0 - float(kin.beta) ** 2
        return track_chromatic_quad(self, coords, kin, float(self.strength(kin)[0]), chroma)

    def track_slice(self, coords: np.ndarray, kin: Kinematics, fraction: float) -> np.ndarray:
        chroma = 2.0 - float(kin.beta) ** 2
        k0 = float(self.strength(kin)[0])
        return track_chromatic_quad(self, coords, kin, k0, chroma, fraction)
