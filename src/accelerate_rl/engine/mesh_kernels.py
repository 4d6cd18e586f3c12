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
def _locate(positions: np.ndarray, p: int, origin: np.ndarray, h: np.ndarray, shape: tuple):
    """Particle p's cell (i, j, k) and fractional offsets (fx, fy, fz) in it."""
    ux = (positions[0, p] - origin[0]) / h[0]
    uy = (positions[1, p] - origin[1]) / h[1]
    uz = (positions[2, p] - origin[2]) / h[2]
    i, j, k = _cell(ux, shape[0]), _cell(uy, shape[1]), _cell(uz, shape[2])
    return i, j, k, ux - i, uy - j, uz - k


@numba.njit(cache=True)
def deposit(
    positions: np.ndarray, origin: np.ndarray, h: np.ndarray, shape: tuple, out: np.ndarray
) -> None:
    """Particles per node of ``positions`` (3, N) [m], with trilinear (cloud-in-cell)
    weights, into ``out[:nx, :ny, :nz]`` (zeroed first; ``out`` may be a larger,
    zero-padded buffer of any float type)."""
    out[: shape[0], : shape[1], : shape[2]] = 0.0
    for p in range(positions.shape[1]):
        i, j, k, fx, fy, fz = _locate(positions, p, origin, h, shape)
        for a in range(2):
            wx = fx if a else 1.0 - fx
            for b in range(2):
                wxy = wx * (fy if b else 1.0 - fy)
                out[i + a, j + b, k] += wxy * (1.0 - fz)
                out[i + a, j + b, k + 1] += wxy * fz


@numba.njit(cache=True)
def node_field(phi: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(nx, ny, nz, 3) E = -grad phi [V/m] at the nodes of ``phi`` [V] (components last,
    so a gather reads each node once): central differences inside, one-sided at the
    faces (``numpy.gradient``'s edge order 1)."""
    nx, ny, nz = phi.shape
    out = np.empty((nx, ny, nz, 3))
    for i in range(nx):
        i0, i1 = max(i - 1, 0), min(i + 1, nx - 1)
        for j in range(ny):
            j0, j1 = max(j - 1, 0), min(j + 1, ny - 1)
            for k in range(nz):
                k0, k1 = max(k - 1, 0), min(k + 1, nz - 1)
                out[i, j, k, 0] = (phi[i0, j, k] - phi[i1, j, k]) / ((i1 - i0) * h[0])
                out[i, j, k, 1] = (phi[i, j0, k] - phi[i, j1, k]) / ((j1 - j0) * h[1])
                out[i, j, k, 2] = (phi[i, j, k0] - phi[i, j, k1]) / ((k1 - k0) * h[2])
    return out


@numba.njit(cache=True)
def gather(
    node_field: np.ndarray, positions: np.ndarray, origin: np.ndarray, h: np.ndarray
) -> np.ndarray:
    """(3, N) the node field (nx, ny, nz, 3) interpolated to ``positions`` (3, N) [m]
    with the deposition's weights (so a particle exerts no force on itself)."""
    shape = node_field.shape[:3]
    n = positions.shape[1]
    out = np.empty((3, n))
    for p in range(n):
        i, j, k, fx, fy, fz = _locate(positions, p, origin, h, shape)
        ex = ey = ez = 0.0
        for a in range(2):
            wx = fx if a else 1.0 - fx
            for b in range(2):
                wxy = wx * (fy if b else 1.0 - fy)
                for c in range(2):
                    w = wxy * (fz if c else 1.0 - fz)
                    ex += w * node_field[i + a, j + b, k + c, 0]
                    ey += w * node_field[i + a, j + b, k + c, 1]
                    ez += w * node_field[i + a, j + b, k + c, 2]
        out[0, p], out[1, p], out[2, p] = ex, ey, ez
    return out
