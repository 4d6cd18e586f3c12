"""TraceWin ``.dst`` particle distributions.

File layout (little-endian): 2 filler bytes, int32 Np, float64 current [mA], float64
frequency [MHz], 1 filler byte, Np x 6 float64 (x [cm], x' [rad], y [cm], y' [rad],
phi [rad], W [MeV]), float64 mc2 [MeV]. Some writers add a 7th column per particle (a
loss flag); its presence is inferred from the file size.

:class:`Distribution` keeps the file's own numbers (``raw``, TraceWin units) so a
read-write round trip is byte-exact, and converts explicitly to the units the rest of
the package uses: x, y [mm], x', y' [mrad], phi [deg], W [MeV].
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import TraceWinFormatError

if TYPE_CHECKING:  # pandas is imported where a DataFrame is made (start-up cost)
    import pandas as pd

_HEAD = struct.Struct("<2siddc")  # filler, Np, current, freq, filler
#: Factors from file units (cm, rad, cm, rad, rad, MeV) to ours (mm, mrad, mm, mrad, deg, MeV).
TO_PHYSICAL = np.array([10.0, 1e3, 10.0, 1e3, 180.0 / np.pi, 1.0])
COLUMNS = ("x", "xp", "y", "yp", "phi", "w")
UNITS = ("mm", "mrad", "mm", "mrad", "deg", "MeV")


@dataclass(frozen=True)
class Distribution:
    """A macroparticle distribution as stored in a ``.dst`` file.

    Attributes:
        raw: (N, 6) float64 in TraceWin's file units: x [cm], x' [rad], y [cm], y' [rad],
            phi [rad, absolute], W [MeV, kinetic].
        current: beam current [mA].
        freq: bunch frequency [MHz].
        mass: rest energy mc2 [MeV].
        extra: (N,) 7th column when the file had one (a loss flag), else None.
    """

    raw: np.ndarray
    current: float
    freq: float
    mass: float
    extra: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.raw.ndim != 2 or self.raw.shape[1] != 6:
            raise ValueError(f"raw must have shape (N, 6), got {self.raw.shape}")

    @classmethod
    def from_physical(
        cls,
        particles: np.ndarray,
        *,
        current: float,
        freq: float,
        mass: float,
        extra: np.ndarray | None = None,
    ) -> Distribution:
        """Build from (N, 6) columns x [mm], x' [mrad], y [mm], y' [mrad], phi [deg], W [MeV]."""
        arr = np.asarray(particles, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 6:
            raise ValueError(f"particles must have shape (N, 6), got {arr.shape}")
        return cls(arr / TO_PHYSICAL, float(current), float(freq), float(mass), extra)

    @property
    def n_particles(self) -> int:
        return int(self.raw.shape[0])

    @property
    def particles(self) -> np.ndarray:
        """(N, 6): x [mm], x' [mrad], y [mm], y' [mrad], phi [deg], W [MeV]."""
        return self.raw * TO_PHYSICAL

    def to_dataframe(self) -> pd.DataFrame:
        """One row per particle; columns x, xp, y, yp [mm, mrad], phi [deg], w [MeV]."""
        import pandas as pd

        df = pd.DataFrame(self.particles, columns=list(COLUMNS))
        if self.extra is not None:
            df["extra"] = self.extra
        df.attrs.update(current=self.current, freq=self.freq, mass=self.mass, units=UNITS)
        return df


def read_dst(path: str | Path) -> Distribution:
    """Read a TraceWin ``.dst`` file.

    Raises:
        TraceWinFormatError: missing, empty, truncated or inconsistent file (the message
            names the byte offset and the expected size).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TraceWinFormatError(f"cannot read distribution: {exc.strerror}", p) from None
    if len(data) < _HEAD.size + 8:
        raise TraceWinFormatError(
            f"file has {len(data)} bytes, a .dst needs at least {_HEAD.size + 8} (header + mc2)",
            p,
            offset=len(data),
        )
    _, n, current, freq, _ = _HEAD.unpack_from(data, 0)
    body = len(data) - _HEAD.size - 8
    if n < 0:
        raise TraceWinFormatError(f"negative particle count {n}", p, offset=2)
    ncols = None
    for cols in (6, 7):
        if body == n * cols * 8:
            ncols = cols
            break
    if ncols is None:
        raise TraceWinFormatError(
            f"{n} particles need {n * 48} or {n * 56} bytes of coordinates, the file has "
            f"{body} (truncated or not a .dst)",
            p,
            offset=_HEAD.size,
        )
    arr = np.frombuffer(data, dtype="<f8", count=n * ncols, offset=_HEAD.size).reshape(n, ncols)
    (mass,) = struct.unpack_from("<d", data, len(data) - 8)
    raw = np.array(arr[:, :6], dtype=np.float64)
    extra = np.array(arr[:, 6]) if ncols == 7 else None
    return Distribution(raw, float(current), float(freq), float(mass), extra)


def write_dst(path: str | Path, dist: Distribution) -> Path:
    """Write ``dist`` as a TraceWin ``.dst`` file (7 columns if ``dist.extra`` is set)."""
    p = Path(path)
    n = dist.n_particles
    body = dist.raw if dist.extra is None else np.column_stack([dist.raw, dist.extra])
    with p.open("wb") as fh:
        fh.write(_HEAD.pack(b"\x00\x00", n, dist.current, dist.freq, b"\x00"))
        fh.write(np.ascontiguousarray(body, dtype="<f8").tobytes())
        fh.write(struct.pack("<d", dist.mass))
    return p
