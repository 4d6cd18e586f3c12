"""Behaviour of the embedded engine: physics invariants, batching, particles, losses, errors."""

from __future__ import annotations

import numpy as np
import pytest

from accelerate_rl.engine import Beam, Engine, Species, UnsupportedElementError
from accelerate_rl.engine.project import load_project
from accelerate_rl.engine.species import Kinematics
from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.tracewin import InvalidParameterError, parse_dat_text

PROTON_5MEV = Beam(
    energy=5.0, etnx=0.2, etny=0.25, eln=0.3, alpx=-1.0, betx=2.0, alpy=0.5, bety=1.5, betz=1.0
)

ELEMENTS = [
    "DRIFT 500 30",
    "QUAD 200 5 30 20",
    "QUAD_ELE 100 20000 30",
    "SOLENOID 300 0.5 30",
    "BEND 30 1000 0.4 30 0",
    "BEND -30 1000 0.4 30 1",
    "EDGE 10 1000 50 0.45 2.8 30 0",
    "THIN_LENS 500 -300 20",
    "MULTIPOLE 2 100 10 0.1 20",
]


def lattice(text: str):
    return parse_dat_text(text + "\nEND\n", "test.dat")


def final_map(text: str, beam: Beam = PROTON_5MEV) -> np.ndarray:
    return Engine(lattice(text), beam).run().transfer_matrices.matrices[-1]


@pytest.mark.parametrize("text", ELEMENTS)
def test_every_element_map_is_symplectic(text):
    j = np.zeros((6, 6))
    for i in (0, 2, 4):
        j[i, i + 1], j[i + 1, i] = 1, -1
    m = final_map(text)
    np.testing.assert_allclose(m.T @ j @ m, j, atol=1e-12)


def test_kinematics_are_exact_at_low_and_high_energy():
    tin = Species.ion(131.9178, 20)
    slow = Kinematics(0.8, tin)  # 6 keV/u
    assert float(slow.beta) == pytest.approx(np.sqrt(1 - 1 / (1 + 0.8 / tin.mass) ** 2), rel=1e-12)
    fast = Kinematics(2000.0, Species.proton())
    assert float(fast.gamma) == pytest.approx(1 + 2000 / 938.27208816)
    # Brho of a 2 GeV proton from p c = sqrt(T^2 + 2 T mc2)
    p = np.sqrt(2000.0**2 + 2 * 2000.0 * 938.27208816)
    assert float(fast.brho) == pytest.approx(p / 299.792458, rel=1e-12)


def test_positive_gradient_focuses_protons_and_defocuses_h_minus():
    m_p = final_map("QUAD 100 10 30")
    m_h = final_map("QUAD 100 10 30", Beam(energy=5.0, mass=939.29, charge=-1))
    assert m_p[1, 0] < 0 < m_h[1, 0]


def test_drift_r56_is_length_over_gamma_squared():
    m = final_map("DRIFT 1000")
    gamma = float(PROTON_5MEV.kinematics.gamma)
    assert m[4, 5] == pytest.approx(1.0 / gamma**2)


def test_batch_of_settings_equals_individual_runs():
    eng = Engine(lattice("QUAD 200 5 30\nDRIFT 300 30\nQUAD 200 -5 30\nDRIFT 500 30"), PROTON_5MEV)
    grads = np.linspace(-8, 8, 7)
    batch = eng.run_batch({"ele[1][2]": grads, "ele[3][2]": -grads})
    for i, g in enumerate(grads):
        single = eng.run({"ele[1][2]": g, "ele[3][2]": -g}).table
        for col in ("SizeX", "SizeY", "sxx'", "ex"):
            assert batch.at(col)[i] == pytest.approx(single[col].iloc[-1], rel=1e-12)
    assert batch.summary().shape[0] == 7


def test_batch_values_must_share_a_length():
    eng = Engine(lattice("QUAD 200 5 30\nQUAD 200 -5 30"), PROTON_5MEV)
    with pytest.raises(InvalidParameterError, match="ele\\[3\\]|batch"):
        eng.run_batch({"ele[1][2]": [1, 2, 3], "ele[2][2]": [1, 2]})


def test_override_leaves_the_engine_reusable_with_base_settings():
    eng = Engine(lattice("QUAD 200 5 30\nDRIFT 500 30"), PROTON_5MEV)
    base = eng.run().summary["SizeX"]
    assert eng.run({"ele[1][2]": 9}).summary["SizeX"] != pytest.approx(base)
    assert eng.run().summary["SizeX"] == pytest.approx(base)


