"""NCELLS: against TraceWin's energies and output beam matrices (ESS's OpenXAL suite),
against the same cavity written as gaps and drifts, and its phase modes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from accelerate_rl.engine import Beam


def _ncells_line(mode: int, betag: float, dzi: float = 0.0, dzo: float = 0.0) -> str:
    return (
        f"FREQ 352.2\nNCELLS {mode} 5 {betag!r} 1.5e6 -30 20 0 1.1 0.9 {dzi} {dzo}"
        f" {betag!r} 0.8 0 0 0.7 0 0 0.75 0 0\nEND\n"
    )


@pytest.mark.parametrize("mode, cell", [(0, 1.0), (1, 0.5), (2, 1.0)])
def test_ncells_is_its_gaps_with_the_phases_of_a_standing_wave(mode, cell):
    """NCELLS against the same cavity written as DRIFT/GAP elements with absolute phases
    (p = 1: the line's own time of flight sets each gap's phase): energy, matrix, length.
    Gap j sees phi + j pi (pi mode, m = 1) + omega (t_j - t_0); end cells get
    (1 + kE0Ti) Ti / Ts and (1 + kE0To) To / Ts; m = 2's end gaps sit a quarter betag
    lambda from the ends."""
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
    if mode == 2:
        centres[[0, -1]] = 0.25 * betag * lam, lengths.sum() - 0.25 * betag * lam
    centres[0] += 2e-3
    centres[-1] -= 1.5e-3
    edges = np.diff(np.concatenate([[0.0], centres, [lengths.sum()]]))
    volts = 1.5e6 * lengths * np.array([2.1 * 0.7 / 0.8, 1, 1, 1, 1.9 * 0.75 / 0.8])
    ttf = ["0.7", "0.8", "0.8", "0.8", "0.75"]
    t0 = edges[0] / (betag * 299_792_458.0)
    omega_t0 = np.degrees(2 * np.pi * freq * 1e6 * t0)
    lines = ["FREQ 352.2"]
    for j in range(5):
        phase = -30 + (180 * j if mode == 1 else 0) - omega_t0
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


# TraceWin's NCELLS runs from ESS's OpenXAL suite (EuropeanSpallationSource/openxal,
# extensions/jels/src/test/java/xal/extension/jels/NCellsTest.java, cases 0-4): protons
# (mc2 938.272029 MeV) at 3 MeV, FREQ 352.21, zero current, input Twiss (alpha, beta
# [m], normalised rms emittance [m.rad]) x (-0.1763, 0.2442, 0.2098e-6), y (-0.3247,
# 0.3974, 0.2091e-6), z (-0.5283, 0.8684, 0.2851e-6) in (z [m], dp/p / gamma^2); TraceWin's
# final gamma and its output beam matrix (x x', y y', z dp/p upper triangles; in
# test_rf_ncells_tracewin.csv). The suite
# says its NCELLS transfer matrices are OpenXAL's, not TraceWin's: only these are used.
NCELLS_TTF = "0.1 0.664594 0.423349 0.350508 0.634734 0.628339 0.249724 0.639103 0.622128 0.25257"
NCELLS_NO_TTF = "0 1 0 0 1 0 0 1 0 0"
NCELLS_TRACEWIN = {
    (int(row["mode"]), NCELLS_TTF if row["ttf"] == "yes" else NCELLS_NO_TTF): (
        float(row["gamma"]),
        [float(v) for v in list(row.values())[3:]],
    )
    for row in csv.DictReader(
        Path(__file__).with_name("test_rf_ncells_tracewin.csv").read_text().splitlines()
    )
}


def _input_sigma(energy: float, mass: float) -> np.ndarray:
    """The suite's input beam matrix in TraceWin's (x, x', y, y', z, dp/p) [m, rad]."""
    gamma = 1 + energy / mass
    bg = np.sqrt(gamma * gamma - 1)
    twiss = [
        (-0.1763, 0.2442, 0.2098e-6 / bg),
        (-0.3247, 0.3974, 0.2091e-6 / bg),
        (-0.5283, 0.8684, 0.2851e-6 / bg / gamma**2),
    ]
    sigma = np.zeros((6, 6))
    for i, (alpha, beta, emittance) in enumerate(twiss):
        g = (1 + alpha * alpha) / beta
        sigma[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = emittance * np.array(
            [[beta, -alpha], [-alpha, g]]
        )
    sigma[4:6, 5] *= gamma**2  # z' = (dp/p) / gamma^2 -> dp/p
    sigma[5, 4:6] *= gamma**2
    return sigma


@pytest.mark.parametrize("mode, ttf", list(NCELLS_TRACEWIN), ids=lambda v: str(v)[:8])
def test_ncells_gives_tracewins_energy_and_output_beam(mode, ttf):
    from accelerate_rl.engine import Engine
    from accelerate_rl.tracewin import parse_dat_text

    mass = 938.272029
    gamma, upper = NCELLS_TRACEWIN[(mode, ttf)]
    line = f"NCELLS {mode} 3 0.1 1.e4 -30 31 0 0.5 0.5 1.0 -1.0 {ttf}"
    beam = Beam(
        energy=3.0, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1, betz=1, freq=352.21, mass=mass
    )
    result = Engine(parse_dat_text(f"FREQ 352.21\n{line}\nEND\n"), beam).run()
    # TraceWin prints gamma to 1e-9: 1e-6 MeV on a gain of 0.6 to 1.7 keV
    assert result.summary["energy"] == pytest.approx((gamma - 1) * mass, abs=1e-6)
    m = result.transfer_matrices.matrices[-1]
    ours = m @ _input_sigma(3.0, mass) @ m.T
    ref = np.zeros((6, 6))
    for i in range(3):
        a, b, c = upper[3 * i : 3 * i + 3]
        ref[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[a, b], [b, c]]
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 1e-6
