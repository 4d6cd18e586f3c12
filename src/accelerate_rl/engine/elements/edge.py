"""EDGE beta rho gap K1 K2 R HV: pole face of a dipole (zero length).

beta pole-face rotation [deg] (> 0 defocuses in the bending plane, as in a rectangular
magnet, whichever side the BEND bends), rho [mm], gap full gap [mm], K1 and K2 fringe
integrals, R aperture [mm], HV 0 horizontal / 1 vertical. TRANSPORT's thin map:
R21 = tan(beta) / rho, R43 = -tan(beta - psi) / rho with
psi = K1 (gap / rho) (1 + sin^2 beta) / cos beta (1 - K1 K2 (gap / rho) tan beta).
"""

from __future__ import annotations

import numpy as np

from ..species import Kinematics
from .base import ElementModel, identity
from .bend import SWAP_XY


class Edge(ElementModel):
    keyword = "EDGE"
    aperture_param = 6

    def validate(self) -> None:
        if np.any(self.p(2) <= 0):
            raise self.unsupported("a curvature radius rho <= 0 (it must be > 0 mm)")

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        beta = np.radians(self.p(1))
        h = 1.0 / (self.p(2) * 1e-3)
        g_h = self.p(3) * 1e-3 * h
        k1, k2 = self.p(4), self.p(5)
        psi = k1 * g_h * (1 + np.sin(beta) ** 2) / np.cos(beta) * (1 - k1 * k2 * g_h * np.tan(beta))
        m = identity(self.batch)
        m[:, 1, 0] = h * np.tan(beta)
        m[:, 3, 2] = -h * np.tan(beta - psi)
        vertical = self.p(7) == 1
        if np.any(vertical):
            m[vertical] = SWAP_XY @ m[vertical] @ SWAP_XY
        return m
