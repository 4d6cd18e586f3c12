"""TraceWin ``.plt`` files (``dtl1.plt``): the particle distribution at every element.

Layout (little-endian): header of 2 filler bytes, int32 n_elements, int32 Np, float64
current [A], float64 frequency [MHz], float64 mc2 [MeV]; then records, each a 29-byte
sub-header (uint8 flag, int32 element number, float64 z [cm], float64 reference phase
[deg], float64 reference kinetic energy [MeV]) followed by either

* uncompressed: Np x 7 float32 (x [cm], x' [rad], y [cm], y' [rad], phi [rad], W [MeV],
  loss), or
* compressed: 6 float32 minima, 6 float32 ranges, then Np x 7 uint16: the first six
  are ``q = floor((v - min) / range * 65534)`` (TraceWin truncates; checked on the real
  run against its ``.dst`` files) and the seventh is the loss flag as stored. We decode
  at the centre of the bin, ``min + (q + 1/2) * range / 65534`` clipped to
  [min, min + range], so a decoded value is within half a quantisation step.

The layout is told apart by which record size divides the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dst import TO_PHYSICAL
from .errors import TraceWinFormatError

_HEAD = struct.Struct("<2siiddd")
_REC = struct.Struct("<Biddd")
QUANT = 65534


@dataclass(frozen=True)
class PltRecord:
    """The distribution at one position.

    Attributes:
        element: TraceWin element number (0 = input beam).
        z: position [m].
        phase: reference phase [deg] as stored.
        energy: reference kinetic energy [MeV].
        raw: (Np, 6) float64 in file units (cm, rad, cm, rad, rad, MeV).
        loss: (Np,) loss flag as stored (0 = transported).
        flag: the record's flag byte.
    """

    element: int
    z: float
    phase: float
    energy: float
    raw: np.ndarray
    loss: np.ndarray
    flag: int = 0

    @property
    def particles(self) -> np.ndarray:
        """(Np, 6): x [mm], x' [mrad], y [mm], y' [mrad], phi [deg], W [MeV]."""
        return self.raw * TO_PHYSICAL

    @property
    def alive(self) -> np.ndarray:
        """Boolean mask of particles not lost."""
        return self.loss == 0


@dataclass(frozen=True)
class Plt:
    """A whole ``.plt`` file: header values and one :class:`PltRecord` per position."""

    n_elements: int
    current: float
    freq: float
    mass: float
    records: list[PltRecord] = field(default_factory=list)
    compressed: bool = True

    @property
    def n_particles(self) -> int:
        return int(self.records[0].raw.shape[0]) if self.records else 0

    def at_element(self, n: int) -> PltRecord:
        """The last record of element ``n`` (its exit)."""
        for rec in reversed(self.records):
            if rec.element == n:
                return rec
        raise KeyError(f"no record for element {n} in the .plt file")


def read_plt(path: str | Path) -> Plt:
    """Read a TraceWin ``.plt`` file, compressed or not.

    ``current`` is converted from the file's A to mA.

    Raises:
        TraceWinFormatError: missing, empty or truncated file; the message names the
            byte offset and the record sizes that were tried.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TraceWinFormatError(f"cannot read plt file: {exc.strerror}", p) from None
    if len(data) < _HEAD.size:
        raise TraceWinFormatError(
            f"file has {len(data)} bytes, a .plt header needs {_HEAD.size}", p, offset=len(data)
        )
    _, n_elements, n, current_a, freq, mass = _HEAD.unpack_from(data, 0)
    if n < 0 or n_elements < 0:
        raise TraceWinFormatError(f"negative counts (Np={n}, elements={n_elements})", p, offset=2)
    body = len(data) - _HEAD.size
    plain = _REC.size + 28 * n
    packed = _REC.size + 48 + 14 * n
    if n and body % packed == 0 and body // packed >= 1:
        compressed = True
    elif body % plain == 0:
        compressed = False
    else:
        raise TraceWinFormatError(
            f"{body} bytes after the header fit neither {packed}-byte compressed nor "
            f"{plain}-byte plain records for {n} particles (truncated file?)",
            p,
            offset=_HEAD.size + (body // packed) * packed,
        )
    size = packed if compressed else plain
    records = []
    for k in range(body // size):
        off = _HEAD.size + k * size
        flag, ele, z_cm, phase, energy = _REC.unpack_from(data, off)
        off += _REC.size
        if compressed:
            mins = np.frombuffer(data, "<f4", 6, off).astype(np.float64)
            ranges = np.frombuffer(data, "<f4", 6, off + 24).astype(np.float64)
            q = np.frombuffer(data, "<u2", 7 * n, off + 48).reshape(n, 7)
            centre = (q[:, :6] + 0.5) * (ranges / QUANT)
            raw = mins + np.minimum(centre, ranges)
            loss = q[:, 6].astype(np.int64)
        else:
            vals = np.frombuffer(data, "<f4", 7 * n, off).reshape(n, 7).astype(np.float64)
            raw, loss = vals[:, :6], vals[:, 6].astype(np.int64)
        records.append(PltRecord(ele, z_cm / 100.0, phase, energy, raw, loss, flag))
    return Plt(n_elements, current_a * 1e3, freq, mass, records, compressed)


class PltWriter:
    """Write a ``.plt`` file record by record (a run's records need not all fit in memory).

    Use as a context manager; the header's element count is the one given here.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        n_elements: int,
        n_particles: int,
        current: float,
        freq: float,
        mass: float,
        compressed: bool = True,
    ) -> None:
        self.path = Path(path)
        self.n = int(n_particles)
        self.compressed = compressed
        self._fh = self.path.open("wb")
        self._fh.write(_HEAD.pack(b"\x00\x00", n_elements, self.n, current * 1e-3, freq, mass))

    def add(self, rec: PltRecord) -> None:
        n = self.n
        if rec.raw.shape != (n, 6):
            raise ValueError(
                f"record of element {rec.element} has shape {rec.raw.shape}, not {(n, 6)}"
            )
        self._fh.write(_REC.pack(rec.flag, rec.element, rec.z * 100.0, rec.phase, rec.energy))
        if self.compressed:
            raw32 = rec.raw.astype(np.float32)
            mins = raw32.min(axis=0) if n else np.zeros(6, np.float32)
            ranges = (raw32.max(axis=0) - mins) if n else np.zeros(6, np.float32)
            scale = np.where(ranges > 0, QUANT / np.where(ranges > 0, ranges, 1.0), 0.0)
            q = np.floor((rec.raw - mins) * scale).clip(0, QUANT).astype("<u2")
            body = np.column_stack([q, rec.loss.astype("<u2")])
            self._fh.write(mins.astype("<f4").tobytes())
            self._fh.write(ranges.astype("<f4").tobytes())
            self._fh.write(body.tobytes())
        else:
            self._fh.write(np.column_stack([rec.raw, rec.loss]).astype("<f4").tobytes())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> PltWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_plt(path: str | Path, plt: Plt, compressed: bool | None = None) -> Path:
    """Write ``plt`` (compressed uint16 layout unless ``compressed=False``)."""
    packed = plt.compressed if compressed is None else compressed
    with PltWriter(
        path,
        n_elements=plt.n_elements,
        n_particles=plt.n_particles,
        current=plt.current,
        freq=plt.freq,
        mass=plt.mass,
        compressed=packed,
    ) as writer:
        for rec in plt.records:
            writer.add(rec)
    return Path(path)
