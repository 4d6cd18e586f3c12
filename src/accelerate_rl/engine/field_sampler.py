"""Fields of tabulated FIELD_MAPs at particle positions: interpolation of the 1D, 2D
cylindrical and 3D Cartesian tables of :mod:`accelerate_rl.tracewin.fieldmaps`, scaled by
ke/kb, placed in a block frame (superposition) and summed.

Units: positions [m], electric fields [MV/m], magnetic fields [T]. The static channels
give fields as they are; the RF channels give amplitudes, to be multiplied by
cos(omega t + phi) (electric) and sin(omega t + phi) (magnetic), TraceWin's phasors as
HELIX's manual quotes them.

Interpolation: trilinear in 3D tables, bilinear in (z, r) for 2D ones (Br, Er resolved
along x/r, y/r; B theta of a TM mode along (-y/r, x/r)), linear in z for 1D ones with
the paraxial off-axis terms (Fr = -r/2 dFz/dz; for an RF E map also
B theta = r/(2 c^2) dEz/dt, i.e. amplitude omega r Ez / (2 c^2) on the sine phasor).
Outside a table's box the field is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..tracewin.fieldmaps import FieldMap1D, FieldMap2D, FieldMap3D, FieldMapFiles
from .species import C_LIGHT

#: Field channels and whether each is electric.
ELECTRIC = {"static_e": True, "static_b": False, "rf_e": True, "rf_b": False}


def _trilinear(t: FieldMap3D, grid: np.ndarray, x, y, z) -> np.ndarray:
    """(N, C) values of ``grid`` ((nz+1, ny+1, nx+1, C), the table's nodes) at points."""
    nz, ny, nx = (s - 1 for s in grid.shape[:3])
    fx = (x - t.x[0]) / (t.x[1] - t.x[0]) * nx
    fy = (y - t.y[0]) / (t.y[1] - t.y[0]) * ny
    fz = z / t.length * nz
    inside = (fx >= 0) & (fx <= nx) & (fy >= 0) & (fy <= ny) & (fz >= 0) & (fz <= nz)
    i = np.clip(np.floor(fx).astype(np.intp), 0, nx - 1)
    j = np.clip(np.floor(fy).astype(np.intp), 0, ny - 1)
    k = np.clip(np.floor(fz).astype(np.intp), 0, nz - 1)
    wx, wy, wz = (fx - i)[:, None], (fy - j)[:, None], (fz - k)[:, None]
    c00 = grid[k, j, i] * (1 - wx) + grid[k, j, i + 1] * wx
    c01 = grid[k, j + 1, i] * (1 - wx) + grid[k, j + 1, i + 1] * wx
    c10 = grid[k + 1, j, i] * (1 - wx) + grid[k + 1, j, i + 1] * wx
    c11 = grid[k + 1, j + 1, i] * (1 - wx) + grid[k + 1, j + 1, i + 1] * wx
    out = (c00 * (1 - wy) + c01 * wy) * (1 - wz) + (c10 * (1 - wy) + c11 * wy) * wz
    return np.where(inside[:, None], out, 0.0)


def _bilinear(t: FieldMap2D, grid: np.ndarray, r, z) -> np.ndarray:
    """(N, C) values of ``grid`` ((nz+1, nr+1, C)) at (r, z)."""
    nz, nr = grid.shape[0] - 1, grid.shape[1] - 1
    fr, fz = r / t.rmax * nr, z / t.length * nz
    inside = (fr <= nr) & (fz >= 0) & (fz <= nz)
    i = np.clip(np.floor(fr).astype(np.intp), 0, nr - 1)
    k = np.clip(np.floor(fz).astype(np.intp), 0, nz - 1)
    wr, wz = (fr - i)[:, None], (fz - k)[:, None]
    lo = grid[k, i] * (1 - wr) + grid[k, i + 1] * wr
    hi = grid[k + 1, i] * (1 - wr) + grid[k + 1, i + 1] * wr
    return np.where(inside[:, None], lo * (1 - wz) + hi * wz, 0.0)


def _linear(t: FieldMap1D, grid: np.ndarray, z) -> np.ndarray:
    """(N, C) values of ``grid`` ((nz+1, C)) at z."""
    nz = grid.shape[0] - 1
    fz = z / t.length * nz
    inside = (fz >= 0) & (fz <= nz)
    k = np.clip(np.floor(fz).astype(np.intp), 0, nz - 1)
    w = (fz - k)[:, None]
    return np.where(inside[:, None], grid[k] * (1 - w) + grid[k + 1] * w, 0.0)


@dataclass(eq=False)
class ChannelTable:
    """One channel of one map, ready to interpolate: ``sample(x, y, z)`` -> (3, N) field
    (or amplitude) and, for RF E 1D/2D maps, a (3, N) B amplitude of the TM mode."""

    channel: str
    tables: dict
    scale: float
    omega: float = 0.0
    _grid: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        comps = self.tables
        first = next(iter(comps.values()))
        self.kind = type(first)
        if isinstance(first, FieldMap3D):
            self._grid = np.stack([comps[c].values for c in "xyz"], axis=-1) * self.scale
        elif isinstance(first, FieldMap2D):
            names = ["r", "z"] + (["q"] if "q" in comps else [])
            self._grid = np.stack([comps[c].values for c in names], axis=-1) * self.scale
        else:
            t = comps["z"]
            self._grid = np.stack([t.values, t.derivative()], axis=-1) * self.scale
        self._first = first

    def sample(self, x, y, z) -> tuple[np.ndarray, np.ndarray | None]:
        """The channel's field at points, and the induced magnetic amplitude of an RF E
        1D/2D map (None otherwise)."""
        t = self._first
        if isinstance(t, FieldMap3D):
            return _trilinear(t, self._grid, x, y, z).T, None
        r = np.hypot(x, y)
        safe = np.where(r > 0, r, 1.0)
        cx, cy = np.where(r > 0, x / safe, 0.0), np.where(r > 0, y / safe, 0.0)
        if isinstance(t, FieldMap2D):
            v = _bilinear(t, self._grid, r, z)
            fr, fz = v[:, 0], v[:, 1]
            out = np.stack([fr * cx, fr * cy, fz])
            if v.shape[1] < 3:
                return out, None
            bq = v[:, 2]
            return out, np.stack([-bq * cy, bq * cx, np.zeros_like(bq)])
        v = _linear(t, self._grid, z)
        fz, dfz = v[:, 0], v[:, 1]
        out = np.stack([-0.5 * dfz * x, -0.5 * dfz * y, fz])
        if self.channel != "rf_e":
            return out, None
        # B theta = r/(2c^2) dEz/dt: on the sine phasor with amplitude -omega r Ez/(2 c^2)
        # [MV/m -> V/m: 1e6]; sign: Ez cos(wt+phi) -> dEz/dt = -w Ez sin(wt+phi).
        bq = -self.omega * fz * 1e6 / (2 * C_LIGHT**2)
        return out, np.stack([-bq * y, bq * x, np.zeros_like(bq)])


def _rotation(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """Rotation of a map in its block: about x, then y, then z (R = Rz Ry Rx)."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(eq=False)
class PlacedMap:
    """One FIELD_MAP's channels placed in a block frame: its origin at ``offset`` [m]
    (x0, y0, z0) and rotated by ``angles`` [deg] (about x, y, z)."""

    channels: list[ChannelTable]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    angles: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        self._rot = _rotation(self.angles) if any(self.angles) else None


def placed_map(
    files: FieldMapFiles,
    ke: float,
    kb: float,
    omega: float = 0.0,
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
    angles: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> PlacedMap:
    """The channels of ``files`` scaled by ke (electric) and kb (magnetic)."""
    channels = [
        ChannelTable(name, tables, ke if ELECTRIC[name] else kb, omega)
        for name, tables in files.tables.items()
    ]
    return PlacedMap(channels, offset, angles)


class FieldSum:
    """The summed fields of maps placed in one frame (a lone map or a SUPERPOSE block).

    ``fields(x, y, z)`` -> (static E, static B, RF E amplitude, RF B amplitude), each
    (3, N) [MV/m or T].
    """

    def __init__(self, maps: list[PlacedMap]) -> None:
        self.maps = maps
        names = {c.channel for m in maps for c in m.channels}
        self.rf = bool(names & {"rf_e", "rf_b"})
        self.electric = bool(names & {"static_e", "rf_e"})

    def fields(self, x, y, z) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = np.shape(x)[0]
        out = {k: np.zeros((3, n)) for k in ELECTRIC}
        for m in self.maps:
            pos = np.stack([x, y, z]) - np.asarray(m.offset)[:, None]
            if m._rot is not None:
                pos = m._rot.T @ pos
            for ch in m.channels:
                f, induced = ch.sample(pos[0], pos[1], pos[2])
                if m._rot is not None:
                    f = m._rot @ f
                    induced = None if induced is None else m._rot @ induced
                out[ch.channel] += f
                if induced is not None:
                    out["rf_b"] += induced
        return out["static_e"], out["static_b"], out["rf_e"], out["rf_b"]
