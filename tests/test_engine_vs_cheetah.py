"""Element maps against Cheetah, an independent tracker validated against Bmad/Ocelot.

Transverse 4x4 blocks are compared (Cheetah's longitudinal coordinates differ from
TraceWin's). Species: proton, 16O5+ and 238U28+; kinetic energies 10 keV/u to 2 GeV.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelerate_rl.engine import Beam, Engine, Species
from accelerate_rl.engine.species import Kinematics
from accelerate_rl.tracewin import parse_dat_text

cheetah = pytest.importorskip("cheetah")
torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _float64():
    """Cheetah builds float32 elements by default; compare in float64."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


SPECIES = {
    "proton": Species.proton(),
    "O16_5+": Species.ion(15.99491462, 5),
    "U238_28+": Species.ion(238.0507884, 28),
}
# kinetic energy per nucleon [MeV/u]
ENERGIES = [0.01, 1.0, 100.0, 2000.0]


def _cheetah_species(sp: Species):
    return cheetah.Species(
        "custom",
        num_elementary_charges=torch.tensor(sp.charge, dtype=torch.float64),
        mass_eV=torch.tensor(sp.mass * 1e6, dtype=torch.float64),
    )


def _ours(dat: str, sp: Species, energy: float) -> np.ndarray:
    beam = Beam(energy=energy, mass=sp.mass, charge=sp.charge)
    return Engine(parse_dat_text(dat + "\nEND\n"), beam).run().transfer_matrices.matrices[-1]


def _theirs(segment, sp: Species, energy: float) -> np.ndarray:
    total = torch.tensor((energy + sp.mass) * 1e6, dtype=torch.float64)
    tm = segment.first_order_transfer_map(total, _cheetah_species(sp))
    return tm.detach().numpy()


def _cases():
    for name, sp in SPECIES.items():
        a = round(sp.mass / 931.494)
        for e_u in ENERGIES:
            yield pytest.param(sp, e_u * a, id=f"{name}-{e_u}MeVu")


def _brho(sp: Species, energy: float) -> float:
    return float(Kinematics(energy, sp).brho)


def _assert_transverse(ours: np.ndarray, theirs: np.ndarray) -> None:
    np.testing.assert_allclose(ours[:4, :4], theirs[:4, :4], rtol=1e-9, atol=1e-12)


def _f64(x: float):
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize(("sp", "energy"), list(_cases()))
def test_drift(sp, energy):
    seg = cheetah.Drift(length=_f64(0.75))
    _assert_transverse(_ours("DRIFT 750 20", sp, energy), _theirs(seg, sp, energy))


@pytest.mark.parametrize(("sp", "energy"), list(_cases()))
@pytest.mark.parametrize("grad", [3.0, -7.5])
def test_quadrupole(sp, energy, grad):
    # k1 from Cheetah's own reference momentum, so species and energy enter independently
    total = (energy + sp.mass) * 1e6
    p0c = np.sqrt(total**2 - (sp.mass * 1e6) ** 2)
    k1 = grad / (p0c / (299_792_458.0 * sp.charge))
    # keep the phase advance reasonable at every energy: scale the length
    length = min(0.2, 0.5 / np.sqrt(abs(k1)))
    seg = cheetah.Quadrupole(length=_f64(length), k1=_f64(k1))
    ours = _ours(f"QUAD {float(length * 1e3)!r} {grad} 20", sp, energy)
    _assert_transverse(ours, _theirs(seg, sp, energy))


@pytest.mark.parametrize(("sp", "energy"), list(_cases()))
def test_solenoid(sp, energy):
    brho = _brho(sp, energy)
    field = 0.3
    k = field / (2 * brho)
    length = min(0.3, 1.0 / abs(k))
    seg = cheetah.Solenoid(length=_f64(length), k=_f64(k))
    _assert_transverse(
        _ours(f"SOLENOID {float(length * 1e3)!r} {field} 20", sp, energy), _theirs(seg, sp, energy)
    )


@pytest.mark.parametrize(("sp", "energy"), list(_cases()))
@pytest.mark.parametrize("angle_deg", [20.0, -35.0])
def test_sector_bend_with_edges(sp, energy, angle_deg):
    rho, n_index, edge, gap, fint = 1.2, 0.3, 12.0, 0.04, 0.5
    angle = np.radians(angle_deg)
    length = rho * abs(angle)
    k1 = -n_index / rho**2
    sign = np.sign(angle)
    seg = cheetah.Dipole(
        length=_f64(length),
        angle=_f64(angle),
        k1=_f64(k1),
        dipole_e1=_f64(sign * np.radians(edge)),
        dipole_e2=_f64(sign * np.radians(edge)),
        gap=_f64(gap),
        gap_exit=_f64(gap),
        fringe_integral=_f64(fint),
        fringe_integral_exit=_f64(fint),
    )
    dat = "\n".join(
        [
            f"EDGE {edge} {rho * 1e3} {gap * 1e3} {fint} 0 50 0",
            f"BEND {angle_deg} {rho * 1e3} {n_index} 50 0",
            f"EDGE {edge} {rho * 1e3} {gap * 1e3} {fint} 0 50 0",
        ]
    )
    _assert_transverse(_ours(dat, sp, energy), _theirs(seg, sp, energy))


@pytest.mark.parametrize(("sp", "energy"), list(_cases()))
def test_correctors_kick_the_centroid_like_cheetah(sp, energy):
    """A thin steerer of BL = 1e-4 T.m gives the angle Cheetah's corrector needs."""
    brho = _brho(sp, energy)
    bl = 1e-4 * abs(brho)  # a 0.1 mrad kick
    beam = Beam(energy=energy, mass=sp.mass, charge=sp.charge)
    lat = parse_dat_text(f"THIN_STEERING {bl!r} {bl!r} 20 0\nDRIFT 1000 20\nEND\n")
    res = Engine(lat, beam).run()
    # Cheetah: a corrector of angle theta then a 1 m drift
    theta_x = -bl / brho
    theta_y = bl / brho
    seg = cheetah.Segment(
        [
            cheetah.HorizontalCorrector(length=_f64(1e-9), angle=_f64(theta_x)),
            cheetah.VerticalCorrector(length=_f64(1e-9), angle=_f64(theta_y)),
            cheetah.Drift(length=_f64(1.0)),
        ]
    )
    incoming = cheetah.ParameterBeam.from_parameters(
        energy=_f64((energy + sp.mass) * 1e6),
        species=_cheetah_species(sp),
        dtype=torch.float64,
    )
    out = seg.track(incoming)
    assert res.table["x0"].iloc[-1] * 1e-3 == pytest.approx(float(out.mu_x), rel=1e-6)
    assert res.table["y0"].iloc[-1] * 1e-3 == pytest.approx(float(out.mu_y), rel=1e-6)
