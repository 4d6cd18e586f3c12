"""Every real lattice in ../shared/tracewin-samples/lattices/ runs end to end on the
embedded engine, with generated field maps where the real ones are not public
(experiments/make_lattice_maps.py), or stops with the documented reason (README, "Real
lattices"). The beams are plausible inputs chosen here (no .ini ships with them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from accelerate_rl.engine import Engine
from accelerate_rl.engine.beam import Beam
from accelerate_rl.engine.species import C_LIGHT
from accelerate_rl.tracewin import parse_dat_text

ROOT = Path(__file__).resolve().parents[1]


def _maps_script():
    spec = importlib.util.spec_from_file_location(
        "make_lattice_maps", ROOT / "experiments" / "make_lattice_maps.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _beam(energy, freq, mass=938.27208816, charge=1.0):
    return Beam(
        energy=energy,
        freq=freq,
        mass=mass,
        charge=charge,
        etnx=0.2,
        etny=0.2,
        eln=0.3,
        betx=1.0,
        bety=1.0,
        betz=1.0,
    )


#: Real maps standing in for missing ones of the same kind and length: MYRRHA's
#: 2_spokeESS (636 mm) by LightWin's example Double_spoke (636 mm).
ALIASES = ["--alias", "2_spokeESS=Double_spoke"]
#: lattice -> (beam, what must be in the notes)
RUNS = {
    "lightwin-repeat_ele.dat": (_beam(20.0, 176.1), None),
    "lightwin-bigger_repeat_ele.dat": (_beam(20.0, 176.1), None),
    "lightwin-set_sync_phase.dat": (_beam(16.6, 176.1), None),
    "lightwin-superpose_map.dat": (_beam(16.6, 176.1), "superposed at z0 = 680 mm"),
    "myrrha-transi-100MeV.dat": (_beam(16.6, 176.1), None),
    "jaea-ads-026.dat": (_beam(400.0, 324.0), None),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_real_lattice_runs_end_to_end(samples, tmp_path, name):
    beam, note = RUNS[name]
    report = _maps_script().main(
        [
            str(samples / "lattices" / name),
            str(tmp_path),
            "--maps",
            str(samples / "lightwin-example" / "field_maps_1D"),
            *ALIASES,
        ]
    )
    engine = Engine(tmp_path / name, beam)
    run = engine.run()
    assert np.isfinite(run.summary["energy"]) and run.summary["transmission"] > 0
    assert len(run.table.groupby("##")) == len(engine.lattice.elements) + 1
    if any(r.startswith("generated") for r in report):
        assert run.summary["energy"] != beam.energy  # the generated cavities act
    if note:
        assert any(note in n for n in run.notes)


#: ESS's superconducting cavities as the lattice's GenLin comments give them (Bg, Freq,
#: Eacc) with the public cell counts (double spoke 3 gaps, medium beta 6 cells, high beta
#: 5); the medium-beta map's first cell negative (what makes its phases the design's).
ESS_CAVITIES = [
    "--cavity",
    "Spoke_F2F=3:0.5:9",
    "--cavity",
    "MB_F2F=6:0.67:16.7851:-",
    "--cavity",
    "HB_F2F=5:0.86:19.9429",
]


def test_ess_accelerates_to_its_design_energy(samples, tmp_path):
    """ESS MEBT -> target (2014 design): 3.62 MeV to 2 GeV through the DTL and the spoke,
    medium- and high-beta sections, with the file's relative FIELD_MAP phases giving
    synchronous phases near the design's (-28 to -13 degrees in its comments)."""
    name = "ess-mebt-tgt-bl14.dat"
    report = _maps_script().main([str(samples / "lattices" / name), str(tmp_path), *ESS_CAVITIES])
    assert any("MB_F2F (100, 1258.8 mm, cells for beta 0.670, 6 cells" in r for r in report)
    run = Engine(tmp_path / name, _beam(3.62, 352.21)).run()
    assert run.summary["energy"] == pytest.approx(2000.0, rel=0.01)
    assert run.summary["transmission"] > 0.98
    assert np.isfinite(run.summary["SizeX"]) and run.summary["SizeX"] < 50.0
    superconducting = [c for c in run.cavities if c.w_in > 89.0 and c.voltage > 1.0]
    assert len(superconducting) == 26 + 36 + 84
    assert all(-40.0 < c.phi_s < -10.0 for c in superconducting)
    assert any("CHOPPER" in n and "off" in n for n in run.notes)


