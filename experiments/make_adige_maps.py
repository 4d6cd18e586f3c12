"""Generate plausible field maps for the ADIGE excerpt (``../shared/adige-excerpt.dat``) so
that the line runs end to end on the embedded engine. These are NOT LNL's maps: the
real ones (dipoles sd1b/sd2b, multipole maps MpoloV6b..V12b) are not public; the
geometry here is invented to fit the excerpt's own numbers.

* Dipoles ``sd1b``, ``sd2b`` (FIELD_MAP 70, L = 1400 mm, kb = -/+0.200708): 90 degree
  sector magnets bending towards +x, the entry pole face 100 mm into the map, radius
  950 mm, so the reference leaves the field heading +x and crosses the plane of the
  excerpt's ``SUPERPOSE_MAP_OUT 1050 1050 0 0 0 -90`` at (x, z) = (1050, 1050) mm;
  tanh fringes (20 mm), a pole 2 x 200 mm wide, By(x, z) on the mid-plane with the
  first-order off-plane terms Bx = y dBy/dx, Bz = y dBy/dz (curl B = 0). The field
  magnitude is calibrated so that the reference's exit angle is zero for the beam below.
* Multipoles ``MpoloV6b/V8b/V10b/V12b`` (FIELD_MAP 7, L = 1200 mm, ke = -1230.72 ...):
  electrostatic 2m-poles with m = 3, 4, 5, 6, potential (r / r0)^m cos(m theta) V per
  unit of ke at r0 = 150 mm, with tanh ends (50 mm), E = -grad V in MV/m.
* Beam (``beam.json``, the Beam keyword arguments, and ``adige.toml``, a project for
  ``arl-tracewin``): 132Sn19+ from the charge breeder at 40 kV (0.76 MeV), the emittances
  and Twiss parameters of the package's ``adige_demo`` example.

Writes into OUT_DIR: the maps, ``adige.dat`` (the excerpt with FIELD_MAP_PATH set to
``.`` and its stray ``uscita CB`` line commented out: TraceWin would stop on it too),
``beam.json``, ``adige.toml``, and prints a JSON summary (calibrated fields, reference
exit offsets).

Usage: ``python experiments/make_adige_maps.py OUT_DIR [--grid-mm 10]``
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from accelerate_rl.engine.species import Species
from accelerate_rl.tracewin.fieldmaps import write_table_3d

EXCERPT = Path(__file__).resolve().parents[2] / "shared" / "adige-excerpt.dat"
#: 132Sn19+: rest energy [MeV] (A u minus the missing electrons) and charge.
MASS = 132 * 931.49410242 - 19 * 0.51099895
CHARGE = 19.0
BEAM = {
    "energy": 19 * 0.040,
    "mass": MASS,
    "charge": CHARGE,
    "etnx": 0.015,
    "etny": 0.015,
    "eln": 0.002,
    "alpx": -0.5,
    "betx": 1.2,
    "alpy": -0.5,
    "bety": 1.2,
    "betz": 200.0,
    "freq": 100.0,
}
#: Kinetic energy at the dipoles [MeV]: the breeder's 40 kV, then ELECTROSTA_ACC's 120 kV.
DIPOLE_ENERGY = CHARGE * (0.040 + 0.120)


def soft(u: np.ndarray, width: float) -> np.ndarray:
    """0 -> 1 across u = 0 with a tanh edge of ``width`` [m]."""
    return 0.5 * (1.0 + np.tanh(u / width))


def sector_dipole(
    b0: float,
    rho: float = 0.95,
    angle_deg: float = 90.0,
    entry: float = 0.1,
    fringe: float = 0.02,
    half_width: float = 0.2,
    length: float = 1.4,
    x_range: tuple[float, float] = (-0.2, 1.2),
    half_gap: float = 0.04,
    grid: float = 0.01,
    ny: int = 4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(Bx, By, Bz) [T] of a sector dipole bending towards +x (By = -b0 inside for b0 > 0)
    on a (z, y, x) grid, and the box. The pole faces are the radial planes at 0 and
    ``angle_deg`` through the centre (x, z) = (rho, entry)."""
    nz, nx = int(round(length / grid)), int(round((x_range[1] - x_range[0]) / grid))
    z = np.linspace(0, length, nz + 1)
    x = np.linspace(*x_range, nx + 1)
    y = np.linspace(-half_gap, half_gap, ny + 1)
    zz, xx = np.meshgrid(z, x, indexing="ij")
    a = np.deg2rad(angle_deg)
    cx, cz = rho, entry
    heading = np.array([np.sin(a), np.cos(a)])  # (x, z) at the exit face
    exit_point = np.array([cx - rho * np.cos(a), cz + rho * np.sin(a)])
    across_exit = (xx - exit_point[0]) * heading[0] + (zz - exit_point[1]) * heading[1]
    radius = np.hypot(xx - cx, zz - cz)
    profile = (
        soft(zz - entry, fringe)
        * soft(-across_exit, fringe)
        * soft(radius - (rho - half_width), fringe)
        * soft(rho + half_width - radius, fringe)
    )
    by = -b0 * profile
    dby_dz, dby_dx = np.gradient(by, z, x)
    shape = (nz + 1, ny + 1, nx + 1)
    yy = y[None, :, None]
    bx = np.broadcast_to(yy * dby_dx[:, None, :], shape)
    bz = np.broadcast_to(yy * dby_dz[:, None, :], shape)
    by3 = np.broadcast_to(by[:, None, :], shape)
    box = {"length": length, "x": tuple(x_range), "y": (-half_gap, half_gap)}
    return bx, by3, bz, box


