"""Negative ions: an RF element's phase refers to the crest of the particle's own charge
(engine/rf.py), so a line of RF elements only (GAP, DTL_CEL without quadrupole fields,
NCELLS, 1D and 3D FIELD_MAP, relative and SET_SYNC_PHASE) takes an H- beam exactly as it
takes a proton beam of the same mass: same energies, synchronous phases and linear maps."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from accelerate_rl.engine import Beam, Engine

ROOT = Path(__file__).resolve().parents[1]

LINE = """FREQ 352.21
DRIFT 50 20 0
GAP 500000 -30 20 0 0 0 0 0 0 0
DRIFT 50 20 0
DTL_CEL 68.5 22.5 22.5 0.5 0 0 120000 -30 6 0 0.08 0.8
NCELLS 1 5 0.085 1.5e6 -30 20 0 1.1 0.9 0 0 0.085 0.8 0 0 0.7 0 0 0.75 0 0
DRIFT 50 20 0
FIELD_MAP_PATH .
FIELD_MAP 100 300 70 20 0 3 0 0 cav1d
DRIFT 50 20 0
SET_SYNC_PHASE
FIELD_MAP 100 300 -25 20 0 3 0 0 cav1d
DRIFT 50 20 0
FIELD_MAP 7700 250 -30 20 3 3 0 0 cav3d
END
"""


def _generate():
    spec = importlib.util.spec_from_file_location(
        "make_lattice_maps", ROOT / "experiments" / "make_lattice_maps.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hminus")
    generate = _generate()
    generate(100, "cav1d", 0.3, 0.02, 352.21, folder, beta=0.09)
    generate(7700, "cav3d", 0.25, 0.02, 352.21, folder, beta=0.09)
    path = folder / "line.dat"
    path.write_text(LINE)
    return path


def _run(path, charge):
    beam = Beam(
        energy=3.0, mass=939.294, charge=charge, etnx=0.2, etny=0.2, eln=0.2,
        betx=0.3, bety=0.3, betz=0.3, freq=352.21,
    )  # fmt: skip
    return Engine(path, beam).run()


def test_h_minus_accelerates_as_a_proton_with_the_same_phases(line):
    proton, hminus = _run(line, 1.0), _run(line, -1.0)
    assert len(hminus.cavities) == 6
    assert any("negative ions: RF phases" in n for n in hminus.notes)  # the guess is said
    assert not any("negative ions" in n for n in proton.notes)
    assert all(c.w_out > c.w_in + 0.05 for c in hminus.cavities)  # each one accelerates
    assert hminus.summary["energy"] == pytest.approx(proton.summary["energy"], rel=1e-12)
    assert [c.phi_s for c in hminus.cavities] == pytest.approx(
        [c.phi_s for c in proton.cavities], abs=1e-9
    )
    assert [c.phi_s for c in hminus.cavities][-2] == pytest.approx(-25.0, abs=1e-6)
    np.testing.assert_allclose(
        hminus.transfer_matrices.matrices[-1],
        proton.transfer_matrices.matrices[-1],
        rtol=1e-9,
        atol=1e-12,
    )


def test_h_minus_particles_track_as_protons_through_the_same_rf_line(line):
    def final(charge):
        beam = Beam(
            energy=3.0, mass=939.294, charge=charge, etnx=0.2, etny=0.2, eln=0.2,
            betx=0.3, bety=0.3, betz=0.3, freq=352.21, n_particles=300,
        )  # fmt: skip
        return Engine(line, beam).run(mode="multiparticle", seed=5).final.raw

    np.testing.assert_allclose(final(-1.0), final(1.0), rtol=1e-9, atol=1e-12)
