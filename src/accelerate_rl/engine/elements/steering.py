"""THIN_STEERING BLx BLy R kind: thin corrector (zero length).

kind 0 magnetic: field integrals BLx, BLy [T.m]; Lorentz force in right-handed (x, y, s)
gives dx' = -BLy / Brho, dy' = +BLx / Brho. kind 1 electric: field integrals E.L [V]
give dx' = ELx / E_rho, dy' = ELy / E_rho. R aperture [mm]. In multiparticle mode the
kick scales as 1 / (1 + delta) (magnetic) or 1 / (1 + (2 - beta^2) delta) (electric).
"""

from __future__ import annotations

import numpy as np

from ..species import Kinematics
from .base import ElementModel


class ThinSteering(ElementModel):
    keyword = "THIN_STEERING"
    aperture_param = 3
    chromatic = True

    def validate(self) -> None:
        if np.any((self.p(4) != 0) & (self.p(4) != 1)):
            raise self.unsupported("a kind other than 0 (magnetic) or 1 (electric)")

    def kick(self, kin: Kinematics) -> np.ndarray:
        electric = self.p(4) == 1
        brho = np.asarray(kin.brho, dtype=float)
        erho = np.asarray(kin.erho, dtype=float)
        d = np.zeros((self.batch, 6))
        d[:, 1] = np.where(electric, self.p(1) / erho, -self.p(2) / brho)
        d[:, 3] = np.where(electric, self.p(2) / erho, self.p(1) / brho)
        return d

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        d = self.kick(kin)[0]
        chroma = (2.0 - float(kin.beta) ** 2) if self.p(4)[0] == 1 else 1.0
        scale = 1.0 / (1.0 + chroma * coords[5])
        out = coords.copy()
        out[1] += d[1] * scale
        out[3] += d[3] * scale
        return out