def electrostatic_multipole(
    m: int,
    r0: float = 0.15,
    length: float = 1.2,
    ends: float = 0.05,
    margin: float = 0.15,
    grid_xy: float = 0.015,
    grid_z: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(Ex, Ey, Ez) [MV/m per V] of the potential (r / r0)^m cos(m theta) * f(z) [V],
    f flat with tanh ends ``ends`` [m] inside the map."""
    nz = int(round(length / grid_z))
    n = int(round(2 * r0 / grid_xy))
    z = np.linspace(0, length, nz + 1)
    xy = np.linspace(-r0, r0, n + 1)
    zz, yy, xx = np.meshgrid(z, xy, xy, indexing="ij")
    f = soft(zz - margin, ends) * soft(length - margin - zz, ends)
    df = np.gradient(f, z, axis=0)
    r = np.hypot(xx, yy)
    theta = np.arctan2(yy, xx)
    # V = (r/r0)^m cos(m theta) f: grad in polar form, -grad V [V/m] * 1e-6 [MV/m]
    rm1 = m * r ** (m - 1) / r0**m
    er = -rm1 * np.cos(m * theta) * f
    et = rm1 * np.sin(m * theta) * f
    ex = (er * np.cos(theta) - et * np.sin(theta)) * 1e-6
    ey = (er * np.sin(theta) + et * np.cos(theta)) * 1e-6
    ez = -((r / r0) ** m) * np.cos(m * theta) * df * 1e-6
    box = {"length": length, "x": (-r0, r0), "y": (-r0, r0)}
    return ex, ey, ez, box


def write_map(folder: Path, prefix: str, kind: str, comps, box: dict) -> None:
    for name, values in zip("xyz", comps, strict=True):
        write_table_3d(folder / f"{prefix}.{kind}{name}", values, box["length"], box["x"], box["y"])


def rigidity(energy: float) -> float:
    """B rho [T m] of the beam at kinetic energy ``energy`` [MeV]."""
    p = np.sqrt(energy * (energy + 2 * MASS))
    return p / (CHARGE * 299.792458)


def calibrate_dipole(folder: Path, kb: float, name: str, rho: float, grid: float) -> dict:
    """Write the dipole map ``name`` for ``kb`` and scale it so that the reference leaves
    the block heading along the exit frame's axis (two secant steps on the field)."""
    from accelerate_rl.engine import Engine
    from accelerate_rl.engine.beam import Beam
    from accelerate_rl.tracewin import parse_dat_text

    beam = Beam(**{**BEAM, "energy": DIPOLE_ENERGY})
    b0 = rigidity(DIPOLE_ENERGY) / rho
    text = (
        "FIELD_MAP_PATH .\nSUPERPOSE_MAP_OUT 1050 1050.0 0.0 0 0 -90\n"
        f"FIELD_MAP 70 1400 0 550 {kb} 0 0 0 {name}\nEND\n"
    )

    def exit_angle(table_b0: float) -> tuple[float, np.ndarray]:
        comps = sector_dipole(table_b0 * np.sign(kb), rho=rho, grid=grid)
        write_map(folder, name, "bs", comps[:3], comps[3])
        model = Engine(parse_dat_text(text, str(folder / "cal.dat")), beam).compiled.models[0]
        kick = model.kick(beam.kinematics)[0]
        return float(kick[1]), kick

    table = b0 / abs(kb)
    a0, _ = exit_angle(table)
    step = table * 1e-3
    a1, kick = exit_angle(table + step)
    table = table + step - a1 * step / (a1 - a0)
    _, kick = exit_angle(table)
    return {"table_T": table, "field_T": table * abs(kb), "exit": kick.tolist()}


def adige_dat(folder: Path) -> Path:
    text = EXCERPT.read_text(encoding="latin-1")
    text = re.sub(r"(?im)^FIELD_MAP_PATH .*$", "FIELD_MAP_PATH .", text)
    text = re.sub(r"(?m)^uscita CB", ";uscita CB", text)
    out = folder / "adige.dat"
    out.write_text(text, encoding="latin-1")
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--grid-mm", type=float, default=10.0, help="dipole grid step [mm]")
    args = parser.parse_args(argv)
    folder: Path = args.out_dir
    folder.mkdir(parents=True, exist_ok=True)
    assert Species(MASS, CHARGE).charge == CHARGE
    summary: dict = {"beam": BEAM, "dipole_energy_MeV": DIPOLE_ENERGY}
    for name, kb in (("sd1b", -0.200708), ("sd2b", 0.200708)):
        summary[name] = calibrate_dipole(folder, kb, name, 0.95, args.grid_mm * 1e-3)
    for name, m in (("MpoloV6b", 3), ("MpoloV8b", 4), ("MpoloV10b", 5), ("MpoloV12b", 6)):
        comps = electrostatic_multipole(m)
        write_map(folder, name, "es", comps[:3], comps[3])
    summary["dat"] = str(adige_dat(folder))
    (folder / "beam.json").write_text(json.dumps(BEAM, indent=1))
    beam_lines = "".join(f"{k} = {v!r}\n" for k, v in BEAM.items())
    (folder / "adige.toml").write_text(
        'name = "adige_excerpt"\nlattice = "adige.dat"\n\n[beam]\n' + beam_lines
    )
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
