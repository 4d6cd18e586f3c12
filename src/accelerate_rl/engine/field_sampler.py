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

from copy import copy
from dataclasses import dataclass, field

import numpy as np

from ..tracewin.fieldmaps import FieldMap2D, FieldMap3D, FieldMapFiles
from .species import C_LIGHT

#: Field channels and whether each is electric.
ELECTRIC = {"static_e": True, "static_b": False, "rf_e": True, "rf_b": False}


def _z_weights(length: float, nz: int, z: float) -> tuple[int, float] | None:
    """Cell index and weight of the longitudinal position z [m], None outside [0, L]."""
    fz = z / length * nz
    if fz < 0 or fz > nz:
        return None
    k = min(int(fz), nz - 1)
    return k, fz - k


def _bilinear_xy(slab: np.ndarray, t: FieldMap3D, x, y) -> np.ndarray:
    """(N, C) values of ``slab`` ((ny+1, nx+1, C), one z) at the points (x, y)."""
    ny, nx = slab.shape[0] - 1, slab.shape[1] - 1
    flat = slab.reshape(-1, slab.shape[2])
    fx = (x - t.x[0]) * (nx / (t.x[1] - t.x[0]))
    fy = (y - t.y[0]) * (ny / (t.y[1] - t.y[0]))
    inside = (fx >= 0) & (fx <= nx) & (fy >= 0) & (fy <= ny)
    i = np.minimum(np.maximum(fx, 0).astype(np.intp), nx - 1)
    j = np.minimum(np.maximum(fy, 0).astype(np.intp), ny - 1)
    wx, wy = (fx - i)[:, None], (fy - j)[:, None]
    base = j * (nx + 1) + i
    c00, c01 = flat.take(base, axis=0), flat.take(base + 1, axis=0)
    c10, c11 = flat.take(base + nx + 1, axis=0), flat.take(base + nx + 2, axis=0)
    lo = c00 + (c01 - c00) * wx
    out = lo + (c10 + (c11 - c10) * wx - lo) * wy
    if not inside.all():
        out[~inside] = 0.0
    return out


def _linear_r(slab: np.ndarray, rmax: float, r) -> np.ndarray:
    """(N, C) values of ``slab`` ((nr+1, C), one z) at radii r."""
    nr = slab.shape[0] - 1
    fr = r * (nr / rmax)
    i = np.clip(fr.astype(np.intp), 0, nr - 1)
    w = (fr - i)[:, None]
    out = slab[i] + (slab[i + 1] - slab[i]) * w
    out[fr > nr] = 0.0
    return out


