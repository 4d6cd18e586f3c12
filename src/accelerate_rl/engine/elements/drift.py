"""DRIFT L R Ry dx dy: field-free space. L [mm]; aperture R [mm] (circular if Ry = 0,
else rectangular with half-widths R, Ry [mm]); dx, dy aperture offsets [mm]."""

from __future__ import annotations

import numpy as np

from ..species import Kinematics
from .base import Aperture, ElementModel, focusing_matrix, pipe_aperture


class Drift(ElementModel):
    keyword = "DRIFT"
    length_param = 1
    steerable = True

    def aperture(self) -> Aperture | None:
        return pipe_aperture(self.p(2), self.p(3), self.p(4), self.p(5))

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        zero = np.zeros(self.batch)
        return focusing_matrix(zero, zero, self.length_m * fraction, kin.gamma)

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        length = float(self.length_m[0])
        out = coords.copy()
        out[0] += length * coords[1]
        out[2] += length * coords[3]
        out[4] += length / float(kin.gamma) ** 2 * coords[5]
        d = self.kick(kin)
        if d is not None:
            out += d[0][:, None]
        return out
