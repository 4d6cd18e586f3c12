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
gains); without it they share the map's length out.

Usage: ``python experiments/make_lattice_maps.py LATTICE.dat OUT_DIR [--maps FOLDER]
[--alias NAME=OTHER ...] [--energy W --mass M --charge Q]``
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import numpy as np

from accelerate_rl.engine.species import C_LIGHT
from accelerate_rl.tracewin import read_dat
from accelerate_rl.tracewin.fieldmaps import Geometry, extensions, write_table_3d

#: Nodes along z of a generated map.
STEPS = 200


def rf_profile(length: float, cell: float | None = None) -> np.ndarray:
    """(STEPS + 1,) on-axis E(z) / E_peak of a pi-mode cavity of ``length`` [m]: 2 gaps
    below 0.5 m, else 5 cells, each ``cell`` [m] long (beta lambda / 2; the whole length
    shared out when None), centred in the map."""
    cells = 2 if length < 0.5 else 5
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
) -> str:
    """Write the files of one map (RF cells of beta lambda / 2 when ``beta`` is given);
    returns what was written."""
    geo = Geometry.parse(geom)
    half = max(aperture, 0.01)
    cell = None if beta is None or not freq else beta * C_LIGHT / (freq * 1e6) / 2
    if geo.code == 100:
        write_1d(out / f"{name}.edz", rf_profile(length, cell), length)
    elif geo.code == 10:
        write_1d(out / f"{name}.bsz", solenoid_profile(length), length)
    elif geo.code == 70:
        write_axial_3d(out, name, "bs", solenoid_profile(length), length, half)
    elif geo.code == 7700:
        e = rf_profile(length, cell)
        omega = 2 * np.pi * freq * 1e6
        write_axial_3d(out, name, "ed", e, length, half)
        write_axial_3d(out, name, "bd", e, length, half, -omega * e * 1e6 / (2 * C_LIGHT**2))
    else:
        raise ValueError(f"FIELD_MAP {geom} ({name}): no generator for this geometry")
    at = f", cells for beta {beta:.3f}" if cell is not None and geo.rf else ""
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
    args = parser.parse_args(argv)
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
            if energy is not None and Geometry.parse(geom).rf:
                gamma = 1 + energy / args.mass
                beta = float(np.sqrt(1 - 1 / gamma**2))
                # the gain of this cavity, roughly: |q| ke E_peak (cells) (2 / pi) cos(phi)
                cells = 2 if length < 0.5 else 5
                span = min(cells * beta * C_LIGHT / (freq * 1e6) / 2, length)
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
                report.append(generate(geom, name, length, aperture, freq, out, beta))
    text = args.lattice.read_text(encoding="latin-1")
    text = re.sub(r"(?im)^(\s*)FIELD_MAP_PATH\s+\S.*$", r"\1FIELD_MAP_PATH .", text)
    (out / args.lattice.name).write_text(text, encoding="latin-1")
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
