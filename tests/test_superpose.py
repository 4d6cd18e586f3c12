"""SUPERPOSE_MAP blocks: maps placed at z0 in one frame, their fields summed; the first
map carries the block, every map keeps its element number."""

from __future__ import annotations

import numpy as np
import pytest

from accelerate_rl.engine import Engine
from accelerate_rl.engine.beam import Beam
from accelerate_rl.tracewin import parse_dat_text
from fieldmap_tables import soft_edges, write_3d_map

SPOKE_BEAM = Beam(energy=16.6, freq=176.1, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1)


def _run(text, folder, beam, **kw):
    return Engine(parse_dat_text(text, str(folder / "line.dat")), beam).run(**kw)


def test_lightwins_superposed_spokes_equal_the_same_cavities_in_a_row(samples, tmp_path):
    """LightWin's sample: two spoke maps at z0 = 0 and 680 mm in one block (not
    overlapping) equal the two maps with the 264.84 mm drift between them (its own
    commented-out line), each phase being the one the reference sees at its map."""
    text = (samples / "lattices/lightwin-superpose_map.dat").read_text()
    maps = samples / "lightwin-spoke-run/field_maps_1D"
    text = text.replace("../ads/field_maps_1D", str(maps))
    block = _run(text, tmp_path, SPOKE_BEAM)
    in_a_row = text.replace("SUPERPOSE_MAP 0\n", "").replace("; DRIFT 264.84", "DRIFT 264.84")
    in_a_row = in_a_row.replace("SUPERPOSE_MAP 680\n", "")
    row = _run(in_a_row, tmp_path, SPOKE_BEAM)
    assert block.summary["energy"] == pytest.approx(row.summary["energy"], abs=1e-5)
    assert block.summary["energy"] > 16.7
    np.testing.assert_allclose(
        block.transfer_matrices.matrices[-1], row.transfer_matrices.matrices[-1], atol=1e-5
    )
    # element numbering: the block's second map keeps its number, a zero-length row
    z = block.table.groupby("##")["z(m)"].last()
    assert len(z) == len(row.table.groupby("##")["z(m)"].last()) - 1  # one drift fewer
    assert z.iloc[-1] == pytest.approx(row.table.groupby("##")["z(m)"].last().iloc[-1])
    assert any("superposed at z0 = 680 mm" in n for n in block.notes)


def test_two_half_quadrupoles_superposed_are_one_quadrupole(tmp_path):
    def quad(x, y, z):
        g = soft_edges(z, 0.05, 0.15, 0.005)
        return g * y, g * x, 0 * z

    write_3d_map(tmp_path, "q", "bs", quad, 0.2, 200, 0.02, 2)
    beam = Beam(energy=5.0, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1)
    half = "SUPERPOSE_MAP 0\nFIELD_MAP 70 200 0 20 1.5 0 0 0 q 0\n"
    block = _run("FIELD_MAP_PATH .\nDRIFT 10\n" + 2 * half + "DRIFT 10\nEND\n", tmp_path, beam)
    one = _run(
        "FIELD_MAP_PATH .\nDRIFT 10\nFIELD_MAP 70 200 0 20 3 0 0 0 q 0\nDRIFT 10\nEND\n",
        tmp_path,
        beam,
    )
    np.testing.assert_allclose(
        block.transfer_matrices.matrices[-1], one.transfer_matrices.matrices[-1], atol=1e-9
    )
    # an override of the second map's kb reaches the block
    stronger = Engine(
        parse_dat_text(
            "FIELD_MAP_PATH .\nDRIFT 10\n" + 2 * half + "DRIFT 10\nEND\n", str(tmp_path / "b.dat")
        ),
        beam,
    ).run({"ele[3][5]": 3.0})
    np.testing.assert_allclose(
        stronger.transfer_matrices.matrices[-1],
        _run(
            "FIELD_MAP_PATH .\nDRIFT 10\nFIELD_MAP 70 200 0 20 4.5 0 0 0 q 0\nDRIFT 10\nEND\n",
            tmp_path,
            beam,
        ).transfer_matrices.matrices[-1],
        atol=1e-9,
    )


