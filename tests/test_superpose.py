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