@dataclass(eq=False)
class ChannelTable:
    """Channels of one map on one grid, ready to interpolate: ``sample(x, y, z)`` ->
    [(channel, (3, N) field or amplitude)], with the B amplitude of the TM mode of an RF
    E 1D/2D map added as "rf_b". Several 3D channels on the same box share one table.

    Attributes:
        channels: channel names. tables: their component tables. scales: ke or kb each.
        omega: RF angular frequency [rad/s] (the induced B of a 1D RF E map).
    """

    channels: tuple[str, ...]
    tables: tuple[dict, ...]
    scales: tuple[float, ...]
    omega: float = 0.0
    _grid: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        first = next(iter(self.tables[0].values()))
        self._first = first
        parts = []
        for comps, scale in zip(self.tables, self.scales, strict=True):
            if isinstance(first, FieldMap3D):
                names = ["x", "y", "z"]
            elif isinstance(first, FieldMap2D):
                names = ["r", "z"] + (["q"] if "q" in comps else [])
            else:
                t = comps["z"]
                parts += [t.values * scale, t.derivative() * scale]
                continue
            parts += [comps[c].values * scale for c in names]
        self._grid = np.stack(parts, axis=-1)

    def _slab(self, z: float) -> np.ndarray | None:
        """The table interpolated to the plane z [m] (None outside the map)."""
        cell = _z_weights(self._first.length, self._grid.shape[0] - 1, z)
        if cell is None:
            return None
        k, w = cell
        return self._grid[k] + (self._grid[k + 1] - self._grid[k]) * w

    def sample(self, x, y, z) -> list[tuple[str, np.ndarray]]:
        """Each channel's field (3, N) at the points (x, y) of the plane z [m] (nothing
        outside the map); z per particle (an array) for 3D tables."""
        if np.ndim(z):
            return self._sample_points(x, y, z)
        slab = self._slab(z)
        if slab is None:
            return []
        t = self._first
        if isinstance(t, FieldMap3D):
            v = _bilinear_xy(slab, t, x, y).T
            return [(ch, v[3 * n : 3 * n + 3]) for n, ch in enumerate(self.channels)]
        (channel,) = self.channels
        if isinstance(t, FieldMap2D):
            r = np.hypot(x, y)
            v = _linear_r(slab, t.rmax, r)
            inv = np.divide(1.0, r, out=np.zeros_like(r), where=r > 0)
            fr_r = v[:, 0] * inv  # Fr / r
            out = [(channel, np.stack([fr_r * x, fr_r * y, v[:, 1]]))]
            if v.shape[1] > 2:
                bq_r = v[:, 2] * inv
                induced = "rf_b" if channel == "rf_e" else "rf_e"
                out.append((induced, np.stack([-bq_r * y, bq_r * x, np.zeros_like(bq_r)])))
            return out
        fz, dfz = slab[0], slab[1]
        out = [(channel, np.stack([-0.5 * dfz * x, -0.5 * dfz * y, np.full_like(x, fz)]))]
        if channel == "rf_e":
            # B theta = r/(2c^2) dEz/dt on the sine phasor: amplitude -omega r Ez/(2 c^2)
            # [MV/m -> V/m: 1e6]; Ez cos(wt+phi) -> dEz/dt = -w Ez sin(wt+phi).
            bq = -self.omega * fz * 1e6 / (2 * C_LIGHT**2)
            out.append(("rf_b", np.stack([-bq * y, bq * x, np.zeros_like(x)])))
        return out

    def _sample_points(self, x, y, z) -> list[tuple[str, np.ndarray]]:
        """Trilinear interpolation at points with their own z (3D tables only)."""
        t = self._first
        if not isinstance(t, FieldMap3D):
            raise ValueError("fields off one integration plane need 3D tables")
        grid = self._grid
        nz, ny, nx = (s - 1 for s in grid.shape[:3])
        flat = grid.reshape(-1, grid.shape[-1])
        fx = (x - t.x[0]) * (nx / (t.x[1] - t.x[0]))
        fy = (y - t.y[0]) * (ny / (t.y[1] - t.y[0]))
        fz = z * (nz / t.length)
        inside = (fx >= 0) & (fx <= nx) & (fy >= 0) & (fy <= ny) & (fz >= 0) & (fz <= nz)
        fx, fy, fz = (np.where(inside, f, 0.0) for f in (fx, fy, fz))  # NaN, outside: 0
        i = np.minimum(fx.astype(np.intp), nx - 1)
        j = np.minimum(fy.astype(np.intp), ny - 1)
        k = np.minimum(fz.astype(np.intp), nz - 1)
        wx, wy, wz = (fx - i)[:, None], (fy - j)[:, None], (fz - k)[:, None]
        row, plane = nx + 1, (nx + 1) * (ny + 1)
        base = k * plane + j * row + i
        out = np.zeros((len(x), grid.shape[-1]))
        for dz, w_z in ((0, 1 - wz), (plane, wz)):
            c00 = flat.take(base + dz, axis=0)
            c01 = flat.take(base + dz + 1, axis=0)
            c10 = flat.take(base + dz + row, axis=0)
            c11 = flat.take(base + dz + row + 1, axis=0)
            lo = c00 + (c01 - c00) * wx
            out += (lo + (c10 + (c11 - c10) * wx - lo) * wy) * w_z
        out[~inside] = 0.0
        v = out.T
        return [(ch, v[3 * n : 3 * n + 3]) for n, ch in enumerate(self.channels)]


