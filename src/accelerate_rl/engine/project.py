"""Projects: a TraceWin ``.ini`` or our own TOML project file, plus the lattice.

Our project file (``*.toml``) names the lattice and the beam in TraceWin's units::

    # accelerate-rl project
    lattice = "line.dat"          # relative to this file
    [beam]
    energy = 0.8                  # kinetic energy [MeV]
    mass = 122798.5               # rest energy [MeV]  (or mass_u = 131.9178 [u])
    charge = 20                   # charge state
    current = 0.0                 # [mA]
    freq = 100.0                  # bunch frequency [MHz]
    etnx = 0.018                  # normalised rms emittances [mm.mrad]
    etny = 0.018
    eln = 0.05
    alpx = 0.0                    # Twiss alpha [1] and beta [mm/mrad]
    betx = 1.0
    ...                           # alpy bety alpz betz x y xp yp n_particles distribution
    [run]
    partran = 0                   # 1: multiparticle
    random_seed = 1

With a TraceWin ``.ini`` the lattice is ``dat_file=`` if given, else the ``.dat`` with the
project's name, else the only ``.dat`` beside it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..tracewin.errors import TraceWinFormatError
from ..tracewin.ini import read_ini
from ..tracewin.project_files import find_lattice
from .beam import Beam
from .species import AMU, ELECTRON_MASS

_BEAM_FIELDS = {f.name for f in fields(Beam)}


@dataclass(frozen=True)
class Project:
    """A project: where its lattice is, its beam, and default run keys.

    Attributes:
        path: the project file. lattice: the `.dat` file. beam: the input beam.
        run: default run keys (``partran``, ``random_seed``).
    """

    path: Path
    lattice: Path
    beam: Beam
    run: dict[str, Any] = field(default_factory=dict)


def load_project(path: str | Path, dat_file: str | Path | None = None) -> Project:
    """Load a TraceWin ``.ini`` or a TOML project.

    Raises:
        TraceWinFormatError: unreadable file, unknown key, missing lattice (naming the
            file and what to change).
    """
    p = Path(path)
    if not p.is_file():
        raise TraceWinFormatError("project file not found", p)
    if p.suffix.lower() == ".ini":
        return _load_ini(p, dat_file)
    return _load_toml(p, dat_file)


def _load_ini(p: Path, dat_file: str | Path | None) -> Project:
    beam = Beam.from_ini(read_ini(p))
    lattice = find_lattice(p, dat_file)
    assert lattice is not None
    return Project(p, lattice, beam)


def _load_toml(p: Path, dat_file: str | Path | None) -> Project:
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TraceWinFormatError(f"not a valid TOML project: {exc}", p) from None
    unknown = set(data) - {"lattice", "beam", "run", "name", "description"}
    if unknown:
        raise TraceWinFormatError(
            f"unknown top-level keys {sorted(unknown)}: expected lattice, beam, run", p
        )
    if dat_file is None and "lattice" not in data:
        raise TraceWinFormatError("missing 'lattice = \"file.dat\"'", p)
    lattice = find_lattice(p, dat_file if dat_file is not None else data["lattice"])
    assert lattice is not None
    beam_data = dict(data.get("beam", {}))
    if "mass_u" in beam_data:
        mass_u = beam_data.pop("mass_u")
        charge = beam_data.get("charge", 1)
        beam_data["mass"] = mass_u * AMU - charge * ELECTRON_MASS
    bad = set(beam_data) - _BEAM_FIELDS
    if bad:
        raise TraceWinFormatError(
            f"unknown beam keys {sorted(bad)}; valid: {', '.join(sorted(_BEAM_FIELDS))}", p
        )
    if "energy" not in beam_data:
        raise TraceWinFormatError("[beam] needs 'energy' (kinetic energy, MeV)", p)
    try:
        beam = Beam(**beam_data)
    except (TypeError, ValueError) as exc:
        raise TraceWinFormatError(f"[beam]: {exc}", p) from None
    return Project(p, lattice, beam, dict(data.get("run", {})))
