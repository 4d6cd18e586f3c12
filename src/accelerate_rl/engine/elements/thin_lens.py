"""THIN_LENS fx fy R: thin lens with focal lengths fx, fy [mm] (> 0 focuses; 0 means no
lens in that plane), R aperture [mm]."""

from __future__ import annotations

import numpy as np

from ..species import Kinematics
from .base import ElementModel, identity


class ThinLens(ElementModel):
    keyword = "THIN_LENS"
    aperture_param = 3

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        m = identity(self.batch)
        for row, f in ((1, self.p(1)), (3, self.p(2))):
            f_m = f * 1e-3
            m[:, row, row - 1] = np.where(f_m != 0, -1.0 / np.where(f_m != 0, f_m, 1.0), 0.0)
        return m
