"""SOLENOID L B R: solenoid. L [mm], B [T] on axis, R aperture radius [mm].

Hard-edge map with K = B / (2 Brho) (the same convention as Cheetah); x and y couple
through the Larmor rotation. Chromatic in multiparticle mode: K / (1 + delta).
"""

from __future__ import annotations

import numpy as np

from ..species import Kinematics
from .base import ElementModel, identity


def solenoid_matrix(k: np.ndarray, length: np.ndarray, gamma) -> np.ndarray:
    """(..., 6, 6) solenoid map for K [1/m] (any shape) and length [m]."""
    k = np.asarray(k, dtype=float)
    shape = np.broadcast_shapes(k.shape, np.shape(length))
    c, s = np.cos(k * length), np.sin(k * length)
    sk = length * np.sinc(k * length / np.pi)  # sin(KL)/K, smooth at K = 0
    m = np.broadcast_to(np.eye(6), (*shape, 6, 6)).copy()
    cc, sc, ss = c * c, s * c, s * s
    m[..., 0, 0], m[..., 0, 1], m[..., 0, 2], m[..., 0, 3] = cc, c * sk, sc, s * sk
    m[..., 1, 0], m[..., 1, 1], m[..., 1, 2], m[..., 1, 3] = -k * sc, cc, -k * ss, sc
    m[..., 2, 0], m[..., 2, 1], m[..., 2, 2], m[..., 2, 3] = -sc, -s * sk, cc, c * sk
    m[..., 3, 0], m[..., 3, 1], m[..., 3, 2], m[..., 3, 3] = k * ss, -sc, -k * sc, cc
    m[..., 4, 5] = length / np.asarray(gamma) ** 2
    return m


class Solenoid(ElementModel):
    keyword = "SOLENOID"
    length_param = 1
    aperture_param = 3
    chromatic = True

    def strength(self, kin: Kinematics) -> np.ndarray:
        """K = B / (2 Brho) [1/m]."""
        return self.p(2) / (2.0 * np.asarray(kin.brho, dtype=float))

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        if not np.any(self.p(2)):
            m = identity(self.batch)
            length = self.length_m * fraction
            m[:, 0, 1] = m[:, 2, 3] = length
            m[:, 4, 5] = length / np.asarray(kin.gamma) ** 2
            return m
        return solenoid_matrix(self.strength(kin), self.length_m * fraction, kin.gamma)

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        return self.track_slice(coords, kin, 1.0)

    def track_slice(self, coords: np.ndarray, kin: Kinematics, fraction: float) -> np.ndarray:
        k = float(self.strength(kin)[0]) / (1.0 + coords[5])
        m = solenoid_matrix(k, float(self.length_m[0]) * fraction, kin.gamma)  # (N, 6, 6)
        return np.einsum("nij,jn->in", m, coords)
