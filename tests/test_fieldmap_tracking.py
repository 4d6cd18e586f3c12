"""Tracking through 2D and 3D field maps against independent references: analytic fields
written as TraceWin tables by the tests, compared with the engine's QUAD and SOLENOID
(checked against Cheetah elsewhere), with its 1D FIELD_MAP 10, and with a scipy
integration of the Lorentz force in time."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from accelerate_rl.engine import Engine
from accelerate_rl.engine.beam import Beam
from accelerate_rl.engine.elements.field_map_3d import FieldMapTable
from accelerate_rl.engine.species import C_LIGHT, PROTON_MASS
from accelerate_rl.tracewin import parse_dat_text
from fieldmap_tables import soft_edges, soft_edges_slope, write_2d_map, write_3d_map

BEAM = Beam(energy=5.0, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1)


def _matrix(folder, text, beam=BEAM):
    run = Engine(parse_dat_text(text, str(folder / "line.dat")), beam).run()
    return run.transfer_matrices.matrices[-1], run


def _hard_quad(x, y, z, start=0.05, end=0.25, dz=1e-3):
    """G(z) = 1 T/m from start to end; 0.5 at the edge nodes (the interpolated ramp keeps
    the integral)."""
    g = np.where((z > start + dz / 2) & (z < end - dz / 2), 1.0, 0.0)
    g = np.where(np.isclose(z, start) | np.isclose(z, end), 0.5, g)
    return g * y, g * x, 0 * z


def test_a_3d_hard_edge_quadrupole_map_is_a_quad(tmp_path):
    write_3d_map(tmp_path, "q", "bs", _hard_quad, 0.3, 300, 0.02, 4)
    text = "FIELD_MAP_PATH .\nFIELD_MAP 70 300 0 20 2.5 0 0 0 q 0\nEND\n"
    ours, run = _matrix(tmp_path, text)
    ref, _ = _matrix(tmp_path, "DRIFT 50 20\nQUAD 200 2.5 20\nDRIFT 50 20\nEND\n")
    np.testing.assert_allclose(ours, ref, atol=2e-4)
    assert ours[0, 0] != pytest.approx(1.0, abs=0.05)  # it does focus
    assert any("FIELD_MAP 70 integrated" in n for n in run.notes)
    assert run.summary["energy"] == 5.0


def test_a_3d_soft_edge_quadrupole_map_is_its_sliced_quads(tmp_path):
    """G(z) with tanh fringes (Bz = G'(z) x y keeps curl B = 0) against 300 QUADs of the
    local gradient."""
    width, gmax = 0.01, 3.0

    def field(x, y, z):
        g = gmax * soft_edges(z, 0.08, 0.22, width)
        return g * y, g * x, gmax * soft_edges_slope(z, 0.08, 0.22, width) * x * y

    write_3d_map(tmp_path, "qs", "bs", field, 0.3, 300, 0.02, 4)
    ours, _ = _matrix(tmp_path, "FIELD_MAP_PATH .\nFIELD_MAP 70 300 0 20 1 0 0 0 qs 0\nEND\n")
    mid = (np.arange(300) + 0.5) * 1e-3
    grads = gmax * soft_edges(mid, 0.08, 0.22, width)
    quads = "".join(f"QUAD 1 {g:.15g} 20\n" for g in grads)
    ref, _ = _matrix(tmp_path, quads + "END\n")
    np.testing.assert_allclose(ours, ref, atol=3e-4)


def _solenoid_3d(x, y, z, width=2e-4):
    b = soft_edges(z, 0.05, 0.25, width)
    db = soft_edges_slope(z, 0.05, 0.25, width)
    return -0.5 * x * db, -0.5 * y * db, b


def test_a_3d_solenoid_map_is_a_solenoid_and_the_1d_map(tmp_path):
    write_3d_map(tmp_path, "s", "bs", _solenoid_3d, 0.3, 3000, 0.01, 2)
    z = np.linspace(0, 0.3, 3001)
    (tmp_path / "s1.bsz").write_text(
        "3000 0.3\n1\n" + "\n".join(f"{v:.16e}" for v in soft_edges(z, 0.05, 0.25, 2e-4))
    )
    ours, _ = _matrix(tmp_path, "FIELD_MAP_PATH .\nFIELD_MAP 70 300 0 20 0.8 0 0 0 s 0\nEND\n")
    one_d, _ = _matrix(tmp_path, "FIELD_MAP_PATH .\nFIELD_MAP 10 300 0 20 0.8 0 0 0 s1 0\nEND\n")
    hard, _ = _matrix(tmp_path, "DRIFT 50 20\nSOLENOID 200 0.8 20\nDRIFT 50 20\nEND\n")
    np.testing.assert_allclose(ours, one_d, atol=2e-5)
    np.testing.assert_allclose(ours, hard, atol=1e-3)
    assert abs(ours[0, 2]) > 0.05  # the solenoid couples x and y


def test_a_2d_solenoid_map_is_its_1d_on_axis_map(tmp_path):
    """Br = -r/2 dBz/dz, Bz on a (z, r) grid (FIELD_MAP 50, .bsr + .bsz) in the paraxial
    limit equals FIELD_MAP 10 of Bz on axis."""
    write_2d_map(
        tmp_path,
        "s2",
        "bs",
        lambda r, z: -0.5 * r * soft_edges_slope(z, 0.05, 0.25, 5e-3),
        lambda r, z: soft_edges(z, 0.05, 0.25, 5e-3) + 0 * r,
        0.3,
        600,
        0.02,
        4,
    )
    z = np.linspace(0, 0.3, 601)
    (tmp_path / "s1.bsz").write_text(
        "600 0.3\n1\n" + "\n".join(f"{v:.16e}" for v in soft_edges(z, 0.05, 0.25, 5e-3))
    )
    ours, _ = _matrix(tmp_path, "FIELD_MAP_PATH .\nFIELD_MAP 50 300 0 20 0.6 0 0 0 s2 0\nEND\n")
    one_d, _ = _matrix(tmp_path, "FIELD_MAP_PATH .\nFIELD_MAP 10 300 0 20 0.6 0 0 0 s1 0\nEND\n")
    np.testing.assert_allclose(ours, one_d, atol=2e-5)


def _lorentz_reference(field, coords, energy, length):
    """Exit (x, x', y, y', dt) of particles by scipy's DOP853 in time, SI units, from the
    analytic field (static B [T]) of a proton; dt relative to particle 0."""
    mass_kg = PROTON_MASS * 1e6 * 1.602176634e-19 / C_LIGHT**2
    q = 1.602176634e-19
    gamma0 = 1 + energy / PROTON_MASS
    p0 = np.sqrt(gamma0**2 - 1) * mass_kg * C_LIGHT
    out = []
    for x, xp, y, yp, _, delta in coords.T:
        p = p0 * (1 + delta)
        pz = p / np.sqrt(1 + xp**2 + yp**2)
        mom = np.array([xp * pz, yp * pz, pz])
        gamma = np.sqrt(1 + (p / (mass_kg * C_LIGHT)) ** 2)

        def rhs(_t, s, gamma=gamma):
            v = s[3:] / (gamma * mass_kg)
            b = np.array([c for c in field(s[0], s[1], s[2])], dtype=float)
            return np.concatenate([v, q * np.cross(v, b)])

        def leave(_t, s):
            return s[2] - length

        leave.terminal = True
        sol = solve_ivp(
            rhs,
            (0, 1e-6),
            np.concatenate([[x, y, 0.0], mom]),
            "DOP853",
            events=leave,
            rtol=1e-11,
            atol=1e-16,
        )
        t_end = sol.t_events[0][0]
        s = sol.y_events[0][0]
        out.append([s[0], s[3] / s[5], s[1], s[4] / s[5], t_end])
    out = np.array(out).T
    out[4] -= out[4][0]
    return out


def test_particles_follow_a_scipy_integration_of_the_lorentz_force(tmp_path):
    """A solenoid plus a quadrupole (3D, soft edges) at large amplitudes: the tracker's
    exit coordinates against scipy in time."""

    def field(x, y, z):
        bx, by, bz = _solenoid_3d(x, y, z, 2e-3)
        g = 2.0 * soft_edges(z, 0.1, 0.2, 0.01)
        dg = 2.0 * soft_edges_slope(z, 0.1, 0.2, 0.01)
        return bx + g * y, by + g * x, bz + dg * x * y

    write_3d_map(tmp_path, "sq", "bs", field, 0.3, 1500, 0.012, 12)
    model = Engine(
        parse_dat_text(
            "FIELD_MAP_PATH .\nFIELD_MAP 70 300 0 20 1 0 0 0 sq 0\nEND\n", str(tmp_path / "l.dat")
        ),
        BEAM,
    ).compiled.models[0]
    assert isinstance(model, FieldMapTable)
    coords = np.array(
        [
            [0.0, 3e-3, -2e-3, 1e-3],
            [0.0, 2e-3, 1e-3, -4e-3],
            [0.0, 1e-3, 4e-3, 2e-3],
            [0.0, -2e-3, 1e-3, 3e-3],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 1e-2, -1e-2, 0.0],
        ]
    )
    out = model.track(coords, BEAM.kinematics)
    ref = _lorentz_reference(field, coords, 5.0, 0.3)
    np.testing.assert_allclose(out[:4], ref[:4], atol=2e-7)  # m and rad, at mm amplitudes
    beta = float(BEAM.kinematics.beta)
    np.testing.assert_allclose(out[4], -ref[4] * beta * C_LIGHT, atol=1e-7)


def test_the_step_size_study_converges_at_fourth_order(tmp_path):
    """One smooth map (1200 intervals) integrated in 10, 20, 40 and 1200 steps: the exit
    of a large-amplitude particle converges to the finest run at least as
    fast as h^4 (errors about 3e-6, 5e-9, 3e-11 m)."""
    write_3d_map(tmp_path, "sq", "bs", _solenoid_quad, 0.3, 1200, 0.012, 12)
    text = "FIELD_MAP_PATH .\nFIELD_MAP 70 300 0 20 1 0 0 0 sq 0\nEND\n"
    model = Engine(parse_dat_text(text, str(tmp_path / "l.dat")), BEAM).compiled.models[0]
    particle = np.array([[4e-3], [1e-3], [-3e-3], [2e-3], [0], [0]])
    exits = []
    for steps in (10, 20, 40, 1200):
        model.step_scale = steps / 1200
        exits.append(model.track(particle, BEAM.kinematics)[:4, 0])
    errors = [np.abs(e - exits[-1]).max() for e in exits[:-1]]
    assert errors[0] / errors[1] > 10 and errors[1] / errors[2] > 10


def _solenoid_quad(x, y, z):
    g = 2.0 * soft_edges(z, 0.1, 0.2, 0.02)
    return g * y, g * x, 0.5 * soft_edges(z, 0.05, 0.25, 0.03) + 0 * x


SPOKE = "lightwin-spoke-run/field_maps_1D/Simple_Spoke_1D.edz"


def _spoke_3d(folder, samples):
    """The spoke cavity's on-axis Ez(z) extended off axis to first order (Er = -r/2 Ez',
    B theta = -omega r Ez / (2 c^2) on the sine phasor) as FIELD_MAP 7700 tables."""
    from accelerate_rl.tracewin.fieldmaps import read_field_map_1d

    fmap = read_field_map_1d(samples / SPOKE)
    z = np.linspace(0, fmap.length, fmap.steps + 1)
    e, de = fmap.values, fmap.derivative()
    omega = 2 * np.pi * 352.2e6
    bq = -omega * e * 1e6 / (2 * C_LIGHT**2)

    def on_grid(values):
        return lambda x, y, zz: np.interp(zz, z, values)

    write_3d_map(
        folder,
        "sp",
        "ed",
        lambda x, y, zz: (
            -0.5 * x * on_grid(de)(x, y, zz),
            -0.5 * y * on_grid(de)(x, y, zz),
            on_grid(e)(x, y, zz),
        ),
        fmap.length,
        fmap.steps,
        0.01,
        2,
    )
    write_3d_map(
        folder,
        "sp",
        "bd",
        lambda x, y, zz: (-y * on_grid(bq)(x, y, zz), x * on_grid(bq)(x, y, zz), 0 * zz),
        fmap.length,
        fmap.steps,
        0.01,
        2,
    )
    (folder / "sp1.edz").write_text((samples / SPOKE).read_text())


def test_the_spoke_cavity_extended_off_axis_equals_its_1d_map(tmp_path, samples):
    _spoke_3d(tmp_path, samples)
    beam = Beam(energy=16.6, freq=176.1, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1)
    line = (
        "FREQ 352.2\nFIELD_MAP_PATH .\nFIELD_MAP {g} 415.16 110.183 30 1.72733 1.72733 0 0 {f} 0\n"
    )
    ours, run3 = _matrix(tmp_path, line.format(g=7700, f="sp") + "END\n", beam)
    ref, run1 = _matrix(tmp_path, line.format(g=100, f="sp1") + "END\n", beam)
    assert run3.summary["energy"] == pytest.approx(run1.summary["energy"], abs=2e-5)
    assert run3.summary["energy"] > 16.6 + 0.2
    (c3,), (c1,) = run3.cavities, run1.cavities
    assert c3.phi_s == pytest.approx(c1.phi_s, abs=2e-3)
    assert c3.voltage == pytest.approx(c1.voltage, rel=1e-5)
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=2e-3)


def test_space_charge_envelope_through_a_static_3d_map(tmp_path):
    """With a beam current, a tabulated static map (not cut into slices) gets half its
    space-charge kick at each end, as the 1D FIELD_MAP 10 does: the two agree."""
    write_3d_map(
        tmp_path, "s", "bs", lambda x, y, z: _solenoid_3d(x, y, z, 5e-3), 0.3, 600, 0.01, 2
    )
    z = np.linspace(0, 0.3, 601)
    (tmp_path / "s1.bsz").write_text(
        "600 0.3\n1\n" + "\n".join(f"{v:.16e}" for v in soft_edges(z, 0.05, 0.25, 5e-3))
    )
    beam = Beam(energy=5.0, current=20.0, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1)
    line = "FIELD_MAP_PATH .\nDRIFT 100 20\nFIELD_MAP {g} 300 0 20 0.6 0 0 0 {f} 0\nEND\n"
    ours = _matrix(tmp_path, line.format(g=70, f="s"), beam)[1]
    one_d = _matrix(tmp_path, line.format(g=10, f="s1"), beam)[1]
    cold = _matrix(tmp_path, line.format(g=70, f="s"), BEAM)[1]
    assert ours.summary["SizeX"] == pytest.approx(one_d.summary["SizeX"], rel=1e-4)
    assert ours.summary["SizeX"] > cold.summary["SizeX"] * 1.001  # space charge acts


def test_set_sync_phase_in_a_3d_cavity_solves_the_1d_maps_entry_phase(tmp_path, samples):
    _spoke_3d(tmp_path, samples)
    beam = Beam(energy=16.6, freq=176.1, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1)
    line = (
        "FREQ 352.2\nFIELD_MAP_PATH .\nSET_SYNC_PHASE\n"
        "FIELD_MAP {g} 415.16 -30 30 1.72733 1.72733 0 0 {f} 0\nEND\n"
    )
    _, run3 = _matrix(tmp_path, line.format(g=7700, f="sp"), beam)
    _, run1 = _matrix(tmp_path, line.format(g=100, f="sp1"), beam)
    (c3,), (c1,) = run3.cavities, run1.cavities
    assert c3.phi_s == pytest.approx(-30.0, abs=1e-6)
    assert c3.phi_in == pytest.approx(c1.phi_in, abs=2e-3)
    assert c3.w_out == pytest.approx(c1.w_out, abs=2e-5)
