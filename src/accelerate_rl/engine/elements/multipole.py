"""MULTIPOLE n L theta B R: a pure multipole magnet.

Parameter reading [low confidence: from secondary sources, check TraceWin's manual]:
n order (1 dipole, 2 quadrupole, 3 sextupole, ...), L [mm], theta roll angle [deg], B
field at radius R [T], R reference radius and aperture [mm]. Normal field
By + i Bx = B ((x + i y) / R)^(n - 1).

Envelope: the linear part (n = 2, G = B / R) as a quadrupole of length L; higher orders
have no linear effect on a centred beam. Multiparticle: half drift, the integrated
nonlinear kick, half drift (n >= 3); n = 1 and 2 as in envelope mode.
"""

from __future__ import annotations

import numpy as np

from ..species import Kinematics
from .base import ElementModel, focusing_matrix, rotated, rotation


class Multipole(ElementModel):
    keyword = "MULTIPOLE"
    length_param = 2
    aperture_param = 5
    steerable = True

    def validate(self) -> None:
        order = self.p(1)
        if np.any((order < 1) | (order != np.round(order))):
            raise self.unsupported("a multipole order n that is not an integer >= 1")
        if np.any(self.p(5) <= 0) and np.any(order >= 2):
            raise self.unsupported("a reference radius R <= 0")

    @property
    def nonlinear(self) -> bool:
        return self.order >= 3

    @property
    def order(self) -> int:
        return int(self.p(1)[0])

    def _k(self, kin: Kinematics) -> np.ndarray:
        """Quadrupole strength [1/m^2] of the n = 2 component (0 otherwise)."""
        grad = np.where(self.p(1) == 2, self.p(4) / np.maximum(self.p(5) * 1e-3, 1e-30), 0.0)
        return grad / np.asarray(kin.brho, dtype=float)

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        k = self._k(kin)
        m = focusing_matrix(k, -k, self.length_m * fraction, kin.gamma)
        return rotated(m, np.radians(self.p(3)))

    def kick(self, kin: Kinematics) -> np.ndarray | None:
        base = super().kick(kin)
        if self.order != 1:
            return base
        # dipole component: a uniform By = B (theta rolls it)
        theta = np.radians(self.p(3))
        brho = np.asarray(kin.brho, dtype=float)
        angle = self.p(4) * self.length_m / brho
        d = np.zeros((self.batch, 6))
        d[:, 1] = -angle * np.cos(theta)
        d[:, 3] = angle * np.sin(theta)
        half = self.matrix(kin, 0.5)
        d = np.einsum("bij,bj->bi", half, d)
        return d if base is None else d + base

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        if self.order <= 2:
            return super().track(coords, kin)
        half = self.matrix(kin, 0.5)[0]
        x = half @ coords
        theta = float(np.radians(self.p(3)[0]))
        rot = rotation(np.array([theta]))[0]
        x = rot @ x
        r0 = float(self.p(5)[0]) * 1e-3
        w = (x[0] + 1j * x[2]) / r0
        field = float(self.p(4)[0]) * w ** (self.order - 1)  # By + i Bx
        scale = float(self.length_m[0]) / float(kin.brho) / (1.0 + x[5])
        x[1] -= field.real * scale
        x[3] += field.imag * scale
        x = rot.T @ x
        out = half @ x
        d = super().kick(kin)
        if d is not None:
            out += d[0][:, None]
        return out
