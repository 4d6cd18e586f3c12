"""BEND alpha rho n R HV: sector dipole (its pole faces are EDGE elements).

alpha bending angle [deg] (the sign sets the side), rho curvature radius [mm] (> 0),
n field index (kx^2 = (1 - n) h^2, ky^2 = n h^2), R aperture [mm], HV 0 horizontal /
1 vertical. Length rho * |alpha|. The map is geometric (set by angle and radius), so it
holds for any species. Dispersion: R16 = h (1 - Cx) / kx, R26 = h Sx; path length with z
positive ahead: R51 = -h Sx, R52 = -R16, R56 = L / gamma^2 - h^2 (L - Sx) / kx.
"""

from __future__ import annotations

import numpy as np

from ..species import Kinematics
from .base import ElementModel, identity, plane_functions

#: Exchanges x <-> y (and x' <-> y'): turns a horizontal map into a vertical one.
SWAP_XY = np.eye(6)[[2, 3, 0, 1, 4, 5]]


def half_angle_sinc2(k: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(1 - cos(sqrt(k) L)) / k, smooth at k = 0 (-> L^2 / 2)."""
    u = np.sqrt(np.asarray(k, dtype=complex)) * length / 2
    return (length**2 / 2 * np.sinc(u / np.pi) ** 2).real


def l_minus_s_over_k(k: np.ndarray, length: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(L - S) / k, smooth at k = 0 (-> L^3 / 6)."""
    k = np.asarray(k, dtype=float)
    small = np.abs(k * length**2) < 1e-4
    safe = np.where(small, 1.0, k)
    series = length**3 / 6 - k * length**5 / 120
    return np.where(small, series, (length - s) / safe)


class Bend(ElementModel):
    keyword = "BEND"
    aperture_param = 4

    def validate(self) -> None:
        if np.any(self.p(2) <= 0):
            raise self.unsupported("a curvature radius rho <= 0 (it must be > 0 mm)")
        if np.any((self.p(5) != 0) & (self.p(5) != 1)):
            raise self.unsupported("HV other than 0 (horizontal) or 1 (vertical)")

    @property
    def angle_rad(self) -> np.ndarray:
        return np.radians(self.p(1))

    @property
    def length_m(self) -> np.ndarray:
        return self.p(2) * 1e-3 * np.abs(self.angle_rad)

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        h = np.sign(self.angle_rad) / (self.p(2) * 1e-3)
        n = self.p(3)
        length = self.length_m * fraction
        kx, ky = (1 - n) * h * h, n * h * h
        cx, sx = plane_functions(kx, length)
        cy, sy = plane_functions(ky, length)
        d = h * half_angle_sinc2(kx, length)
        m = identity(self.batch)
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cx, sx, -kx * sx, cx
        m[:, 2, 2], m[:, 2, 3], m[:, 3, 2], m[:, 3, 3] = cy, sy, -ky * sy, cy
        m[:, 0, 5], m[:, 1, 5] = d, h * sx
        m[:, 4, 0], m[:, 4, 1] = -h * sx, -d
        m[:, 4, 5] = length / np.asarray(kin.gamma) ** 2 - h * h * l_minus_s_over_k(kx, length, sx)
        vertical = self.p(5) == 1
        if np.any(vertical):
            m[vertical] = SWAP_XY @ m[vertical] @ SWAP_XY
        return m
