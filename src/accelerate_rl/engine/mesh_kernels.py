"""Compiled particle-mesh loops of :mod:`.spacecharge_mesh`: cloud-in-cell deposition,
the field at the nodes, trilinear interpolation (numba; each particle touches its cell's
8 nodes).

Mesh coordinates: node (i, j, k) sits at ``origin + (i, j, k) * h`` [m]; a particle at
u = (position - origin) / h belongs to the cell whose lowest node is floor(u), clamped to
the mesh (0 .. n - 2 per axis), with weights from the fractional part. Compiled on first
use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _cell(u: float, n: int) -> int:
    i = int(np.floor(u))
    if i < 0:
        return 0
    if i > n - 2:
        return n - 2
    return i


@numba.njit(cache=True)
def deposit(
    positions: np.ndarray, origin: np.ndarray, h: np.ndarray, shape: tuple, charge: float
) -> np.ndarray:
    """Charge [C] on the nodes (nx, ny, nz) of ``positions`` (3, N) [m], each particle
    carrying ``charge`` [C], with trilinear (cloud-in-cell) weights."""
    nx, ny, nz = shape
    rho = np.zeros((nx, ny, nz))
    for p in range(positions.shape[1]):
        ux = (positions[0, p] - origin[0]) / h[0]
        uy = (positions[1, p] - origin[1]) / h[1]
        uz = (positions[2, p] - origin[2]) / h[2]
        i, j, k = _cell(ux, nx), _cell(uy, ny), _cell(uz, nz)
        fx, fy, fz = ux - i, uy - j, uz - k
        for a in range(2):
            wx = (fx if a else 1.0 - fx) * charge
            for b in range(2):
                wxy = wx * (fy if b else 1.0 - fy)
                rho[i + a, j + b, k] += wxy * (1.0 - fz)
                rho[i + a, j + b, k + 1] += wxy * fz
    return rho


@numba.njit(cache=True)
def node_field(phi: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(3, nx, ny, nz) E = -grad phi [V/m] at the nodes of ``phi`` [V]: central
    differences inside, one-sided at the faces (``numpy.gradient``'s edge order 1)."""
    nx, ny, nz = phi.shape
    out = np.empty((3, nx, ny, nz))
    for i in range(nx):
        lo, hi = max(i - 1, 0), min(i + 1, nx - 1)
        scale = -1.0 / ((hi - lo) * h[0])
        for j in range(ny):
            for k in range(nz):
                out[0, i, j, k] = (phi[hi, j, k] - phi[lo, j, k]) * scale
    for j in range(ny):
        lo, hi = max(j - 1, 0), min(j + 1, ny - 1)
        scale = -1.0 / ((hi - lo) * h[1])
        for i in range(nx):
            for k in range(nz):
                out[1, i, j, k] = (phi[i, hi, k] - phi[i, lo, k]) * scale
    for k in range(nz):
        lo, hi = max(k - 1, 0), min(k + 1, nz - 1)
        scale = -1.0 / ((hi - lo) * h[2])
        for i in range(nx):
            for j in range(ny):
                out[2, i, j, k] = (phi[i, j, hi] - phi[i, j, lo]) * scale
    return out


@numba.njit(cache=True)
def gather(
    node_field: np.ndarray, positions: np.ndarray, origin: np.ndarray, h: np.ndarray
) -> np.ndarray:
    """(3, N) the node field (3, nx, ny, nz) interpolated to ``positions`` (3, N) [m]
    with the deposition's weights (so a particle exerts no force on itself)."""
    _, nx, ny, nz = node_field.shape
    n = positions.shape[1]
    out = np.zeros((3, n))
    for p in range(n):
        ux = (positions[0, p] - origin[0]) / h[0]
        uy = (positions[1, p] - origin[1]) / h[1]
        uz = (positions[2, p] - origin[2]) / h[2]
        i, j, k = _cell(ux, nx), _cell(uy, ny), _cell(uz, nz)
        fx, fy, fz = ux - i, uy - j, uz - k
        for a in range(2):
            wx = fx if a else 1.0 - fx
            for b in range(2):
                wxy = wx * (fy if b else 1.0 - fy)
                for c in range(2):
                    w = wxy * (fz if c else 1.0 - fz)
                    for axis in range(3):
                        out[axis, p] += w * node_field[axis, i + a, j + b, k + c]
    return out
