"""RF field maps: the synchronous particle against TraceWin's own runs (the spoke run's
Cav_set_point_res.dat and energy_ref.txt, the 502 MeV example's final energy)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from accelerate_rl.engine import Beam
from accelerate_rl.engine.rf import reference_track
from accelerate_rl.tracewin import read_dat, read_ini
from accelerate_rl.tracewin.cavities import read_cavities, write_cavities
from accelerate_rl.tracewin.errors import TraceWinFormatError


def _track(folder, dat, ini):
    beam = Beam.from_ini(read_ini(folder / ini))
    return reference_track(read_dat(folder / dat), beam.kinematics, beam.freq)


@pytest.fixture(scope="module")
def spoke_track(spoke):
    return _track(spoke, "work_field_map.dat", "work_field_map.ini")


def _energy_ref(spoke) -> pd.DataFrame:
    rows = [
        ln.split("\t")
        for ln in (spoke / "energy_ref.txt").read_text(encoding="latin-1").splitlines()
        if ln[:1].isdigit()
    ]
    frame = pd.DataFrame(
        [(int(r[0]), float(r[9]), float(r[12])) for r in rows],
        columns=["n", "energy", "abs_phase"],
    )
    return frame


def test_cavity_phases_and_voltages_match_tracewins_set_points(spoke, spoke_track):
    ref = read_cavities(spoke / "Cav_set_point_res.dat")
    got = spoke_track.cavities
    assert [c.number for c in got] == list(ref["Cav#"])
    np.testing.assert_allclose([c.phi_s for c in got], ref["SyncPhase[°]"], atol=0.05)
    np.testing.assert_allclose([c.voltage for c in got], ref["Voltage[MV]"], rtol=1e-4)


def test_our_cav_set_point_file_is_byte_identical_to_tracewins(spoke, spoke_track, tmp_path):
    rows = [(c.number, c.phi_s, c.voltage) for c in spoke_track.cavities]
    ours = write_cavities(tmp_path / "Cav_set_point_res.dat", rows)
    assert ours.read_bytes() == (spoke / "Cav_set_point_res.dat").read_bytes()


def test_energy_and_phase_of_the_synchronous_particle_along_the_line(spoke, spoke_track):
    ref = _energy_ref(spoke)
    energy = spoke_track.energy[ref["n"]]
    np.testing.assert_allclose(energy, ref["energy"], rtol=1e-5)
    assert spoke_track.energy[-1] == pytest.approx(19.17393, rel=1e-5)
    # TraceWin's Abs_Phase: the time of flight at the bunch frequency [deg]
    np.testing.assert_allclose(spoke_track.abs_phase(352.2)[ref["n"]], ref["abs_phase"], atol=0.01)


def test_the_502_mev_linac_final_energy(samples):
    track = _track(samples / "lightwin-example", "example.dat", "example.ini")
    assert len(track.cavities) == 142
    assert track.energy[-1] == pytest.approx(502.24, abs=0.05)
    assert {c.freq for c in track.cavities} == {352.2, 704.4}  # FREQ switches sections


def test_set_sync_phase_solves_the_entry_phase(spoke, spoke_track, tmp_path):
    """SET_SYNC_PHASE with the phases TraceWin reports reproduces its run (a check of
    our solver on our physics: no TraceWin sample uses SET_SYNC_PHASE)."""
    folder = tmp_path / "run"
    shutil.copytree(spoke, folder)
    text = (folder / "work_field_map.dat").read_text(encoding="latin-1")
    phases = iter(f"{c.phi_s:.10f}" for c in spoke_track.cavities)
    lines = []
    for line in text.splitlines():
        if line.startswith("FIELD_MAP "):
            parts = line.split()
            parts[3] = next(phases)
            line = " ".join(parts)
        lines.append(line)
    lines.insert(lines.index("FREQ 352.2") + 1, "SET_SYNC_PHASE")
    (folder / "work_field_map.dat").write_text("\n".join(lines), encoding="latin-1")
    track = _track(folder, "work_field_map.dat", "work_field_map.ini")
    np.testing.assert_allclose(
        [c.phi_in for c in track.cavities], [c.phi_in for c in spoke_track.cavities], atol=1e-6
    )
    assert track.energy[-1] == pytest.approx(spoke_track.energy[-1], rel=1e-12)


def test_absolute_phases_reproduce_the_relative_run(spoke, spoke_track, tmp_path):
    """Every cavity given its absolute phase phi_rel - omega t_entry (p = 1): the same
    run (a check of the convention's consistency; no TraceWin sample uses p = 1)."""
    from accelerate_rl.engine import Engine

    folder = tmp_path / "run"
    shutil.copytree(spoke, folder)
    entry_time = {c.number: spoke_track.time[c.number - 1] for c in spoke_track.cavities}
    lines, n = [], 0
    for line in (folder / "work_field_map.dat").read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if parts and parts[0] in ("QUAD", "DRIFT", "FIELD_MAP"):
            n += 1
        if parts and parts[0] == "FIELD_MAP":
            omega_t = 2 * np.pi * 352.2e6 * entry_time[n]
            parts[3] = repr(float(np.rad2deg(np.deg2rad(float(parts[3])) - omega_t) % 360))
            parts[10] = "1"
            line = " ".join(parts)
        lines.append(line)
    (folder / "work_field_map.dat").write_text("\n".join(lines), encoding="latin-1")
    beam = Beam.from_ini(read_ini(folder / "work_field_map.ini"))
    relative = Engine(spoke / "work_field_map.dat", beam).run()
    absolute = Engine(folder / "work_field_map.dat", beam).run()
    assert absolute.summary["energy"] == pytest.approx(relative.summary["energy"], rel=1e-10)
    np.testing.assert_allclose(
        [c.phi_s for c in absolute.cavities], [c.phi_s for c in relative.cavities], atol=1e-6
    )
    np.testing.assert_allclose(absolute.table["SizeX"], relative.table["SizeX"], rtol=1e-8)


def test_bad_field_maps_are_named(spoke, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(spoke, folder)
    edz = folder / "field_maps_1D" / "Simple_Spoke_1D.edz"
    edz.write_text("\n".join(edz.read_text().splitlines()[:50]))
    with pytest.raises(TraceWinFormatError, match=r"Simple_Spoke_1D\.edz.*nz \+ 1 = 208"):
        _track(folder, "work_field_map.dat", "work_field_map.ini")
    edz.unlink()
    with pytest.raises(TraceWinFormatError, match="field map not found: check FIELD_MAP_PATH"):
        _track(folder, "work_field_map.dat", "work_field_map.ini")


# -- the engine through RF cavities ---------------------------------------------------


@pytest.fixture(scope="module")
def spoke_engine(spoke):
    from accelerate_rl.engine import Engine

    beam = Beam.from_ini(read_ini(spoke / "work_field_map.ini"))
    return Engine(spoke / "work_field_map.dat", beam)


def _exit_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """TraceWin writes rows inside field maps too: keep each element's last row."""
    return frame.groupby("##").tail(1).set_index("##")


@pytest.mark.parametrize(
    "column", ["SizeX", "SizeY", "SizeP", "SizeZ", "gama-1", "ex", "ey", "ep", "sxx'", "syy'"]
)
def test_envelope_through_the_spoke_cavities_matches_tracewin_out(spoke, spoke_engine, column):
    from accelerate_rl.tracewin import read_out

    ref = _exit_rows(read_out(spoke / "tracewin.out"))
    ours = spoke_engine.run().table.set_index("##").loc[ref.index]
    tol = 3e-3 if column in ("sxx'", "syy'") else 1e-3  # correlations cross zero
    np.testing.assert_allclose(ours[column], ref[column], rtol=tol, atol=1e-9)


def test_transfer_matrices_through_the_cavities_match_tracewin(spoke, spoke_engine):
    from accelerate_rl.tracewin import read_transfer_matrices

    ref = read_transfer_matrices(spoke / "Transfer_matrix1.dat")
    ours = spoke_engine.run().transfer_matrices
    np.testing.assert_allclose(ours.matrices, ref.matrices, atol=2e-3)
    cavity = ours.matrices[5] @ np.linalg.inv(ours.matrices[4])  # element 6 alone
    expect = ref.matrices[5] @ np.linalg.inv(ref.matrices[4])
    np.testing.assert_allclose(cavity, expect, atol=3e-4)


def test_the_engine_reports_energy_and_set_points(spoke, spoke_engine):
    result = spoke_engine.run()
    assert result.summary["energy"] == pytest.approx(19.17393, rel=1e-5)
    assert [c.number for c in result.cavities] == [6, 8, 16, 18, 26, 28, 36, 38]


def test_arl_tracewin_writes_tracewins_cav_set_point_file(spoke, tmp_path):
    import subprocess
    import sys

    from accelerate_rl.tracewin import read_out

    run = tmp_path / "run"
    shutil.copytree(spoke, run)
    cal = tmp_path / "cal"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate_rl.engine.cli",
            str(run / "work_field_map.ini"),
            "hide",
            f"path_cal={cal}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    written = (cal / "Cav_set_point_res.dat").read_bytes()
    assert written == (spoke / "Cav_set_point_res.dat").read_bytes()
    ours = read_out(cal / "tracewin.out")
    assert ours["gama-1"].iloc[-1] == pytest.approx(19.17393 / 938.272029, rel=1e-5)


def test_a_cavity_override_changes_the_energy_downstream(spoke_engine):
    from accelerate_rl.tracewin.errors import InvalidParameterError

    base = spoke_engine.run()
    shifted = spoke_engine.run({"ele[6][3]": 100.183})  # 10 deg earlier
    assert shifted.summary["energy"] != pytest.approx(base.summary["energy"], rel=1e-6)
    assert shifted.cavities[0].phi_s == pytest.approx(base.cavities[0].phi_s - 10, abs=0.5)
    assert shifted.table["gama-1"].iloc[5] == base.table["gama-1"].iloc[5]  # upstream
    assert shifted.table["gama-1"].iloc[6] != base.table["gama-1"].iloc[6]
    # the engine's cache is not polluted: the base run again is the base run
    assert spoke_engine.run().summary == base.summary
    with pytest.raises(InvalidParameterError, match=r"ele\[6\]\[3\].*batched overrides of RF"):
        spoke_engine.run_batch({"ele[6][3]": [100.0, 110.0]})


def test_the_502_mev_linac_through_the_engine(samples):
    from accelerate_rl.engine import Engine

    folder = samples / "lightwin-example"
    engine = Engine(folder / "example.dat", Beam.from_ini(read_ini(folder / "example.ini")))
    result = engine.run()
    assert result.summary["energy"] == pytest.approx(502.24, abs=0.05)
    assert len(result.cavities) == 142 and result.summary["transmission"] > 0.99


def test_unsupported_rf_settings_are_named(spoke, tmp_path):
    from accelerate_rl.engine import Engine
    from accelerate_rl.engine.elements import UnsupportedElementError

    text = (spoke / "work_field_map.dat").read_text(encoding="latin-1")
    beam = Beam.from_ini(read_ini(spoke / "work_field_map.ini"))
    for old, new, message in [
        # 7700 (3D) is tracked now (tests/test_fieldmap_tracking.py); 2D Cartesian is not
        ("FIELD_MAP 100 415.16 110.183", "FIELD_MAP 600 415.16 110.183", "geometry 600"),
    ]:
        path = tmp_path / "bad.dat"
        shutil.copytree(spoke / "field_maps_1D", tmp_path / "field_maps_1D", dirs_exist_ok=True)
        path.write_text(text.replace(old, new, 1), encoding="latin-1")
        with pytest.raises(UnsupportedElementError, match=message):
            Engine(path, beam)


@pytest.mark.parametrize("column", ["SizeX", "SizeY", "SizeP", "ex", "ey", "ep"])
def test_multiparticle_through_the_cavities_matches_partran(spoke, spoke_engine, column):
    """TraceWin's own 10 input particles (part_rfq.dst), each integrated through the
    field maps with its phase and energy, against partran1.out at every element exit."""
    from accelerate_rl.tracewin import read_dst, read_out

    dist = read_dst(spoke / "part_rfq.dst")
    result = spoke_engine.run(mode="multiparticle", distribution=dist)
    ref = _exit_rows(read_out(spoke / "partran1.out"))
    ours = result.table.set_index("##").loc[ref.index]
    np.testing.assert_allclose(ours[column], ref[column], rtol=5e-3)


# -- thin gaps and DTL cells ------------------------------------------------------------


def _short_gap_field_map(folder, length=0.02, steps=400, width=0.002):
    z = np.linspace(0.0, length, steps + 1)
    field = np.exp(-((z - length / 2) ** 2) / (2 * width**2))
    (folder / "gap.edz").write_text(
        f"{steps} {length}\n1\n" + "\n".join(f"{v:.12e}" for v in field) + "\n"
    )


def test_a_thin_gap_is_the_short_limit_of_a_field_map(tmp_path):
    """GAP (E0TL, phi_s) between two half drifts against a 2 cm Gaussian field map with
    the same voltage and synchronous phase, both through our field-map integrator
    (validated above against TraceWin)."""
    from accelerate_rl.engine import Engine
    from accelerate_rl.tracewin import parse_dat_text

    _short_gap_field_map(tmp_path)
    beam = Beam(energy=10.0, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1, freq=352.2)
    cavity = "FIELD_MAP_PATH .\nFREQ 352.2\nSET_SYNC_PHASE\nFIELD_MAP 100 20 -30 20 0 2 0 0 gap 0\n"
    fmap = Engine(parse_dat_text(cavity + "END\n", str(tmp_path / "a.dat")), beam).run()
    c = fmap.cavities[0]
    gap = f"FREQ 352.2\nDRIFT 10 20\nGAP {c.voltage * 1e6!r} {c.phi_s!r} 20 0 0\nDRIFT 10 20\n"
    thin = Engine(parse_dat_text(gap + "END\n", str(tmp_path / "b.dat")), beam).run()
    assert thin.summary["energy"] == pytest.approx(fmap.summary["energy"], rel=1e-12)
    assert thin.cavities[0].phi_s == pytest.approx(-30.0, abs=1e-9)
    np.testing.assert_allclose(
        thin.transfer_matrices.matrices[-1], fmap.transfer_matrices.matrices[-1], atol=5e-4
    )


def _gaussian_gap(folder, sigma: float, length: float = 0.12, steps: int = 1200) -> float:
    """A Gaussian gap field (peak 1 MV/m, rms width ``sigma`` [m]): the map file
    gap.edz; returns its integral E0 L [MV]."""
    z = np.linspace(0.0, length, steps + 1)
    field = np.exp(-((z - length / 2) ** 2) / (2 * sigma**2))
    (folder / "gap.edz").write_text(
        f"{steps} {length}\n1\n" + "\n".join(f"{v:.12e}" for v in field) + "\n"
    )
    return float(np.sqrt(2 * np.pi) * sigma)


@pytest.mark.parametrize("energy", [6.0, 16.0])
def test_transit_time_factor_terms_give_the_gain_of_a_field_at_another_velocity(tmp_path, energy):
    """A wide Gaussian gap (T(k) = exp(-k^2 sigma^2 / 2), S = 0) expanded about 10 MeV:
    at 6 and 16 MeV the thin GAP with betas, T, T', T'' gains what the field map gains
    (within the expansion's third-order error), and visibly not without them."""
    from accelerate_rl.engine import Engine
    from accelerate_rl.engine.species import Kinematics, Species
    from accelerate_rl.tracewin import parse_dat_text

    sigma, freq = 0.01, 352.2
    e0l = _gaussian_gap(tmp_path, sigma)
    wavelength = 299_792_458.0 / (freq * 1e6)
    betas = float(Kinematics(10.0, Species.proton()).beta)
    ks = 2 * np.pi / (betas * wavelength)
    ts = float(np.exp(-((ks * sigma) ** 2) / 2))
    kt = float(-ks * sigma**2 * ts)
    kkt = float((ks**2 * sigma**4 - sigma**2) * ts)
    e0tl = e0l * ts * 1e6  # [V]
    beam = Beam(energy=energy, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1, freq=freq)
    head = "FIELD_MAP_PATH .\nFREQ 352.2\nSET_SYNC_PHASE\n"
    line = head + "FIELD_MAP 100 120 -30 20 0 1 0 0 gap 0\nEND\n"
    fmap = Engine(parse_dat_text(line, str(tmp_path / "a.dat")), beam)
    gain_map = fmap.run().summary["energy"] - energy
    gap = f"DRIFT 60 20\nGAP {e0tl!r} -30 20 0 {betas!r} {ts!r} {kt!r} {kkt!r} 0 0\nDRIFT 60 20\n"
    gain_ttf = Engine(parse_dat_text(head + gap + "END\n"), beam).run().summary["energy"] - energy
    plain = gap.replace(f" {betas!r} {ts!r} {kt!r} {kkt!r} 0 0", " 0")
    gain_plain = Engine(parse_dat_text(head + plain + "END\n"), beam).run().summary["energy"]
    assert gain_ttf == pytest.approx(gain_map, rel=0.01)
    assert abs(gain_plain - energy - gain_map) > 0.04 * gain_map


def test_the_thin_gap_map_is_the_derivative_of_its_particle_tracking():
    """With transit-time-factor terms, the envelope's linear map equals the Jacobian of
    the per-particle gap (multiparticle mode) at the reference."""
    from accelerate_rl.engine.elements.gap import TransitTime, thin_gap_crossing, track_thin_gap
    from accelerate_rl.engine.species import Kinematics, Species

    kin = Kinematics(5.0, Species.proton())
    ttf = TransitTime(0.11, 0.85, -2e-3, -1e-4, 1e-3, 2e-5)
    crossing = thin_gap_crossing(3e5, np.radians(-35), 352.2, kin, ttf)
    eps = 1e-7
    jac = np.empty((6, 6))
    for j in range(6):
        d = np.zeros((6, 2))
        d[j, 0], d[j, 1] = eps, -eps
        out = track_thin_gap(d, kin, crossing, 3e5, 352.2, ttf)
        jac[:, j] = (out[:, 0] - out[:, 1]) / (2 * eps)
    np.testing.assert_allclose(jac, crossing.matrix, atol=2e-6)
    centre = track_thin_gap(np.zeros((6, 1)), kin, crossing, 3e5, 352.2, ttf)
    np.testing.assert_allclose(centre[:, 0], 0.0, atol=1e-12)


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
    parts = (
        "FREQ 352.2\nQUAD 22.5 60 6\nDRIFT 11.25 6\nGAP 120000 -30 6 0 0\n"
        "DRIFT 12.25 6\nQUAD 22.5 -60 6\nEND\n"
    )
    split = Engine(parse_dat_text(parts), beam).run()
    assert cell.summary["energy"] == pytest.approx(split.summary["energy"], rel=1e-12)
    assert cell.summary["energy"] - 3.0 == pytest.approx(0.12 * np.cos(np.radians(30)), rel=1e-12)
    np.testing.assert_allclose(
        cell.transfer_matrices.matrices[-1], split.transfer_matrices.matrices[-1], atol=1e-12
    )
    assert not cell.notes


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


def test_a_static_magnetic_field_map_is_a_solenoid_with_fringes(tmp_path):
    """FIELD_MAP 10: Bz(z) on axis (.bsz, scaled by kb) with steep tanh edges equals the
    hard-edge SOLENOID (checked against Cheetah elsewhere) between two drifts."""
    from accelerate_rl.engine import Engine
    from accelerate_rl.tracewin import parse_dat_text

    length, steps, edge = 0.3, 3000, 2e-4
    z = np.linspace(0.0, length, steps + 1)
    field = 0.5 * (np.tanh((z - 0.05) / edge) - np.tanh((z - 0.25) / edge))
    (tmp_path / "sol.bsz").write_text(
        f"{steps} {length}\n1\n" + "\n".join(f"{v:.12e}" for v in field) + "\n"
    )
    beam = Beam(energy=5.0, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1)
    fmap = "FIELD_MAP_PATH .\nFIELD_MAP 10 300 0 20 0.8 0 0 0 sol 0\nEND\n"
    ours = Engine(parse_dat_text(fmap, str(tmp_path / "a.dat")), beam).run()
    hard = "DRIFT 50 20\nSOLENOID 200 0.8 20\nDRIFT 50 20\nEND\n"
    ref = Engine(parse_dat_text(hard, str(tmp_path / "b.dat")), beam).run()
    np.testing.assert_allclose(
        ours.transfer_matrices.matrices[-1], ref.transfer_matrices.matrices[-1], atol=1e-3
    )
    assert ours.summary["energy"] == 5.0 and not ours.cavities


def test_batched_simulations_of_an_accelerating_line_equal_single_runs(spoke):
    """The simulator's batch path (one vectorised call) on the spoke linac: the same
    metrics as one run each, the final energy included."""
    from accelerate_rl.simulators import EmbeddedSimulator

    sim = EmbeddedSimulator(spoke / "work_field_map.ini", observe=[("SizeX", 20)])
    sets = [{"ele[1][2]": g, "ele[3][2]": -g} for g in (4.8, 4.9, 5.0)]
    batch = sim.simulate_batch(sets)
    for one, params in zip(batch, sets):
        single = sim.simulate(params)
        assert one.metrics == pytest.approx(single.metrics, rel=1e-10, abs=1e-12)
    assert batch[0].metrics["energy"] == pytest.approx(19.17393, rel=1e-5)


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


def test_absolute_gap_phases_reproduce_the_relative_line():
    """GAPs between drifts with phases phi_rel - omega t_gap (p = 1): the same run."""
    from accelerate_rl.engine import Engine
    from accelerate_rl.tracewin import parse_dat_text

    beam = Beam(energy=3.0, etnx=0.2, etny=0.2, eln=0.2, betx=0.2, bety=0.2, betz=0.3)
    gaps = [(150000.0, -30.0), (160000.0, -25.0), (170000.0, -20.0)]
    relative = "FREQ 352.2\n" + "".join(f"DRIFT 70 10\nGAP {v} {phi} 10 0 0\n" for v, phi in gaps)
    ref = Engine(parse_dat_text(relative + "END\n"), beam)
    track = reference_track(ref.lattice, beam.kinematics, 352.2)
    omega = 2 * np.pi * 352.2e6
    absolute = "FREQ 352.2\n" + "".join(
        f"DRIFT 70 10\nGAP {v} {_shifted(phi, omega * track.time[2 * i + 1])} 10 1 0\n"
        for i, (v, phi) in enumerate(gaps)
    )
    ours = Engine(parse_dat_text(absolute + "END\n"), beam).run()
    base = ref.run()
    assert ours.summary["energy"] == pytest.approx(base.summary["energy"], rel=1e-12)
    np.testing.assert_allclose(
        ours.transfer_matrices.matrices, base.transfer_matrices.matrices, atol=1e-9
    )


# -- NCELLS ----------------------------------------------------------------------------


def _ncells_line(mode: int, betag: float, dzi: float = 0.0, dzo: float = 0.0) -> str:
    return (
        f"FREQ 352.2\nNCELLS {mode} 5 {betag!r} 1.5e6 -30 20 0 1.1 0.9 {dzi} {dzo}"
        f" {betag!r} 0.8 0 0 0.7 0 0 0.75 0 0\nEND\n"
    )


@pytest.mark.parametrize("mode, cell", [(0, 1.0), (1, 0.5), (2, 0.5)])
def test_ncells_is_its_gaps_with_the_phases_of_a_standing_wave(mode, cell):
    """NCELLS against the same cavity written as DRIFT/GAP elements with absolute phases
    (p = 1: the line's own time of flight sets each gap's phase): energy, matrix, length.
    Gap j sees phi + j pi (pi modes) + omega (t_j - t_0)."""
    from accelerate_rl.engine import Engine
    from accelerate_rl.engine.species import Kinematics, Species
    from accelerate_rl.tracewin import parse_dat_text

    energy, freq = 20.0, 352.2
    betag = float(Kinematics(energy, Species.proton()).beta)
    lam = 299_792_458.0 / (freq * 1e6)
    lengths = np.full(5, cell * betag * lam)
    if mode == 2:
        lengths[[0, -1]] = 0.75 * betag * lam
    beam = Beam(energy=energy, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1, freq=freq)
    whole = Engine(parse_dat_text(_ncells_line(mode, betag, 2.0, -1.5)), beam).run()
    assert whole.summary["length"] == pytest.approx(lengths.sum(), rel=1e-12)
    centres = np.cumsum(lengths) - lengths / 2
    centres[0] += 2e-3
    centres[-1] -= 1.5e-3
    edges = np.diff(np.concatenate([[0.0], centres, [lengths.sum()]]))
    volts = 1.5e6 * lengths * np.array([1.1, 1, 1, 1, 0.9])
    ttf = ["0.7", "0.8", "0.8", "0.8", "0.75"]
    t0 = edges[0] / (betag * 299_792_458.0)
    omega_t0 = np.degrees(2 * np.pi * freq * 1e6 * t0)
    lines = ["FREQ 352.2"]
    for j in range(5):
        phase = -30 + (180 * j if mode else 0) - omega_t0
        lines += [
            f"DRIFT {float(edges[j]) * 1e3!r} 20",
            f"GAP {float(volts[j])!r} {float(phase)!r} 20 1 {betag!r} {ttf[j]} 0 0 0 0",
        ]
    lines += [f"DRIFT {float(edges[-1]) * 1e3!r} 20", "END"]
    parts = Engine(parse_dat_text("\n".join(lines) + "\n"), beam).run()
    assert whole.summary["energy"] == pytest.approx(parts.summary["energy"], rel=1e-12)
    gain = whole.summary["energy"] - energy
    assert 0.8 * volts.sum() * 1e-6 * 0.7 < gain < volts.sum() * 1e-6  # accelerated
    np.testing.assert_allclose(
        whole.transfer_matrices.matrices[-1], parts.transfer_matrices.matrices[-1], atol=1e-10
    )
    mp_whole = Engine(parse_dat_text(_ncells_line(mode, betag, 2.0, -1.5)), beam)
    a = mp_whole.run(mode="multiparticle", seed=4).final
    b = Engine(parse_dat_text("\n".join(lines) + "\n"), beam).run(mode="multiparticle", seed=4)
    np.testing.assert_allclose(a.raw, b.final.raw, rtol=1e-9, atol=1e-12)
    assert whole.cavities[0].voltage == pytest.approx(
        abs(sum(c.voltage * np.exp(1j * np.radians(c.phi_s)) for c in parts.cavities)), rel=1e-9
    )


def test_ncells_rejects_what_it_cannot_model():
    from accelerate_rl.engine import Engine
    from accelerate_rl.engine.elements import UnsupportedElementError
    from accelerate_rl.tracewin import parse_dat_text

    beam = Beam(energy=20.0, freq=352.2)
    for line, what in (
        ("NCELLS 3 5 0.2 1e6 -30 20 0", "mode"),
        ("NCELLS 1 2.5 0.2 1e6 -30 20 0", "number of cells"),
    ):
        with pytest.raises(UnsupportedElementError, match=what):
            Engine(parse_dat_text(f"FREQ 352.2\n{line}\nEND\n"), beam)


def test_ncells_absolute_phase_reproduces_the_relative_cavity():
    """p = 1: phi + omega t at the first gap, t the line's time of flight to it."""
    from accelerate_rl.engine import Engine
    from accelerate_rl.engine.species import Kinematics, Species
    from accelerate_rl.tracewin import parse_dat_text

    beam = Beam(energy=20.0, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1, freq=352.2)
    betag = float(Kinematics(20.0, Species.proton()).beta)
    lam = 299_792_458.0 / 352.2e6

    def line(phi: float, p: int) -> str:
        return (
            f"FREQ 352.2\nDRIFT 100 20\nNCELLS 1 4 {betag!r} 1.5e6 {phi!r} 20 {p} 1 1 3 0"
            f" {betag!r} 0.8 0 0 0 0 0 0 0 0\nEND\n"
        )

    to_first = (0.1 + betag * lam / 4 + 3e-3) / (betag * 299_792_458.0)  # drift, half cell, dzi
    phi = float(-30 - np.degrees(2 * np.pi * 352.2e6 * to_first))
    rel, ab = (Engine(parse_dat_text(line(*a)), beam) for a in ((-30.0, 0), (phi, 1)))
    assert ab.run().summary["energy"] == pytest.approx(rel.run().summary["energy"], rel=1e-12)
    a = rel.run(mode="multiparticle", seed=2).final.raw
    b = ab.run(mode="multiparticle", seed=2).final.raw
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