@pytest.mark.parametrize("dist", ["gaussian", "waterbag", "kv"])
def test_particle_moments_follow_the_envelope_through_linear_optics(dist):
    beam = PROTON_5MEV.__class__(
        **{**PROTON_5MEV.to_dict(), "n_particles": 100_000, "distribution": dist}
    )
    eng = Engine(lattice("QUAD 200 5 0\nDRIFT 300 0\nSOLENOID 300 0.4 0\nDRIFT 200 0"), beam)
    env = eng.run().table
    part = eng.run(mode="multiparticle", seed=3).table
    for col in ("SizeX", "SizeY", "ex", "ey"):
        assert part[col].iloc[-1] == pytest.approx(env[col].iloc[-1], rel=0.03), col


def test_same_seed_same_particles_different_seed_different():
    beam = Beam(energy=5.0, n_particles=500)
    eng = Engine(lattice("DRIFT 100 10"), beam)
    a = eng.run(mode="multiparticle", seed=7).final.raw
    b = eng.run(mode="multiparticle", seed=7).final.raw
    c = eng.run(mode="multiparticle", seed=8).final.raw
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_an_off_energy_particle_is_focused_less_in_a_quadrupole():
    """A weak quad: the kick is ~k L x, and k scales as 1 / (1 + delta)."""

    def kick(dw: float) -> float:
        beam = Beam(energy=5.0, n_particles=1, etnx=0, etny=0, eln=0, x=1.0, dw=dw)
        res = Engine(lattice("QUAD 50 1 0"), beam).run(mode="multiparticle", seed=0)
        return float(res.final.particles[0, 1])

    on, high, low = kick(0.0), kick(0.05), kick(-0.05)
    delta = 0.05 / float(
        Beam(energy=5.0).kinematics.beta ** 2 * Beam(energy=5.0).kinematics.gamma * 938.27208816
    )
    assert on < 0 and abs(high) < abs(on) < abs(low)
    assert high / on == pytest.approx(1 / (1 + delta), rel=2e-3)


def test_narrow_aperture_loses_particles_and_reports_power():
    beam = Beam(energy=5.0, current=10.0, n_particles=20_000, betx=5, bety=5)
    eng = Engine(lattice("DRIFT 100 50\nAPERTURE 1 1 1\nDRIFT 100 50"), beam)
    res = eng.run(mode="multiparticle", seed=1)
    trans = res.summary["transmission"]
    assert 0.05 < trans < 0.95
    assert res.table["npart"].iloc[2] == round(trans * 20_000)
    expected_w = (1 - trans) * 10e-3 * 5.0e6
    assert res.table["Powlost"].sum() == pytest.approx(expected_w, rel=1e-9)
    # the envelope estimate is in the same range
    assert eng.run().summary["transmission"] == pytest.approx(trans, abs=0.1)


def test_a_fully_lost_beam_says_where_not_nan():
    beam = Beam(energy=5.0, n_particles=1000, x=40.0)
    eng = Engine(lattice("DRIFT 100 50\nDRIFT 100 10\nDRIFT 100 50"), beam)
    res = eng.run(mode="multiparticle", seed=1)
    assert res.beam_lost and res.lost_at == 2 and res.summary["transmission"] == 0
    assert not np.isnan(res.table.to_numpy(float)).any()
    env = eng.run()
    assert env.beam_lost and env.lost_at == 2


def test_thin_steering_kicks_the_centroid_by_the_lorentz_force():
    beam = Beam(energy=5.0)
    brho = float(beam.kinematics.brho)
    res = Engine(lattice(f"THIN_STEERING 0 {1e-3 * brho!r} 20 0\nDRIFT 1000 20"), beam).run()
    assert res.table["x'0"].iloc[-1] == pytest.approx(-1.0)  # mrad: dx' = -BLy / Brho
    assert res.table["x0"].iloc[-1] == pytest.approx(-1.0)  # mm after 1 m


def test_steerer_command_puts_a_field_into_the_next_quadrupole():
    beam = Beam(energy=5.0)
    res = Engine(lattice("STEERER 0 0.01\nQUAD 100 0 20\nDRIFT 500 20"), beam).run()
    brho = float(beam.kinematics.brho)
    assert res.table["x'0"].iloc[-1] == pytest.approx(-0.01 * 0.1 / brho * 1e3)


def test_unsupported_element_names_number_keyword_file_and_line():
    with pytest.raises(UnsupportedElementError) as err:
        Engine(lattice("DRIFT 10\nCAVSIN 100 5 1e6 -30 15 0"), PROTON_5MEV)
    msg = str(err.value)
    assert "element 2 (CAVSIN, test.dat:2)" in msg and "TraceWin backend" in msg


def test_unsupported_command_is_an_error_not_skipped():
    with pytest.raises(UnsupportedElementError, match="SUPERPOSE_MAP"):
        Engine(lattice("SUPERPOSE_MAP 0\nDRIFT 10"), PROTON_5MEV)


