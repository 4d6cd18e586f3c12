"""1D field maps (TraceWin ``FIELD_MAP`` geometries 100 and 10): reading, and the linear
map of a static magnetic one.

File layout (``.edz`` for an RF electric field on axis, ``.bsz`` for a static magnetic
field on axis): first line ``nz zmax`` (steps, length [m]), second line the norm, then
nz + 1 field values on a regular grid from z = 0 to zmax. TraceWin scales the field by
``k / norm`` (``ke`` for E, ``kb`` for B); E values are in MV/m, B values in T.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..tracewin.errors import TraceWinFormatError

#: File extension of each supported FIELD_MAP geometry.
EXTENSIONS = {100: ".edz", 10: ".bsz"}


@dataclass(frozen=True, eq=False)
class FieldMap1D:
    """An on-axis field sampled on a regular grid.

    Attributes:
        path: the file. length: zmax [m]. values: (nz + 1,) field / norm (MV/m or T per
        unit of ``ke``/``kb``).
    """

    path: Path
    length: float
    values: np.ndarray

    @property
    def steps(self) -> int:
        return len(self.values) - 1

    @property
    def dz(self) -> float:
        """Grid step [m]."""
        return self.length / self.steps

    def derivative(self) -> np.ndarray:
        """(nz + 1,) dF/dz [field units / m], centred differences inside the map."""
        return np.gradient(self.values, self.dz)


def field_map_path(folder: str | Path, name: str, geometry: int) -> Path:
    """The file of ``FIELD_MAP geometry ... name`` under ``folder`` (FIELD_MAP_PATH)."""
    ext = EXTENSIONS.get(int(geometry))
    if ext is None:
        raise ValueError(
            f"FIELD_MAP geometry {geometry}: only 1D maps {sorted(EXTENSIONS)} are supported"
        )
    return Path(folder) / f"{name}{ext}"


@lru_cache(maxsize=64)
def read_field_map_1d(path: str | Path) -> FieldMap1D:
    """Read a 1D field map; TraceWinFormatError naming the file and line when it is bad."""
    path = Path(path)
    if not path.is_file():
        raise TraceWinFormatError(
            "field map not found: check FIELD_MAP_PATH (relative to the .dat file) and the "
            "file name in the FIELD_MAP line",
            path,
        )
    lines = [ln for ln in path.read_text(encoding="latin-1").splitlines() if ln.strip()]
    if len(lines) < 3:
        raise TraceWinFormatError("a 1D field map needs 'nz zmax', the norm, then values", path)
    head = lines[0].split()
    try:
        steps, length = int(float(head[0])), float(head[1])
    except (IndexError, ValueError):
        raise TraceWinFormatError("first line must be 'nz zmax[m]'", path, line=1) from None
    try:
        norm = float(lines[1].split()[0])
    except (IndexError, ValueError):
        raise TraceWinFormatError("second line must be the norm", path, line=2) from None
    values = []
    for i, line in enumerate(lines[2:], start=3):
        for token in line.split():
            try:
                values.append(float(token))
            except ValueError:
                raise TraceWinFormatError(f"{token!r} is not a number", path, line=i) from None
    if steps < 1 or length <= 0 or norm == 0:
        raise TraceWinFormatError(
            f"nz={steps}, zmax={length}, norm={norm}: need nz >= 1, zmax > 0, norm != 0", path
        )
    if len(values) < steps + 1:
        raise TraceWinFormatError(
            f"{len(values)} field values, the header announces nz + 1 = {steps + 1}", path
        )
    return FieldMap1D(path, length, np.array(values[: steps + 1]) / norm)


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
