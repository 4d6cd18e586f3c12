"""ELECTROSTA_ACC against an independent integration of the relativistic equations of
motion (scipy) through the column's field, with and without the end fields' radial
components, and in a lattice: energy gain, Cav_set_point exclusion, losses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.constants import c
from scipy.integrate import solve_ivp

from accelerate_rl.engine import Beam, Engine
from accelerate_rl.engine.elements.electrostatic_acc import track_column
from accelerate_rl.engine.species import Kinematics, Species
from accelerate_rl.tracewin import parse_dat_text

VOLTS, LENGTH, RAMP = 1.0e5, 0.5, 2e-4  # [V], [m], end-field rise [m]
MC2 = 938.27208816e6  # proton [eV]


def _field(z: float) -> tuple[float, float]:
    """Ez [V/m] and dEz/dz at z [m] from the start of the integration: linear rises of
    RAMP centred on RAMP and LENGTH + RAMP, the hard-edged column between."""
    e0 = VOLTS / LENGTH
    a, b = RAMP / 2, 3 * RAMP / 2
    if z < a or z > LENGTH + b:
        return 0.0, 0.0
    if z < b:
        return e0 * (z - a) / RAMP, e0 / RAMP
    if z > LENGTH + a:
        return e0 * (LENGTH + b - z) / RAMP, -e0 / RAMP
    return e0, 0.0


def _integrate(x0, xp0, w0_ev, lenses):
    """Lorentz force in SI, integrated in time until z passes the column's end."""
    gamma0 = 1 + w0_ev / MC2
    p0 = np.sqrt(gamma0**2 - 1) * MC2 / c  # [eV s/m]: momentum / e
    pz0 = p0 / np.sqrt(1 + xp0**2)

    def rhs(_, s):
        x, z, px, pz = s
        ez, slope = _field(z)
        ex = -0.5 * x * slope if lenses else 0.0
        energy = np.sqrt((MC2 / c) ** 2 + px * px + pz * pz)  # [eV s/m] = E / (e c)
        return [px / energy * c, pz / energy * c, ex, ez]

    def end(_, s):
        return s[1] - (LENGTH + 2 * RAMP)

    end.terminal = True
    sol = solve_ivp(rhs, (0, 1e-4), [x0, 0.0, pz0 * xp0, pz0], events=end, rtol=1e-11, atol=1e-15)
    x, _, px, pz = sol.y_events[0][0]
    w = np.sqrt(MC2**2 + (px * c) ** 2 + (pz * c) ** 2) - MC2
    return x, px / pz, w, sol.t_events[0][0]


@pytest.mark.parametrize("lenses", [False, True])
def test_the_column_matches_the_equations_of_motion(lenses):
    kin = Kinematics(0.02, Species.proton())  # 20 keV protons through 100 kV
    coords = np.array(
        [[2e-3, 0.0, -1e-3], [1e-3, -2e-3, 0.0], [0.0] * 3, [0.0] * 3, [0.0] * 3, [0.0, 0.0, 0.01]]
    )
    # the integration adds a drift of RAMP on each side of the hard-edged column
    ours = track_column(coords, kin, VOLTS, LENGTH, lenses)
    w_out = 0.02 + VOLTS * 1e-6
    p_out = float(
        Kinematics(w_out, Species.proton()).beta * Kinematics(w_out, Species.proton()).gamma
    )
    p_in = float(kin.beta * kin.gamma)
    for j in range(3):
        delta = coords[5, j]
        w0 = MC2 * (np.sqrt(1 + (p_in * (1 + delta)) ** 2) - 1)
        x, xp, w, _ = _integrate(coords[0, j] - coords[1, j] * RAMP, coords[1, j], w0, lenses)
        x_ours = ours[0, j] + ours[1, j] * RAMP
        assert x_ours == pytest.approx(x, rel=2e-3, abs=1e-7), j
        assert ours[1, j] == pytest.approx(xp, rel=2e-3, abs=1e-7), j
        w_ours = MC2 * (np.sqrt(1 + (p_out * (1 + ours[5, j])) ** 2) - 1)
        assert w_ours == pytest.approx(w, rel=1e-5), j  # off-axis potential: 1e-6
    if lenses:  # an accelerating column focuses overall
        plain = track_column(coords, kin, VOLTS, LENGTH, False)
        assert ours[1, 0] < plain[1, 0]


def test_the_column_in_a_lattice_accelerates_and_is_not_a_cavity():
    beam = Beam(energy=0.02, etnx=0.1, etny=0.1, eln=0.1, betx=1, bety=1, betz=1)
    line = "DRIFT 100 30\nELECTROSTA_ACC 1e5 500 1 30\nDRIFT 100 30\nEND\n"
    engine = Engine(parse_dat_text(line), beam)
    env = engine.run()
    assert env.summary["energy"] == pytest.approx(0.12, rel=1e-12)
    assert env.cavities == []
    assert any("K = 1" in note for note in env.notes)
    mp = engine.run(mode="multiparticle", seed=1)
    assert mp.summary["energy"] == pytest.approx(0.12, rel=1e-12)
    for col in ("SizeX", "SizeY"):
        assert mp.table[col].iloc[-1] == pytest.approx(env.table[col].iloc[-1], rel=0.05)
    # a retarding column stops the reference: a clear error naming the element
    with pytest.raises(Exception, match="ELECTROSTA_ACC"):
        Engine(parse_dat_text("ELECTROSTA_ACC -3e5 500 0 30\nEND\n"), beam).run()