def _adige_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "make_adige_maps.py"
    spec = importlib.util.spec_from_file_location("make_adige_maps", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_sector_dipole_map_in_a_bending_block_is_bend_and_edges(tmp_path):
    """A 30 degree sector dipole (rho 1 m, tanh fringes of 20 mm, the pole faces 100 mm
    inside the block) with its SUPERPOSE_MAP_OUT exit plane 100 mm after the exit face
    equals DRIFT + EDGE + BEND + EDGE + DRIFT, the fringe integral K1 gap = width / 2."""
    script = _adige_script()
    beam = Beam(energy=5.0, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1)
    rho, angle, entry, out = 1.0, 30.0, 0.1, 0.1
    b0 = float(beam.kinematics.brho) / rho
    bx, by, bz, box = script.sector_dipole(
        b0,
        rho=rho,
        angle_deg=angle,
        entry=entry,
        length=0.8,
        x_range=(-0.1, 0.35),
        half_gap=0.02,
        grid=0.005,
        ny=2,
    )
    script.write_map(tmp_path, "dip", "bs", (bx, by, bz), box)
    a = np.deg2rad(angle)
    exit_x = rho * (1 - np.cos(a)) + out * np.sin(a)
    exit_z = entry + rho * np.sin(a) + out * np.cos(a)
    block = _run(
        "FIELD_MAP_PATH .\n"
        f"SUPERPOSE_MAP_OUT {exit_z * 1e3:.12g} {exit_x * 1e3:.12g} 0 0 0 {-angle}\n"
        "FIELD_MAP 70 800 0 100 1 0 0 0 dip\nEND\n",
        tmp_path,
        beam,
    )
    edge = "EDGE 0 1000 40 0.25 0 100 0\n"
    ref = _run(
        f"DRIFT 100 100\n{edge}BEND -30 1000 0 100 0\n{edge}DRIFT 100 100\nEND\n",
        tmp_path,
        beam,
    )
    ours, theirs = block.transfer_matrices.matrices[-1], ref.transfer_matrices.matrices[-1]
    np.testing.assert_allclose(ours, theirs, atol=1e-3)  # 4e-4 measured
    assert abs(ours[0, 5]) > 0.1  # dispersive
    kick = block.summary["x0"], block.summary["x'0"]
    assert abs(kick[0]) < 0.1 and abs(kick[1]) < 0.2  # mm, mrad: the reference near the axis


def test_the_adige_excerpt_runs_end_to_end_with_generated_maps(tmp_path):
    """make_adige_maps.py's maps (not LNL's): the excerpt's bending blocks, superposed
    electrostatic multipoles, solenoids, QUAD_ELE and ELECTROSTA_ACC, envelope and
    multiparticle."""
    import json

    script = _adige_script()
    summary = script.main([str(tmp_path), "--grid-mm", "20"])
    for name in ("sd1b", "sd2b"):
        assert abs(summary[name]["exit"][0]) < 1e-4 and abs(summary[name]["exit"][1]) < 1e-6
    beam = Beam(**json.loads((tmp_path / "beam.json").read_text()))
    engine = Engine(tmp_path / "adige.dat", beam)
    env = engine.run()
    assert env.summary["energy"] == pytest.approx(script.DIPOLE_ENERGY, rel=1e-9)
    assert len(env.table.groupby("##")) == len(engine.lattice.elements) + 1
    assert any("superposed at z0 = 0 mm in the block of element 26" in n for n in env.notes)
    assert sum("a bending block" in n for n in env.notes) == 2
    mp = engine.run({"partran": 1, "nbr_part1": 300}, seed=3)
    assert mp.summary["energy"] == pytest.approx(env.summary["energy"], rel=1e-6)
    assert mp.table["npart"].iloc[-1] > 0
    # the same through arl-tracewin (TraceWin's argv), with the project the script writes
    import subprocess
    import sys

    from accelerate_rl.tracewin import read_out

    cal = tmp_path / "cal"
    cmd = [sys.executable, "-m", "accelerate_rl.engine.cli", str(tmp_path / "adige.toml")]
    proc = subprocess.run(
        [*cmd, "hide", f"path_cal={cal}"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert list(read_out(cal / "tracewin.out")["##"].unique()) == list(range(49))
