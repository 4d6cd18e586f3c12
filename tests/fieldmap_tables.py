"""Helpers of the field-map tests: analytic fields written as TraceWin ASCII tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from accelerate_rl.tracewin.fieldmaps import write_table_3d

Field3 = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def write_3d_map(
    folder: Path,
    prefix: str,
    kind: str,
    field: Field3,
    length: float,
    nz: int,
    half_x: float,
    nx: int,
    half_y: float | None = None,
    ny: int | None = None,
    norm: float = 1.0,
    x_range: tuple[float, float] | None = None,
) -> None:
    """Write ``prefix.{kind}x/y/z`` (kind e.g. "bs", "es", "ed", "bd") of ``field(x, y,
    z) -> (Fx, Fy, Fz)`` on a box |x| <= half_x, |y| <= half_y, 0 <= z <= length [m]."""
    half_y = half_x if half_y is None else half_y
    ny = nx if ny is None else ny
    x0, x1 = x_range if x_range is not None else (-half_x, half_x)
    z = np.linspace(0, length, nz + 1)
    y = np.linspace(-half_y, half_y, ny + 1)
    x = np.linspace(x0, x1, nx + 1)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    comps = field(xx, yy, zz)
    for name, values in zip("xyz", comps, strict=True):
        write_table_3d(
            folder / f"{prefix}.{kind}{name}",
            np.broadcast_to(values, xx.shape),
            length,
            (x0, x1),
            (-half_y, half_y),
            norm,
        )


def write_2d_map(
    folder: Path, prefix: str, kind: str, fr, fz, length: float, nz: int, rmax: float, nr: int
) -> None:
    """Write ``prefix.{kind}r`` and ``prefix.{kind}z`` of fr(r, z), fz(r, z)."""
    z = np.linspace(0, length, nz + 1)
    r = np.linspace(0, rmax, nr + 1)
    zz, rr = np.meshgrid(z, r, indexing="ij")
    head = f"{nz} {length!r}\n{nr} {rmax!r}\n1\n"
    for name, fn in (("r", fr), ("z", fz)):
        values = np.broadcast_to(fn(rr, zz), rr.shape).ravel()
        (folder / f"{prefix}.{kind}{name}").write_text(
            head + "\n".join(f"{v:.16e}" for v in values) + "\n"
        )


def soft_edges(z: np.ndarray, start: float, end: float, width: float) -> np.ndarray:
    """A flat top from ``start`` to ``end`` [m] with tanh edges of ``width`` [m]."""
    return 0.5 * (np.tanh((z - start) / width) - np.tanh((z - end) / width))


def soft_edges_slope(z: np.ndarray, start: float, end: float, width: float) -> np.ndarray:
    a, b = np.tanh((z - start) / width), np.tanh((z - end) / width)
    return 0.5 / width * ((1 - a * a) - (1 - b * b))  # sech^2 without overflow
