"""experiments/helix_peer.py's 3D tables of a 1D RF map (what HELIX is given so that it
sees B theta): through our engine they reproduce the 1D map's cavity, whose matrix is
TraceWin's (test_rf_fieldmap.py); without their magnetic tables (HELIX's reading of a
1D map) the cavity's RF defocusing is several per cent stronger."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from accelerate_rl.engine import Beam, Engine
from accelerate_rl.tracewin import parse_dat_text

PEER = Path(__file__).resolve().parents[1] / "experiments" / "helix_peer.py"
#: The spoke run's first cavity (TraceWin's work_field_map.dat, element 6).
CAVITY = "FIELD_MAP 100 415.16 110.183 30 0 1.72733 0 0 Simple_Spoke_1D 0"
BEAM = Beam(energy=16.6, freq=176.1, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1)


def _peer():
    spec = importlib.util.spec_from_file_location("helix_peer", PEER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cavity(path: Path):
    result = Engine(parse_dat_text(path.read_text(), str(path)), BEAM).run()
    return result.summary["energy"], result.transfer_matrices.matrices[-1]


@pytest.fixture(scope="module")
def lines(spoke, tmp_path_factory):
    folder = tmp_path_factory.mktemp("helix-fields")
    dat = folder / "cavity.dat"
    dat.write_text(f"FIELD_MAP_PATH {spoke / 'field_maps_1D'}\nFREQ 352.2\n{CAVITY}\nEND\n")
    converted, count = _peer().with_3d_rf_maps(dat)
    assert count == 1
    assert "FIELD_MAP 7700 415.16 110.183 30 1.72733 1.72733 0 0 " in converted.read_text()
    return dat, converted


def test_the_3d_tables_reproduce_the_1d_cavity(lines):
    energy_1d, matrix_1d = _cavity(lines[0])
    energy_3d, matrix_3d = _cavity(lines[1])
    assert energy_3d == pytest.approx(energy_1d, abs=2e-5)
    assert matrix_1d[1, 0] > 0.1  # the spoke's RF defocusing, 0.16 in TraceWin's matrix
    np.testing.assert_allclose(matrix_3d[:4, :4], matrix_1d[:4, :4], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(matrix_3d[4:, 4:], matrix_1d[4:, 4:], rtol=1e-4, atol=1e-6)


def test_without_b_theta_the_rf_defocusing_is_stronger(lines):
    _, matrix_1d = _cavity(lines[0])
    prefix = next(lines[1].parent.glob("cavity_3d_maps/*.bdx")).with_suffix("")
    for ext in ("bdx", "bdy"):
        table = Path(f"{prefix}.{ext}")
        head = table.read_text().splitlines()[:4]
        assert any(float(v) for v in table.read_text().splitlines()[4:])
        table.write_text("\n".join(head + ["0.0"] * (208 * 4)) + "\n")
    _, electric_only = _cavity(lines[1])
    excess = electric_only[1, 0] / matrix_1d[1, 0] - 1
    assert 0.02 < excess < 0.05  # gamma^2 - 1 = 0.035 at 16.6 MeV: Er alone, no B theta
