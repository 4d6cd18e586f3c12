"""The embedded engine against the real TraceWin run (quads and drifts, elements 1-4)."""

from __future__ import annotations

import numpy as np
import pytest

from accelerate_rl.engine import Beam, Engine
from accelerate_rl.tracewin import parse_dat_text, read_ini, read_out, read_transfer_matrices


@pytest.fixture(scope="module")
def spoke_result(spoke):
    text = (spoke / "work_field_map.dat").read_text()
    head = text.split("DRIFT 589.42")[0] + "END\n"  # elements 1-4: QUAD DRIFT QUAD DRIFT
    beam = Beam.from_ini(read_ini(spoke / "work_field_map.ini"))
    return Engine(parse_dat_text(head, "head.dat"), beam).run()


def test_transfer_matrices_of_elements_1_to_4_match_tracewin(spoke, spoke_result):
    ref = read_transfer_matrices(spoke / "Transfer_matrix1.dat")
    for n in range(1, 5):
        np.testing.assert_allclose(
            spoke_result.transfer_matrices.of_element(n), ref.of_element(n), rtol=0, atol=1e-5
        )


@pytest.mark.parametrize(
    "column", ["SizeX", "SizeY", "SizeP", "sxx'", "syy'", "spW", "ex", "ey", "ep", "SizeZ"]
)
def test_envelope_rows_1_to_4_match_tracewin_out(spoke, spoke_result, column):
    ref = read_out(spoke / "tracewin.out")
    ours = spoke_result.table[column].to_numpy()[:5]
    theirs = ref[column].to_numpy()[:5]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-9)


def test_positions_and_phase_advances_match(spoke, spoke_result):
    ref = read_out(spoke / "tracewin.out")
    np.testing.assert_allclose(spoke_result.table["z(m)"][:5], ref["z(m)"][:5], atol=1e-9)
    for col in ("kx", "ky", "kz"):
        np.testing.assert_allclose(spoke_result.table[col][1:5], ref[col][1:5], rtol=1e-3)
