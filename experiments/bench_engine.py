"""Benchmark the embedded engine against Cheetah on the same lattice, in the same run.

Prints JSON: medians of repeats [s] and ratios (Cheetah time / ours; > 1 means we are
faster) for
  * envelope_single: one envelope run of a 100-element lattice (Cheetah: ParameterBeam);
    envelope_override: the same with a new ele[n][v] value every call (the RL case),
  * envelope_batch: 1000 settings of that lattice in one call (Cheetah: vectorised k1),
  * particles_linear: 100k pre-generated particles through the 100 elements with the
    same physics as Cheetah's ParticleBeam (`Engine.track`, reference-particle linear
    maps, final beam and per-element moments; apertures still checked at every element),
  * particles_full: a whole `partran=1` run (distribution generated, chromatic
    quadrupoles, Xmax/Ymax at every element, output distributions), against the same
    Cheetah tracking.
Goals (issue 3): envelope >= 10x Cheetah, particles >= 1x.

With ``../shared/tracewin-samples`` present, also the 20 -> 502 MeV linac of
``lightwin-example`` (142 RF field maps, 5 mA): ``linac_compile`` (Engine built and the
first envelope run: the synchronous particle and every cavity's map integrated),
``linac_envelope`` (a run without space charge, maps cached), ``linac_envelope_sc`` (with
space charge: 1 cm slices), ``linac_multiparticle_linear_sc`` and
``linac_multiparticle_sc`` (``--linac-particles`` particles, each integrated through every
cavity, with the envelope's linear space charge, then with the 32^3 mesh solver kicked
every 1 cm, inside the cavities too). There is no Cheetah baseline
for RF field maps: the ratio given is to ``linac_envelope`` in the same run.

    python experiments/bench_engine.py [--repeats 7] [--particles 100000] [--linac-particles N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import replace

import numpy as np

from accelerate_rl.engine import Beam, Engine
from accelerate_rl.engine.particles import generate
from accelerate_rl.engine.species import Kinematics
from accelerate_rl.tracewin import parse_dat_text

CELLS = 25  # 4 elements per cell -> 100 elements
QUAD_L, DRIFT_L, GRAD = 0.2, 0.3, 5.0  # m, m, T/m


def lattice_text() -> str:
    cell = f"QUAD {QUAD_L * 1e3} {GRAD} 30\nDRIFT {DRIFT_L * 1e3} 30\n"
    cell += f"QUAD {QUAD_L * 1e3} {-GRAD} 30\nDRIFT {DRIFT_L * 1e3} 30\n"
    return cell * CELLS + "END\n"


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--particles", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--linac-particles", type=int, default=100_000)
    ap.add_argument("--no-linac", action="store_true")
    ap.add_argument(
        "--fieldmaps-only",
        action="store_true",
        help="only the 3D field-map section (see field_maps)",
    )
    ap.add_argument("--fieldmap-particles", type=int, default=10_000)
    args = ap.parse_args()
    if args.fieldmaps_only:
        print(json.dumps(field_maps(args.fieldmap_particles, args.repeats), indent=2))
        return

    beam = Beam(
        energy=10.0, etnx=0.2, etny=0.2, eln=0.3, betx=1.0, bety=1.0, n_particles=args.particles
    )
    engine = Engine(parse_dat_text(lattice_text(), "bench.dat"), beam)
    grads = np.linspace(2.0, 8.0, args.batch)
    values = iter(np.linspace(2.0, 8.0, 10_000))
    coords = generate(beam, seed=1)  # pre-generated, as Cheetah's ParticleBeam is
    few = max(3, args.repeats // 2)
    ours = {
        "envelope_single": timed(lambda: engine.run(), args.repeats),
        "envelope_override": timed(lambda: engine.run({"ele[1][2]": next(values)}), args.repeats),
        "envelope_batch": timed(lambda: engine.run_batch({"ele[1][2]": grads}), args.repeats),
        "particles_linear": timed(
            lambda: engine.track(coords, chromatic=False, extremes=False), few
        ),
        "particles_full": timed(lambda: engine.run(mode="multiparticle", seed=1), few),
    }
    result: dict = {
        "lattice_elements": 4 * CELLS,
        "batch": args.batch,
        "particles": args.particles,
        "repeats": args.repeats,
        "machine": platform.machine(),
        "ours_s": ours,
    }
    if not args.no_linac:
        result["linac"] = linac(args.linac_particles, few)
    result["field_maps"] = field_maps(args.fieldmap_particles, few)
    try:
        import cheetah
        import torch
    except ImportError as exc:
        result["cheetah"] = f"not installed ({exc}): pip install cheetah-accelerator"
        print(json.dumps(result, indent=2))
        return
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    kin = Kinematics(10.0, beam.species)
    k1 = GRAD / float(kin.brho)
    energy_ev = torch.tensor((10.0 + beam.mass) * 1e6)

    def segment(k):
        elems = []
        for _ in range(CELLS):
            elems += [
                cheetah.Quadrupole(length=torch.tensor(QUAD_L), k1=k),
                cheetah.Drift(length=torch.tensor(DRIFT_L)),
                cheetah.Quadrupole(length=torch.tensor(QUAD_L), k1=-k),
                cheetah.Drift(length=torch.tensor(DRIFT_L)),
            ]
        return cheetah.Segment(elems)

    species = cheetah.Species("proton")
    seg = segment(torch.tensor(k1))
    pbeam = cheetah.ParameterBeam.from_twiss(
        beta_x=torch.tensor(1.0),
        beta_y=torch.tensor(1.0),
        emittance_x=torch.tensor(1e-6),
        emittance_y=torch.tensor(1e-6),
        energy=energy_ev,
        species=species,
    )
    ks = torch.tensor(grads / float(kin.brho))
    seg_batch = segment(torch.tensor(k1))
    seg_batch.elements[0].k1 = ks
    part = cheetah.ParticleBeam.from_twiss(
        num_particles=args.particles,
        beta_x=torch.tensor(1.0),
        beta_y=torch.tensor(1.0),
        emittance_x=torch.tensor(1e-6),
        emittance_y=torch.tensor(1e-6),
        energy=energy_ev,
        species=species,
    )
    with torch.no_grad():
        theirs = {
            "envelope_single": timed(lambda: seg.track(pbeam), args.repeats),
            "envelope_batch": timed(lambda: seg_batch.track(pbeam), args.repeats),
            "particles": timed(lambda: seg.track(part), few),
        }
    theirs["envelope_override"] = theirs["envelope_single"]
    theirs["particles_linear"] = theirs["particles_full"] = theirs.pop("particles")
    result["cheetah_version"] = getattr(cheetah, "__version__", "?")
    result["cheetah_s"] = theirs
    result["speedup_vs_cheetah"] = {k: theirs[k] / ours[k] for k in ours}
    result["goals"] = {"envelope_single": ">= 10", "particles_linear": ">= 1"}
    print(json.dumps(result, indent=2))


def linac(particles: int, repeats: int) -> dict:
    """The 502 MeV linac of the TraceWin samples (see the module docstring)."""
    from pathlib import Path

    from accelerate_rl.tracewin import read_ini

    folder = Path(__file__).resolve().parents[2] / "shared/tracewin-samples/lightwin-example"
    if not folder.is_dir():
        return {"skipped": f"{folder} not found"}
    beam = Beam.from_ini(read_ini(folder / "example.ini"))
    dat = folder / "example.dat"

    def compile_and_run():
        Engine(dat, beam).run(space_charge=False)

    engine = Engine(dat, beam)
    out = {
        "linac_compile": timed(compile_and_run, 1),
        "linac_envelope": timed(lambda: engine.run(space_charge=False), repeats),
        "linac_envelope_sc": timed(lambda: engine.run(), repeats),
    }
    many = replace(beam, n_particles=particles)
    mp_engine = Engine(dat, many)
    mp_engine.run(space_charge=False)  # the cavities' reference crossings, cached
    t0 = time.perf_counter()
    mp_engine.run(mode="multiparticle", seed=1, sc_solver="linear")
    out["linac_multiparticle_linear_sc"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = mp_engine.run(mode="multiparticle", seed=1)  # the 32^3 mesh, every 1 cm
    out["linac_multiparticle_sc"] = time.perf_counter() - t0
    out["final_energy_mev"] = result.summary["energy"]
    out["particles"] = particles
    out["current_ma"] = beam.current
    base = out["linac_envelope"]
    out["ratio_to_linac_envelope"] = {
        k: out[k] / base
        for k in ("linac_envelope_sc", "linac_multiparticle_linear_sc", "linac_multiparticle_sc")
    }
    return out


def field_maps(particles: int, repeats: int) -> dict:
    """3D field maps: a 3D RF cavity (the spoke's on-axis field extended off axis,
    FIELD_MAP 7700, after a QUAD), a 3D dipole in a bending SUPERPOSE_MAP_OUT block (the
    ADIGE dipole of make_adige_maps.py) and the ADIGE excerpt end to end. Per case:
    ``*_cold`` (Engine built and the first envelope run: maps read, the reference and
    the 13-particle linear map integrated), ``*_envelope`` (a run, maps cached),
    ``*_override`` (a new value of a knob before the map every call: the map's cache
    holds), ``*_multiparticle`` (``particles``, each integrated through the maps)."""
    import contextlib
    import importlib.util
    import io
    import tempfile
    from pathlib import Path

    here = Path(__file__).resolve().parent
    samples = here.parents[1] / "shared/tracewin-samples"
    if not samples.is_dir():
        return {"skipped": f"{samples} not found"}

    def script(name: str):
        spec = importlib.util.spec_from_file_location(name, here / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    from accelerate_rl.engine.species import C_LIGHT
    from accelerate_rl.tracewin.fieldmaps import read_field_map_1d

    maps, adige = script("make_lattice_maps"), script("make_adige_maps")
    folder = Path(tempfile.mkdtemp(prefix="bench_fieldmaps_"))
    spoke = read_field_map_1d(samples / "lightwin-spoke-run/field_maps_1D/Simple_Spoke_1D.edz")
    omega = 2 * np.pi * 352.2e6
    e = spoke.values
    maps.write_axial_3d(folder, "sp", "ed", e, spoke.length, 0.03)
    maps.write_axial_3d(
        folder, "sp", "bd", e, spoke.length, 0.03, -omega * e * 1e6 / (2 * C_LIGHT**2)
    )
    with contextlib.redirect_stdout(io.StringIO()):
        summary = adige.main([str(folder)])
    cases = {
        "rf3d": (
            "FREQ 352.2\nFIELD_MAP_PATH .\nQUAD 100 5 30\nDRIFT 100 30\n"
            "FIELD_MAP 7700 415.16 110.183 30 1.72733 1.72733 0 0 sp 0\nEND\n",
            Beam(energy=16.6, freq=176.1, etnx=0.2, etny=0.2, eln=0.2, betx=1, bety=1),
        ),
        "dipole3d": (
            "FIELD_MAP_PATH .\nQUAD_ELE 200 -9530.98 50 0 0 0 0 0\nDRIFT 155.77 350\n"
            "SUPERPOSE_MAP_OUT 1050 1050.0 0.0 0 0 -90\n"
            "FIELD_MAP 70 1400 0 550 -0.200708 0 0 0 sd1b\nEND\n",
            Beam(**{**adige.BEAM, "energy": adige.DIPOLE_ENERGY}),
        ),
        "adige": (None, Beam(**adige.BEAM)),
    }
    out: dict = {"particles": particles, "dipole_calibration": summary["sd1b"]}
    for name, (text, beam) in cases.items():
        if text is None:
            lattice = folder / "adige.dat"
        else:
            lattice = parse_dat_text(text, str(folder / f"{name}.dat"))
        out[f"{name}_cold"] = timed(
            lambda lattice=lattice, beam=beam: Engine(lattice, beam).run(), 1
        )
        engine = Engine(lattice, beam)
        engine.run()
        out[f"{name}_envelope"] = timed(engine.run, repeats)
        number = 1 if name != "adige" else 4  # a QUAD, QUAD_ELE or SOLENOID before
        base = float(engine.lattice.elements[number - 1].args[1])
        settings = iter(np.linspace(0.9, 1.1, 1000) * base)
        out[f"{name}_override"] = timed(
            lambda engine=engine, key=f"ele[{number}][2]", settings=settings: engine.run(
                {key: next(settings)}
            ),
            repeats,
        )
        many = replace(beam, n_particles=particles)
        mp = Engine(lattice, many)
        mp.run()
        t0 = time.perf_counter()
        result = mp.run(mode="multiparticle", seed=1)
        out[f"{name}_multiparticle"] = time.perf_counter() - t0
        out[f"{name}_final_energy_mev"] = result.summary["energy"]
        out[f"{name}_transmission"] = result.summary["transmission"]
    return out


if __name__ == "__main__":
    main()
