"""DTL_CEL: a cell is its half quadrupoles, drifts and gap; multiparticle tracking through
cells follows the envelope; absolute phases reproduce the relative line. (TraceWin's own
DTL_CEL matrices: ``test_rf_gap.py``.)"""

from __future__ import annotations

import numpy as np
import pytest

from accelerate_rl.engine import Beam
from accelerate_rl.engine.reference import reference_track

DTL = "FREQ 352.2\n" + "".join(
    f"DTL_CEL 68.5 22.5 22.5 0.5 {60 * (-1) ** i} {-60 * (-1) ** i} 120000 -30 6 0 0.08 0.8\n"
    for i in range(20)
)


def test_a_dtl_cell_is_its_quadrupoles_drifts_and_gap():
    from accelerate_rl.engine import Engine
    from accelerate_rl.tracewin import parse_dat_text

    beam = Beam(energy=3.0, etnx=0.2, etny=0.2, eln=0.2, betx=0.2, bety=0.2, betz=0.3)
    cell = Engine(
        parse_dat_text(DTL.split("DTL_CEL")[0] + "DTL_CEL" + DTL.split("DTL_CEL")[1] + "END\n"),
        beam,
    ).run()
    # the cell's gap keeps its transit-time factor (constant here: T/Ts = 1), whose map
    # carries TraceWin's symplecticity factor, as a GAP with the same coefficients
    parts = (
        "FREQ 352.2\nQUAD 22.5 60 6\nDRIFT 11.25 6\nGAP 120000 -30 6 0 0.08 0.8\n"
        "DRIFT 12.25 6\nQUAD 22.5 -60 6\nEND\n"
    )
    split = Engine(parse_dat_text(parts), beam).run()
    assert cell.summary["energy"] == pytest.approx(split.summary["energy"], rel=1e-12)
    assert cell.summary["energy"] - 3.0 == pytest.approx(0.12 * np.cos(np.radians(30)), rel=1e-12)
    np.testing.assert_allclose(
        cell.transfer_matrices.matrices[-1], split.transfer_matrices.matrices[-1], atol=1e-12
    )
    from accelerate_rl.engine.elements.gap import CONSTANT_TTF_NOTE

    assert [CONSTANT_TTF_NOTE in n for n in cell.notes] == [True]  # T = Ts: the guess said


def test_multiparticle_through_dtl_cells_follows_the_envelope():
    from dataclasses import replace

    from accelerate_rl.engine import Engine
    from accelerate_rl.tracewin import parse_dat_text

    beam = Beam(energy=3.0, etnx=0.2, etny=0.2, eln=0.2, betx=0.2, bety=0.2, betz=0.3)
    engine = Engine(parse_dat_text(DTL + "END\n"), replace(beam, n_particles=20000))
    env = engine.run()
    mp = engine.run(mode="multiparticle", seed=2)
    assert env.summary["energy"] == pytest.approx(3.0 + 20 * 0.12 * np.cos(np.radians(30)))
    for col in ("SizeX", "SizeY", "SizeP"):
        assert mp.table[col].iloc[-1] == pytest.approx(env.table[col].iloc[-1], rel=0.04), col


def _shifted(phi_deg: float, phase_rad: float) -> str:
    """An absolute phase [deg] for relative phase ``phi_deg`` seen at RF phase ``phase``."""
    return repr(float(phi_deg - np.rad2deg(phase_rad)))


def test_absolute_dtl_phases_reproduce_the_relative_line():
    """DTL cells with p = 1 and phi_rel - omega t_gap, t_gap the time at the gap (after
    the first quadrupole and drift): the same run."""
    from accelerate_rl.engine import Engine
    from accelerate_rl.engine.species import C_LIGHT, Kinematics
    from accelerate_rl.tracewin import parse_dat_text

    beam = Beam(energy=3.0, etnx=0.2, etny=0.2, eln=0.2, betx=0.2, bety=0.2, betz=0.3)
    ref = Engine(parse_dat_text(DTL + "END\n"), beam)
    track = reference_track(ref.lattice, beam.kinematics, 352.2)
    omega = 2 * np.pi * 352.2e6
    cells = []
    for i, line in enumerate(DTL.splitlines()[1:]):
        parts = line.split()
        beta = float(Kinematics(track.energy[i], beam.species).beta)
        t_gap = track.time[i] + (68.5 / 2 - 0.5) * 1e-3 / (beta * C_LIGHT)
        parts[8] = _shifted(float(parts[8]), omega * t_gap)
        parts[10] = "1"
        cells.append(" ".join(parts))
    text = "FREQ 352.2\n" + "\n".join(cells) + "\nEND\n"
    ours = Engine(parse_dat_text(text), beam).run()
    assert ours.summary["energy"] == pytest.approx(ref.run().summary["energy"], rel=1e-12)


