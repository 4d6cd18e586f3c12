"""TraceWin's binary project file (``.ini``): the beam and run settings it holds.

The file starts with ``TraceWin_options_file``. Beam values sit at fixed little-endian
offsets (checked on two real files, both 44,824 bytes; the older 31,624-byte layout
shares the same leading block, so the same offsets apply):

=========  ========  ============================================
offset     type      value (file unit)
=========  ========  ============================================
0x2ED0     int32     number of particles
0x2F24     float64   bunch frequency [MHz]
0x2F34     float64   current [A]
0x2F44     float64   kinetic energy [eV]
0x2F54     float64   normalised rms emittance x [m.rad] (y 0x2F64, z 0x2F74)
0x30DC     float64   alpha_x, 0x30E4 beta_x [mm/mrad]; y at 0x30FC/0x3104; z at 0x311C/0x3124
0x3254     float64   rest energy [eV]
0x325C     int32     charge state (read on proton files only: low confidence)
=========  ========  ============================================
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import TraceWinFormatError

MAGIC = b"TraceWin_options_file"
KNOWN_SIZES = (31_624, 44_824)


@dataclass(frozen=True)
class IniBeam:
    """Beam and run settings of a TraceWin project, in TraceWin's command-line units.

    Attributes:
        n_particles: macroparticles for multiparticle runs.
        freq: bunch frequency [MHz].
        current: beam current [mA].
        energy: kinetic energy [MeV].
        mass: rest energy [MeV].
        charge: charge state (e.g. 1 for protons, -1 for H-).
        etnx, etny: normalised rms transverse emittances [mm.mrad].
        eln: normalised rms longitudinal emittance [mm.mrad] (TraceWin's ``eln1``).
        alpx, betx, alpy, bety, alpz, betz: input Twiss alpha [1] and beta [mm/mrad].
    """

    n_particles: int
    freq: float
    current: float
    energy: float
    mass: float
    charge: float
    etnx: float
    etny: float
    eln: float
    alpx: float
    betx: float
    alpy: float
    bety: float
    alpz: float
    betz: float


def read_ini(path: str | Path) -> IniBeam:
    """Read the beam of a TraceWin ``.ini`` project file.

    Raises:
        TraceWinFormatError: missing file, wrong magic, a size outside the known layouts,
            or an implausible value (the message names its offset).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TraceWinFormatError(f"cannot read project: {exc.strerror}", p) from None
    if not data.startswith(MAGIC):
        raise TraceWinFormatError(
            f"not a TraceWin project: the file must start with {MAGIC.decode()!r}", p, offset=0
        )
    if len(data) not in KNOWN_SIZES:
        raise TraceWinFormatError(
            f"{len(data)} bytes; known .ini layouts are {KNOWN_SIZES} bytes (truncated, or a "
            "TraceWin version we have not seen: re-save the project or pass the beam keys)",
            p,
            offset=len(data),
        )

    def f64(off: int) -> float:
        return struct.unpack_from("<d", data, off)[0]

    def i32(off: int) -> int:
        return struct.unpack_from("<i", data, off)[0]

    beam = IniBeam(
        n_particles=i32(0x2ED0),
        freq=f64(0x2F24),
        current=f64(0x2F34) * 1e3,
        energy=f64(0x2F44) * 1e-6,
        mass=f64(0x3254) * 1e-6,
        charge=float(i32(0x325C)),
        etnx=f64(0x2F54) * 1e6,
        etny=f64(0x2F64) * 1e6,
        eln=f64(0x2F74) * 1e6,
        alpx=f64(0x30DC),
        betx=f64(0x30E4),
        alpy=f64(0x30FC),
        bety=f64(0x3104),
        alpz=f64(0x311C),
        betz=f64(0x3124),
    )
    checks = [
        (0x2ED0, "number of particles", beam.n_particles, beam.n_particles >= 1),
        (0x2F24, "frequency [MHz]", beam.freq, beam.freq > 0),
        (0x2F44, "energy [MeV]", beam.energy, beam.energy > 0),
        (0x3254, "rest energy [MeV]", beam.mass, beam.mass > 0),
        (0x30E4, "beta_x", beam.betx, beam.betx > 0),
        (0x3104, "beta_y", beam.bety, beam.bety > 0),
        (0x3124, "beta_z", beam.betz, beam.betz > 0),
    ]
    for off, name, value, ok in checks:
        if not (ok and math.isfinite(value)):
            raise TraceWinFormatError(f"implausible {name} = {value!r}", p, offset=off)
    return beam