def test_optimiser_commands_are_accepted_and_noted():
    eng = Engine(lattice("ADJUST 1 2\nQUAD 100 5 20\nDIAG_POSITION 1 0 0 1 1"), PROTON_5MEV)
    assert any("ADJUST" in note for note in eng.run().notes)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"energy": 0.0}, "energy"),
        ({"energy": -1.0}, "energy"),
        ({"energy": 1, "mass": 0}, "mass"),
        ({"energy": 1, "distribution": "flat"}, "distribution"),
        ({"energy": float("nan")}, "energy"),
    ],
)
def test_bad_beams_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Beam(**kwargs)


def test_unknown_run_key_is_rejected_naming_it():
    eng = Engine(lattice("DRIFT 10"), PROTON_5MEV)
    with pytest.raises(InvalidParameterError, match="nbr_partt"):
        eng.run({"nbr_partt": 3})


def test_bad_override_value_on_an_element_is_rejected():
    eng = Engine(lattice("BEND 30 1000 0 20 0"), PROTON_5MEV)
    with pytest.raises(InvalidParameterError, match=r"ele\[1\]\[2\].*rho"):
        eng.run({"ele[1][2]": -5})


def test_beam_keys_change_the_beam():
    eng = Engine(lattice("DRIFT 1000"), PROTON_5MEV)
    a = eng.run({"etnx1": 0.4}).table
    assert a["ex"].iloc[-1] == pytest.approx(0.4)
    b = eng.run({"mass1": 1876.1e6, "energy1": 10}).table
    assert b["gama-1"].iloc[0] == pytest.approx(10 / 1876.1)


def test_example_beamline_is_transmitted_at_nominal_settings():
    project = load_project(ADIGE_DEMO)
    res = Engine(project.lattice, project.beam).run()
    assert res.summary["transmission"] > 0.99
    assert len(res.table) == 38
    assert set(project.lattice.read_text().split()) >= {
        "SOLENOID",
        "QUAD_ELE",
        "BEND",
        "EDGE",
        "MULTIPOLE",
        "THIN_STEERING",
    }


def test_lazy_particle_tracking_loses_exactly_the_particles_a_brute_force_loop_loses():
    """The ellipsoid bound may skip looking at particles only when none can be lost."""
    text = "\n".join(
        [
            "DRIFT 200 8",
            "QUAD 150 6 8",
            "DRIFT 300 6 4",
            "APERTURE 3 2 0",
            "QUAD 150 -6 7",
            "DRIFT 400 5",
            "SOLENOID 200 0.5 6",
            "THIN_STEERING 0.0005 -0.0003 6 0",
            "DRIFT 300 4",
            "BEND 20 800 0 5 0",
            "DRIFT 200 3",
        ]
    )
    beam = Beam(energy=5.0, n_particles=20_000, betx=3, bety=3, etnx=0.5, etny=0.5)
    eng = Engine(lattice(text), beam)
    from accelerate_rl.engine.particles import generate

    coords = generate(beam, seed=11)
    fast = eng.track(coords, chromatic=False)
    # brute force: every element's linear map, apertures at entrance and exit
    kin = beam.kinematics
    x = coords.copy()
    lost = np.zeros(x.shape[1], dtype=int)
    for n, model in enumerate(eng.compiled.models, start=1):
        ap = model.aperture()
        alive = lost == 0
        if ap is not None:
            out = alive & ~ap.inside(x[0], x[2])
            lost[out] = n
            alive = lost == 0
        r = model.matrix(kin)[0]
        d = model.kick(kin)
        x[:, alive] = r @ x[:, alive] + (0 if d is None else d[0][:, None])
        if ap is not None:
            out = alive & ~ap.inside(x[0], x[2])
            lost[out] = n
    assert 0 < (lost > 0).sum() < len(lost)
    np.testing.assert_array_equal(fast.lost_at, lost)
    np.testing.assert_allclose(fast.coords[:, lost == 0], x[:, lost == 0], rtol=1e-12, atol=1e-15)
    assert fast.npart[-1] == (lost == 0).sum()


def test_an_unstable_line_is_named_not_a_linear_algebra_error():
    """Quadrupoles each within the single-element growth limit, all defocusing y: the
    cumulative map grows past floating-point precision; the run names the element where
    it does instead of failing in a matrix inversion, and a shorter line runs."""
    beam = Beam(energy=3.0, etnx=0.2, etny=0.2, eln=0.2, betx=1.0, bety=1.0)
    quads = "QUAD 1000 20 50\n" * 12  # cosh(sqrt(k) L) ~ 9e2 each in y, ~1e35 in all
    with pytest.raises(ValueError, match=r"element (\d+) \(QUAD.*grows the beam by .*unstable"):
        Engine(parse_dat_text(quads + "END\n"), beam).run()
    assert Engine(parse_dat_text("QUAD 1000 20 50\nEND\n"), beam).run().summary["SizeY"] > 0