def _rotation(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """Rotation of a map in its block about the z axis (the only one supported: maps
    tilted about x or y would need fields off the integration plane)."""
    ax, ay, az = np.deg2rad(angles_deg)
    if ax or ay:
        raise ValueError("a superposed map rotated about x or y is not supported")
    return np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])


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
    """The channels of ``files`` scaled by ke (electric) and kb (magnetic); 3D channels
    on the same box share one table."""
    groups: dict[tuple, list[str]] = {}
    for name, tables in files.tables.items():
        first = next(iter(tables.values()))
        if isinstance(first, FieldMap3D):
            key = ("3d", first.values.shape, first.x, first.y, first.length)
        else:
            key = (name,)
        groups.setdefault(key, []).append(name)
    channels = [
        ChannelTable(
            tuple(names),
            tuple(files.tables[n] for n in names),
            tuple(ke if ELECTRIC[n] else kb for n in names),
            omega,
        )
        for names in groups.values()
    ]
    return PlacedMap(channels, offset, angles)


def _box(table: ChannelTable) -> tuple:
    t = table._first
    return (type(t), table._grid.shape, getattr(t, "x", None), getattr(t, "y", None), t.length)


def _merge_static(maps: list[PlacedMap]) -> list[PlacedMap]:
    """Static maps placed alike on the same grid (ADIGE's four superposed multipole
    maps) summed into one table: one interpolation instead of one per map."""
    if len(maps) < 2:
        return maps
    first = maps[0]
    tables = [t for m in maps for t in m.channels]
    same = all(
        m.offset == first.offset and m.angles == first.angles and len(m.channels) == 1 for m in maps
    )
    static = not any(ch in ("rf_e", "rf_b") for t in tables for ch in t.channels)
    if not (same and static and len({(_box(t), t.channels) for t in tables}) == 1):
        return maps
    merged = copy(tables[0])
    merged._grid = np.sum([t._grid for t in tables], axis=0)
    return [PlacedMap([merged], first.offset, first.angles)]


class FieldSum:
    """The summed fields of maps placed in one frame (a lone map or a SUPERPOSE block).

    ``fields(x, y, z, t, omega, phases)`` -> (E [MV/m], B [T], Ez of the RF channels
    along particle 0 as a complex phasor [MV/m]), E and B (3, N); map i's RF channels
    carry cos / sin(omega t + phases[i]).
    """

    def __init__(self, maps: list[PlacedMap]) -> None:
        self.maps = _merge_static(maps)
        names = {name for m in maps for c in m.channels for name in c.channels}
        self.rf = bool(names & {"rf_e", "rf_b"})
        self.electric = bool(names & {"static_e", "rf_e"})

    def fields(
        self, x, y, z, t=None, omega: float = 0.0, phases: tuple[float, ...] = ()
    ) -> tuple[np.ndarray, np.ndarray, complex]:
        """Fields at the points (x, y, z) [m] of the block frame at times t [s]; z is a
        number (the integration plane) or one value per particle."""
        n = np.shape(x)[0]
        e, b = np.zeros((3, n)), np.zeros((3, n))
        integrand = 0j
        for i, m in enumerate(self.maps):
            px, py, pz = x - m.offset[0], y - m.offset[1], z - m.offset[2]
            if m._rot is not None:
                px, py = (
                    m._rot[0, 0] * px + m._rot[1, 0] * py,
                    m._rot[0, 1] * px + m._rot[1, 1] * py,
                )
            phase = None
            for table in m.channels:
                for channel, f in table.sample(px, py, pz):
                    if m._rot is not None:
                        f = m._rot @ f
                    if channel in ("rf_e", "rf_b"):
                        if phase is None:
                            phase = omega * t + (phases[i] if phases else 0.0)
                        if channel == "rf_e":
                            integrand += complex(f[2, 0]) * np.exp(1j * phase[0])
                            f = f * np.cos(phase)
                        else:
                            f = f * np.sin(phase)
                    if ELECTRIC[channel]:
                        e += f
                    else:
                        b += f
        return e, b, integrand
