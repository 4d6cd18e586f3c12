"""The linear map of a static magnetic 1D field map (FIELD_MAP geometry 10): Bz(z) on
axis with its paraxial radial field, a solenoid with its fringes."""

from __future__ import annotations

import numpy as np

from ..tracewin.fieldmaps import FieldMap1D


def static_solenoid_map(fmap: FieldMap1D, kb: float, brho: float, gamma: float) -> np.ndarray:
    """(6, 6) linear map through a static on-axis magnetic field Bz(z) = kb * values [T]
    (geometry 10), for rigidity ``brho`` [T.m, signed]: the paraxial equations
    x'' = (y' Bz + y Bz' / 2) / Brho, y'' = -(x' Bz + x Bz' / 2) / Brho (the radial field
    -r Bz' / 2 of the fringes included), integrated with RK4 on the map's grid."""
    field = kb * fmap.values / brho
    slope = kb * fmap.derivative() / brho
    mid, mid_slope = 0.5 * (field[:-1] + field[1:]), 0.5 * (slope[:-1] + slope[1:])
    dz = fmap.dz

    def rate(b: float, db: float) -> np.ndarray:
        a = np.zeros((4, 4))
        a[0, 1] = a[2, 3] = 1.0
        a[1, 3], a[1, 2] = b, 0.5 * db
        a[3, 1], a[3, 0] = -b, -0.5 * db
        return a

    m = np.eye(4)
    for i in range(fmap.steps):
        a1, a2, a4 = (
            rate(field[i], slope[i]),
            rate(mid[i], mid_slope[i]),
            rate(field[i + 1], slope[i + 1]),
        )
        k1 = a1 @ m
        k2 = a2 @ (m + 0.5 * dz * k1)
        k3 = a2 @ (m + 0.5 * dz * k2)
        k4 = a4 @ (m + dz * k3)
        m = m + dz / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    out = np.eye(6)
    out[:4, :4] = m
    out[4, 5] = fmap.length / gamma**2
    return out
