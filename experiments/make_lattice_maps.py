"""Field maps for a real lattice whose maps are not public, so that it runs end to end on
the embedded engine. The maps are plausible shapes, NOT the machine's maps: a copied
real map is used wherever the lattice's FIELD_MAP_PATH (or ``--maps``) has one.

Per FIELD_MAP geometry (L from the lattice line, f from the FREQ in force):

* 100 (RF E on axis, ``.edz``) and the on-axis profile of 7700: a pi-mode standing wave
  of k cells, sin(pi u) in each, with k = 2 gaps below L = 0.5 m (spoke, half- and
  quarter-wave), else k = 5 cells (elliptical), peak 1 MV/m per unit of ke.
* 7700 (RF E + B, 3D): that profile extended off axis to first order (Er = -r/2 Ez',
  B theta = -omega r Ez / (2 c^2) on the sine phasor), on a 3 x 3 transverse grid over
  the aperture R (linear fields: exact in trilinear interpolation).
* 10 (static B on axis, ``.bsz``) and 70 (3D): a solenoid, flat top over the middle 60%
  of L with tanh ends of L / 20, peak 1 T per unit of kb; 3D with Br = -r/2 Bz'.

Writes OUT_DIR/<lattice name> with every FIELD_MAP_PATH set to ``.`` and the maps beside
it; prints a JSON list of what was generated or copied.

With ``--energy`` (and ``--mass``, ``--charge``) the RF cells are beta lambda / 2 long at
the velocity estimated where each map is first used (a rough running estimate of the
gains); without it they share the map's length out. ``--cavity NAME=CELLS:BETA:EACC[:-]``
makes the map NAME a design cavity instead: CELLS cells of beta BETA, gradient EACC [MV/m]
at ke = 1 (peak 2 EACC), the first cell negative with ``-`` (ESS's GenLin comments give
Bg and Eacc; ``tests/test_lattice_coverage.py`` has the ESS and PIP-II choices).

Usage: ``python experiments/make_lattice_maps.py LATTICE.dat OUT_DIR [--maps FOLDER]
[--alias NAME=OTHER ...] [--energy W --mass M --charge Q] [--cavity NAME=CELLS:BETA:EACC[:-]
...]``
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np

from accelerate_rl.engine.species import C_LIGHT
from accelerate_rl.tracewin import read_dat
from accelerate_rl.tracewin.fieldmaps import Geometry, extensions, write_table_3d

#: Nodes along z of a generated map.
STEPS = 200


def default_cells(length: float) -> int:
    """Cells of a generated RF map of ``length`` [m] without ``--cavity``: 2 gaps below
    0.5 m (spoke, half- and quarter-wave), else 5 (elliptical)."""
    return 2 if length < 0.5 else 5


class Cavity(NamedTuple):
    """A design cavity for a generated RF map (``--cavity NAME=CELLS:BETA:EACC``).

    Attributes: cells (pi-mode half sines), beta (geometric beta: cells beta lambda / 2
    long), eacc (accelerating gradient [MV/m] at ke = 1: the on-crest gain at beta divided
    by cells beta lambda / 2), sign (+1 or -1: the sign of the first cell's field; it
    shifts the RF phase the lattice's phases refer to by 180 degrees).
    """

    cells: int
    beta: float
    eacc: float
    sign: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Cavity:
        try:
            cells, beta, eacc, *sign = text.split(":")
            if sign not in ([], ["+"], ["-"]):
                raise ValueError
            return cls(int(cells), float(beta), float(eacc), -1.0 if sign == ["-"] else 1.0)
        except ValueError:
            raise ValueError(f"--cavity {text!r}: expected CELLS:BETA:EACC[:+|-]") from None

    @property
    def peak(self) -> float:
        """Peak on-axis field [MV/m], signed: a sin(pi u) cell crossed at its own beta
        gains E_peak * cell / 2 on crest, so |E_peak| = 2 Eacc."""
        return 2.0 * self.eacc * self.sign


def rf_profile(length: float, cell: float | None = None, cells: int | None = None) -> np.ndarray:
    """(STEPS + 1,) on-axis E(z) / E_peak of a pi-mode cavity of ``length`` [m]: ``cells``
    half sines (default :func:`default_cells`), each ``cell`` [m] long (beta lambda / 2;
    the whole length shared out when None), centred in the map."""
    cells = default_cells(length) if cells is None else cells
    cell = length / cells if cell is None else min(cell, length / cells)
    z = np.linspace(0, length, STEPS + 1)
    u = (z - 0.5 * (length - cells * cell)) / cell
    return np.where((u >= 0) & (u <= cells), np.sin(np.pi * u), 0.0)


def solenoid_profile(length: float) -> np.ndarray:
    """(STEPS + 1,) on-axis Bz(z) / B_peak: flat over the middle 60%, tanh ends."""
    z = np.linspace(0, length, STEPS + 1)
    w = length / 20
    return 0.5 * (np.tanh((z - 0.2 * length) / w) - np.tanh((z - 0.8 * length) / w))


def write_1d(path: Path, values: np.ndarray, length: float) -> None:
    path.write_text(
        f"{len(values) - 1} {length!r}\n1\n" + "\n".join(f"{v:.10e}" for v in values) + "\n"
    )


def write_axial_3d(
    folder: Path,
    prefix: str,
    kind: str,
    axis: np.ndarray,
    length: float,
    half: float,
    azimuthal: np.ndarray | None = None,
) -> None:
    """Write prefix.{kind}x/y/z of the axisymmetric field with on-axis ``axis`` (Fz),
    Fr = -r/2 dFz/dz; or, with ``azimuthal`` (B theta / r on axis), the field
    (-y, x, 0) * azimuthal (an RF mode's magnetic field)."""
    z = np.linspace(0, length, len(axis))
    xy = np.linspace(-half, half, 3)
    zz, yy, xx = np.meshgrid(z, xy, xy, indexing="ij")
    if azimuthal is None:
        slope = np.gradient(axis, z)[:, None, None]
        comps = (
            -0.5 * xx * slope,
            -0.5 * yy * slope,
            np.broadcast_to(axis[:, None, None], zz.shape),
        )
    else:
        a = azimuthal[:, None, None]
        comps = (-yy * a, xx * a, np.zeros_like(zz))
    for name, values in zip("xyz", comps, strict=True):
        write_table_3d(
            folder / f"{prefix}.{kind}{name}", values, length, (-half, half), (-half, half)
        )


def generate(
    geom: int,
    name: str,
    length: float,
    aperture: float,
    freq: float,
    out: Path,
    beta: float | None = None,
    cavity: Cavity | None = None,
) -> str:
    """Write the files of one map (RF cells of beta lambda / 2 when ``beta`` is given, or
    as ``cavity`` says); returns what was written."""
    geo = Geometry.parse(geom)
    half = max(aperture, 0.01)
    if cavity is not None:
        beta = cavity.beta
    cell = None if beta is None or not freq else beta * C_LIGHT / (freq * 1e6) / 2
    cells = None if cavity is None else cavity.cells
    peak = 1.0 if cavity is None else cavity.peak
    if geo.code == 100:
        write_1d(out / f"{name}.edz", peak * rf_profile(length, cell, cells), length)
    elif geo.code == 10:
        write_1d(out / f"{name}.bsz", solenoid_profile(length), length)
    elif geo.code == 70:
        write_axial_3d(out, name, "bs", solenoid_profile(length), length, half)
    elif geo.code == 7700:
        e = peak * rf_profile(length, cell, cells)
        omega = 2 * np.pi * freq * 1e6
        write_axial_3d(out, name, "ed", e, length, half)
        write_axial_3d(out, name, "bd", e, length, half, -omega * e * 1e6 / (2 * C_LIGHT**2))
    else:
        raise ValueError(f"FIELD_MAP {geom} ({name}): no generator for this geometry")
    at = f", cells for beta {beta:.3f}" if cell is not None and geo.rf else ""
    if cavity is not None and geo.rf:
        at += f", {cavity.cells} cells, peak {peak:g} MV/m at ke = 1"
    return f"generated {name} ({geo.code}, {length * 1e3:g} mm{at})"


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lattice", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--maps", type=Path, help="a folder of real maps to copy from")
    parser.add_argument(
        "--energy",
        type=float,
        help="beam kinetic energy [MeV] at the lattice entry: RF cells sized for the "
        "velocity estimated at each cavity's first use (with --mass, --charge)",
    )
    parser.add_argument("--mass", type=float, default=938.27208816, help="rest energy [MeV]")
    parser.add_argument("--charge", type=float, default=1.0)
    parser.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="NAME=OTHER",
        help="copy the real map OTHER (from --maps) as NAME (a stand-in of the same kind)",
    )
    parser.add_argument(
        "--cavity",
        action="append",
        default=[],
        metavar="NAME=CELLS:BETA:EACC[:+|-]",
        help="the generated RF map NAME as CELLS pi-mode cells of beta BETA, with "
        "accelerating gradient EACC [MV/m] at ke = 1 and beta = BETA (a lattice's design "
        "cavity, e.g. from its GenLin comments); '-' makes the first cell negative",
    )
    args = parser.parse_args(argv)
    cavities: dict[str, Cavity] = {}
    for option in args.cavity:
        name, sep, spec = option.partition("=")
        try:
            if not (name and sep):
                raise ValueError(f"--cavity {option!r}: expected NAME=CELLS:BETA:EACC[:+|-]")
            cavities[name] = Cavity.parse(spec)
        except ValueError as exc:
            parser.error(f"{exc} (e.g. --cavity MB_F2F=6:0.67:16.79:-)")
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    lattice = read_dat(args.lattice)
    aliases = dict(a.split("=", 1) for a in args.alias)
    folder, freq, done, report = args.lattice.parent, 0.0, set(), []
    energy = args.energy
    for item in lattice.sequence:
        stmt = item.statement
        if stmt.keyword == "FIELD_MAP_PATH" and stmt.args:
            folder = args.lattice.parent / stmt.args[0]
        elif stmt.keyword == "FREQ" and stmt.args:
            freq = float(stmt.args[0])
        elif stmt.keyword == "FIELD_MAP":
            geom, length = int(float(stmt.args[0])), float(stmt.args[1]) * 1e-3
            name = stmt.args[8]
            beta = None
            if energy is not None and Geometry.parse(geom).rf and name not in cavities:
                gamma = 1 + energy / args.mass
                beta = float(np.sqrt(1 - 1 / gamma**2))
                # the gain of this cavity, roughly: |q| ke E_peak (cells) (2 / pi) cos(phi)
                span = min(default_cells(length) * beta * C_LIGHT / (freq * 1e6) / 2, length)
                phase = np.deg2rad(float(stmt.args[2]))
                energy += (
                    abs(args.charge)
                    * float(stmt.args[5])
                    * span
                    * 2
                    / np.pi
                    * max(np.cos(phase), 0.3)
                )
            if (name, geom) in done:
                continue
            done.add((name, geom))
            exts = [e for es in extensions(Geometry.parse(geom)).values() for e in es]
            sources = [args.maps, folder] if args.maps else [folder]
            source = aliases.get(name, name)
            real = next(
                (s for s in sources if all((s / f"{source}{e}").is_file() for e in exts)), None
            )
            if real is not None:
                for e in exts:
                    shutil.copy(real / f"{source}{e}", out / f"{name}{e}")
                report.append(f"copied {name} from {real / source}")
            else:
                aperture = float(stmt.args[3]) * 1e-3
                report.append(
                    generate(geom, name, length, aperture, freq, out, beta, cavities.get(name))
                )
    unused = sorted(set(cavities) - {n for n, _ in done})
    if unused:
        parser.error(f"--cavity {', '.join(unused)}: no FIELD_MAP of {args.lattice} uses it")
    text = args.lattice.read_text(encoding="latin-1")
    text = re.sub(r"(?im)^(\s*)FIELD_MAP_PATH\s+\S.*$", r"\1FIELD_MAP_PATH .", text)
    (out / args.lattice.name).write_text(text, encoding="latin-1")
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