def _pip2_cavities() -> list[str]:
    """PIP-II's SC cavities (public: HWR 162.5 MHz, SSR1 and SSR2 325 MHz with 2 gaps,
    LB650 and HB650 650 MHz with 5 cells). The lattice's ke are the design voltages [MV]
    (HWR 2, SSR1 2.05, SSR2 5, LB650 11.9, HB650 19.9), so EACC = 1 MV over the cells'
    length. Cells: the elliptical cavities' geometric beta (0.61, 0.92); for HWR and
    spokes the section's mid velocity (0.11, 0.21, 0.41), as sine cells have a narrower
    transit-time curve than the short gaps of the real cavities (their geometric beta
    0.112, 0.222, 0.47 leaves SSR1 short of energy and SSR2 unable to reach its phases)."""
    args = []
    for name, cells, beta, freq in [
        ("HWRDonut", 2, 0.11, 162.5),
        ("SSR13D_#72", 2, 0.21, 325.0),
        ("SSR2_beta047_v26", 2, 0.41, 325.0),
        ("beta063D_#43", 5, 0.61, 650.0),
        ("beta092", 5, 0.92, 650.0),
    ]:
        length = cells * beta * C_LIGHT / (freq * 1e6) / 2
        args += ["--cavity", f"{name}={cells}:{beta}:{1 / length:.6f}"]
    return args


PIP2_MAPS = ["--energy", "2.1", "--mass", "939.294", "--charge", "-1", *_pip2_cavities()]


def _pip2(samples, tmp_path):
    name = "pip2-linac.dat"
    report = _maps_script().main([str(samples / "lattices" / name), str(tmp_path), *PIP2_MAPS])
    return tmp_path / name, report, _beam(2.1, 162.5, mass=939.294, charge=-1.0)


def test_pip2_accepts_its_absorber_fingers_and_its_first_hwrs_accelerate_h_minus(samples, tmp_path):
    """PIP-II: the whole file compiles (CHOPPER off, the MEBT absorber's APERTURE kind 5
    accepted with a note); its SC linac (from the second FIELD_MAP_PATH) with generated 3D
    RF maps (7700) and 1D solenoids, H- from 2.1 MeV, here its first two HWR periods:
    SET_SYNC_PHASE phases reproduced and the negative ions accelerated."""
    path, report, hminus = _pip2(samples, tmp_path)
    assert any("(7700" in r for r in report) and any("(70," in r for r in report)
    assert any("HWRDonut (7700, 250 mm, cells for beta 0.110, 2 cells" in r for r in report)
    engine = Engine(path, hminus)
    assert any(":304): APERTURE kind 5" in n for n in engine.compiled.notes)
    lines = path.read_text(encoding="latin-1").splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith("FIELD_MAP_PATH")][1]
    cut = "\n".join(lines[start : start + 34]) + "\nEND\n"
    engine = Engine(parse_dat_text(cut, str(path)), hminus)
    run = engine.run()
    assert [m.keyword for m in engine.compiled.models].count("FIELD_MAP") == 4
    assert len(run.cavities) == 2
    assert [c.phi_s for c in run.cavities] == pytest.approx([-49.9999, -41.9987], abs=1e-6)
    assert all(c.w_out > c.w_in + 0.05 for c in run.cavities)  # ke 0.31, 0.52 MV
    assert run.summary["transmission"] > 0


@pytest.mark.slow
def test_pip2_runs_end_to_end(samples, tmp_path):
    """PIP-II, the whole file (about 2 minutes on 2 shared cores: 123 3D RF maps, each
    SET_SYNC_PHASE solved): H- from 2.1 MeV through every cavity to PIP-II's design energy
    (800 MeV) within the generated maps' accuracy (841 MeV here)."""
    path, _, hminus = _pip2(samples, tmp_path)
    run = Engine(path, hminus).run()
    superconducting = [c for c in run.cavities if abs(c.phi_s + 90.0) > 1.0]  # no bunchers
    assert len(superconducting) == 119
    assert all(c.w_out > c.w_in for c in superconducting)
    assert 780.0 < run.summary["energy"] < 900.0  # PIP-II: 800 MeV
    assert run.summary["transmission"] > 0
    assert any("APERTURE kind 5" in n for n in run.notes)
