"""Linear space charge: the ellipsoid's field against classical results, a 30 mA proton
bunch in a drift against its envelope (moment) equations, and multiparticle mode."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

from accelerate_rl.engine import Beam, Engine
from accelerate_rl.engine.spacecharge import EPSILON_0, depolarisation, kick_strengths
from accelerate_rl.engine.species import Kinematics, Species
from accelerate_rl.tracewin import parse_dat_text


def _depolarisation_by_quadrature(a, b, c):
    """N_a = (a b c / 2) int_0^inf ds / ((a^2 + s) sqrt((a^2+s)(b^2+s)(c^2+s)))."""

    def one(p, q, r):
        def f(s):
            return 1.0 / ((p * p + s) * np.sqrt((p * p + s) * (q * q + s) * (r * r + s)))

        return a * b * c / 2 * quad(f, 0, np.inf, limit=200)[0]

    return one(a, b, c), one(b, c, a), one(c, a, b)


@pytest.mark.parametrize("axes", [(1.0, 1.0, 1.0), (1.0, 2.0, 3.0), (2.0, 0.5, 7.0)])
def test_depolarisation_factors_match_their_integral_and_sum_to_one(axes):
    ours = depolarisation(*axes)
    np.testing.assert_allclose(ours, _depolarisation_by_quadrature(*axes), rtol=1e-6)
    assert sum(ours) == pytest.approx(1.0, abs=1e-12)


def test_depolarisation_limits():
    assert depolarisation(1, 1, 1) == pytest.approx((1 / 3,) * 3)
    nx, ny, nz = depolarisation(1.0, 2.0, 1e5)  # a long bunch: a continuous elliptic beam
    assert (nx, ny) == pytest.approx((2 / 3, 1 / 3), rel=1e-3) and nz < 1e-3
    assert depolarisation(1.0, 1.0, 1e-5)[2] == pytest.approx(1.0, abs=1e-4)  # a disc


def test_a_spherical_bunch_feels_coulombs_field_of_a_uniform_sphere():
    """A bunch that is a sphere of radius R in its rest frame: E' = Q r / (4 pi eps0 R^3);
    the lab force q E'/gamma over ds / (beta c), divided by p = beta gamma m c, gives
    dx'/ds = q Q x / (4 pi eps0 R^3 mc2 beta^2 gamma^2)."""
    kin = Kinematics(3.0, Species.proton())
    gamma, beta = float(kin.gamma), float(kin.beta)
    sx = 1e-3
    sigma = np.diag([sx**2, 1e-6, sx**2, 1e-6, (sx / gamma) ** 2, 1e-6])  # sphere at rest
    current_ma, freq = 30.0, 352.2
    kx, ky, kz = kick_strengths(sigma, kin, current_ma, freq)
    radius = np.sqrt(5) * sx
    charge = current_ma * 1e-3 / (freq * 1e6)
    expect = charge / (4 * np.pi * EPSILON_0 * radius**3 * 938.27208816e6 * beta**2 * gamma**2)
    assert kx == pytest.approx(expect, rel=1e-9) and ky == pytest.approx(expect, rel=1e-9)
    # longitudinal: q E'_z at the rest-frame position gamma z, over p v
    assert kz == pytest.approx(expect * gamma**2, rel=1e-9)


BEAM = dict(
    energy=3.0,
    current=30.0,
    freq=352.2,
    etnx=0.25,
    etny=0.25,
    eln=0.1,
    alpx=0.0,
    betx=0.3,
    alpy=0.0,
    bety=0.3,
    alpz=0.0,
    betz=0.5,
    n_particles=20000,
)


def _moment_equations(beam: Beam, length: float) -> np.ndarray:
    """d(sigma)/ds = A sigma + sigma A^T with A the drift plus the ellipsoid's linear
    space-charge force at the current moments: solved with a tight ODE solver."""
    kin = beam.kinematics
    g2 = float(kin.gamma) ** 2

    def rhs(_, flat):
        s = flat.reshape(6, 6)
        kx, ky, kz = kick_strengths(s, kin, beam.current, beam.freq)
        a = np.zeros((6, 6))
        a[0, 1] = a[2, 3] = 1.0
        a[4, 5] = 1.0 / g2
        a[1, 0], a[3, 2], a[5, 4] = kx, ky, kz
        return (a @ s + s @ a.T).ravel()

    sol = solve_ivp(rhs, (0, length), beam.sigma().ravel(), rtol=1e-11, atol=1e-20)
    return sol.y[:, -1].reshape(6, 6)


def test_a_30_ma_proton_bunch_in_a_drift_follows_its_envelope_equations():
    beam = Beam(**BEAM)
    lattice = parse_dat_text("DRIFT 500 0\nDRIFT 500 0\nEND\n")
    result = Engine(lattice, beam).run()
    expect = _moment_equations(beam, 1.0)
    rms = np.sqrt(np.diag(expect))
    got = result.table.iloc[-1]
    # 1 cm slices, second order in the step
    assert got["SizeX"] == pytest.approx(rms[0] * 1e3, rel=5e-4)
    assert got["SizeY"] == pytest.approx(rms[2] * 1e3, rel=5e-4)
    assert got["SizeZ"] == pytest.approx(rms[4] * 1e3, rel=5e-4)
    # space charge is strong here: without it the beam is visibly smaller
    free = Engine(lattice, beam).run(space_charge=False).table.iloc[-1]
    assert got["SizeX"] > 1.2 * free["SizeX"]
    # linear forces keep rms emittances
    for col in ("ex", "ey", "ep"):
        assert got[col] == pytest.approx(result.table[col].iloc[0], rel=1e-9)


def test_multiparticle_space_charge_follows_the_envelope():
    beam = Beam(**BEAM)
    lattice = parse_dat_text("DRIFT 500 0\nQUAD 100 8 0\nDRIFT 400 0\nEND\n")
    engine = Engine(lattice, beam)
    env = engine.run().table.iloc[-1]
    mp = engine.run(mode="multiparticle", seed=3).table.iloc[-1]
    for col in ("SizeX", "SizeY", "SizeZ"):
        assert mp[col] == pytest.approx(env[col], rel=0.03), col


def test_run_batch_with_space_charge_equals_one_run_per_setting():
    engine = Engine(parse_dat_text("DRIFT 300 0\nQUAD 100 8 0\nDRIFT 300 0\nEND\n"), Beam(**BEAM))
    grads = [6.0, 8.0, 10.0]
    batch = engine.run_batch({"ele[2][2]": grads})
    for b, g in enumerate(grads):
        one = engine.run({"ele[2][2]": g})
        for col in ("SizeX", "SizeY", "SizeZ", "ex"):
            np.testing.assert_allclose(batch.columns[col][:, b], one.columns[col], rtol=1e-12)
    assert batch.columns["SizeX"][-1, 0] != batch.columns["SizeX"][-1, 2]