@pytest.mark.parametrize("line", ["QUAD 5000 -16 15", "QUAD 5000 -28 15"])
def test_an_extreme_quadrupole_gets_a_physical_message_from_the_cli(spoke, tmp_path, line):
    """A 5 m quadrupole at 3 MeV (the same Quad model as DTL cells' half quadrupoles)
    grows the beam by 1e17 and more: arl-tracewin names the element and the growth
    instead of failing in a linear solve; a 50 cm one at the same gradient runs."""
    import subprocess
    import sys

    ini = tmp_path / "q.ini"
    ini.write_bytes((spoke / "work_field_map.ini").read_bytes())

    def run(text: str) -> subprocess.CompletedProcess:
        (tmp_path / "q.dat").write_text(f"DRIFT 100 15\n{text}\nDRIFT 100 15\nEND\n")
        cal = tmp_path / f"cal{len(list(tmp_path.iterdir()))}"
        argv = [sys.executable, "-m", "accelerate_rl.engine.cli", str(ini), "hide"]
        argv += [f"path_cal={cal}", f"dat_file={tmp_path / 'q.dat'}", "energy1=3"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    proc = run(line)
    assert proc.returncode == 2
    assert "element 2 (QUAD," in proc.stderr and "q.dat:2)" in proc.stderr
    assert "cosh(sqrt(|k|) L)" in proc.stderr
    assert "Singular" not in proc.stderr and "Traceback" not in proc.stderr
    short = run(line.replace("5000", "500"))
    assert short.returncode == 0, short.stderr


@pytest.fixture(scope="module")
def ess_dtl(samples, tmp_path_factory):
    """ESS's MEBT and DTL (2014: 177 DTL_CEL in 5 tanks, every cell with transit-time
    coefficients), cut before the spoke section (whose field maps are not in the samples);
    a 3.62 MeV proton beam at 352.21 MHz."""
    from accelerate_rl.engine import Engine

    text = (samples / "lattices" / "ess-mebt-tgt-bl14.dat").read_text(encoding="latin-1")
    path = tmp_path_factory.mktemp("ess") / "mebt-dtl.dat"
    path.write_text(text[: text.index(";BEGIN_BEAMLINE spoke")] + "END\n", encoding="latin-1")
    beam = Beam(
        energy=3.62, etnx=0.25, etny=0.25, eln=0.36, betx=0.2, bety=0.2, betz=0.3,
        freq=352.21, n_particles=2000,
    )  # fmt: skip
    return Engine(path, beam)


def test_the_ess_dtl_accelerates_as_designed(ess_dtl):
    """ESS's DTL design: 3.62 MeV -> about 21.3, 39.1, 56.8, 73.8 and 89.8 MeV at the ends
    of its five tanks; the MEBT's error-study and chopper-off commands are noted."""
    result = ess_dtl.run()
    track = reference_track(ess_dtl.lattice, ess_dtl.beam.kinematics, 352.21)
    tank_ends = [175, 219, 258, 294, len(track.energy) - 1]  # elements before each LATTICE
    np.testing.assert_allclose(
        track.energy[tank_ends], [21.26, 39.07, 56.75, 73.75, 89.82], atol=0.01
    )
    assert 89.5 < result.summary["energy"] < 90.0
    assert result.summary["transmission"] > 0.9999
    assert sum(type(m).__name__ == "DtlCell" for m in ess_dtl.compiled.models) == 177
    notes = " ".join(result.notes)
    assert "SET_BEAM_PHASE_ERROR" in notes and "CHOPPER" in notes and "is off" in notes


def test_particles_through_the_ess_dtl_follow_the_envelope(ess_dtl):
    env = ess_dtl.run()
    mp = ess_dtl.run(mode="multiparticle", seed=3)
    assert mp.summary["transmission"] == 1.0
    for col in ("SizeX", "SizeY", "ex", "ey"):
        assert mp.summary[col] == pytest.approx(env.summary[col], rel=0.05), col
    for col in ("SizeP", "ep"):  # the bunch's phase spread meets the RF's curvature
        assert mp.summary[col] == pytest.approx(env.summary[col], rel=0.1), col
