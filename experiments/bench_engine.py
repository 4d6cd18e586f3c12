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
Goals (issue 3): envelope >= 10x Cheetah, particles >= 1x; issue 19: envelope_batch
>= 10x Cheetah, with ``batch_vs_single`` (the largest relative difference of the batch's
final sizes, emittances and transmission from single runs of the same settings) ~1e-12.

With ``../shared/tracewin-samples`` present, also the 20 -> 502 MeV linac of
``lightwin-example`` (142 RF field maps, 5 mA): ``linac_compile`` (Engine built and the
first envelope run: the synchronous particle and every cavity's map integrated),
``linac_envelope`` (a run without space charge, maps cached), ``linac_envelope_sc`` (with
space charge: 1 cm slices), ``linac_multiparticle_linear_sc`` and
``linac_multiparticle_sc`` (``--linac-particles`` particles, each integrated through every
cavity, with the envelope's linear space charge, then with the 32^3 mesh solver kicked
every 1 cm, inside the cavities too). There is no Cheetah baseline
for RF field maps: the ratio given is to ``linac_envelope`` in the same run.

``mesh_prefix``: the first 33 m (22 cavities, 110 elements) of that linac, 10,000
particles, the 32^3 mesh solver kicked every 1 cm (issue 19's comparison with HELIX):
the run with the default kept mesh, the same with cells fitted at every kick
(``sc_reuse=0``), their agreement, wall and CPU times (the machine is shared: CPU time
is what a quiet run's wall time would be at most, for one thread), and HELIX (Fermilab's
``linac_gen``, GPL, never a dependency of the package) in the same run when found: the
interpreter named by ``ARL_HELIX_PYTHON``, else this one if it can import ``linac_gen``.
``helix_peer.py`` runs it in that interpreter on the same prefix (written to a temporary
folder) from our run's input distribution (a ``.dst``), with each ``--helix-grid-modes``
(HELIX's ``fixed`` grid, its default, set at the first kick; ``adaptive``, fitted at
every kick, several times costlier; ``extent``, our grid given to HELIX at every kick,
compared with our run fitted at every kick: the like-for-like numerical comparison) and
each ``--helix-fields`` (``1d``: the lattice as HELIX reads it, whose 1D RF maps lack
the magnetic field B theta; ``3d``: the same maps' fields with B theta as 3D tables, see
``helix_peer.py``), with space charge and without (``--current 0``; ours too,
``space_charge=False``); the agreement is that of the final rms sizes (x, y, z),
normalised rms emittances (x-x', y-y', z-W) and transmission computed the same way from
both final distributions: with space charge (``rel_diff``), without
(``no_space_charge.rel_diff``, the linear optics), and of the space-charge effect
(``space_charge_effect``: each code's with / without - 1, their difference and its ratio
to ours). HELIX's OpenMP threads and our FFT threads follow ``OMP_NUM_THREADS``
(recorded); with 2 threads on a loaded machine HELIX's idle OpenMP threads spin, so
``OMP_NUM_THREADS=1`` gives the comparable CPU times. Without HELIX its figure published
in issue 19 is quoted, saying so.

Sections run in the order given by ``--sections`` (default: all); each is a function of
the parsed arguments returning a dict, recorded under its name with the machine's load
average before and after it (``SECTIONS``: add new ones there).

    python experiments/bench_engine.py [--repeats 7] [--particles 100000] [--linac-particles N]
        [--sections lattice,linac,mesh_prefix] [--helix-grid-modes fixed,adaptive,extent]
        [--helix-fields 1d,3d]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from accelerate_rl.engine import Beam, Engine
from accelerate_rl.engine.particles import generate
from accelerate_rl.engine.spacecharge_mesh import MeshSolver
from accelerate_rl.engine.species import Kinematics
from accelerate_rl.tracewin import parse_dat_text, read_ini
from accelerate_rl.tracewin.dst import Distribution, read_dst, write_dst

CELLS = 25  # 4 elements per cell -> 100 elements
QUAD_L, DRIFT_L, GRAD = 0.2, 0.3, 5.0  # m, m, T/m
#: The linac of the TraceWin samples, next to the project's checkout.
LINAC = Path(__file__).resolve().parents[2] / "shared/tracewin-samples/lightwin-example"
#: HELIX on the mesh prefix (issue 19: same prefix, 10,000 particles, 32^3 mesh, kicks
#: every cm, measured on this 2-core machine by an earlier session).
HELIX_PUBLISHED_S = 29.5
#: The previous mesh solver (numpy deposition and gathers, the Green's function at every
#: kick; commit d47fb8c) on the prefix with seed 1: final rms values for the agreement.
PREVIOUS = {
    "commit": "d47fb8c",
    "time_s_unloaded_issue_19": 75.2,
    "SizeX": 2.631837161494478,
    "SizeY": 1.5647905180831012,
    "SizeP": 0.7195656613068272,
    "ex": 0.22860086644498157,
    "ey": 0.2229588622762631,
    "ep": 0.03127616759430512,
}


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
    ap.add_argument("--mesh-particles", type=int, default=10_000)
    ap.add_argument(
        "--helix-grid-modes",
        default="fixed",
        help="HELIX PIC grids: fixed,adaptive,extent or none",
    )
    ap.add_argument(
        "--helix-fields", default="1d,3d", help="HELIX's RF maps: 1d (its reading), 3d or both"
    )
    ap.add_argument("--fieldmap-particles", type=int, default=10_000)
    ap.add_argument("--no-linac", action="store_true", help="skip the linac section")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    args = ap.parse_args()
    names = [n.strip() for n in args.sections.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown sections {unknown}: choose from {sorted(SECTIONS)}")
    if args.no_linac:
        names = [n for n in names if n != "linac"]
    result: dict = {"machine": platform.machine(), "cpus": os.cpu_count(), "repeats": args.repeats}
    result["blas_threads"] = single_threaded_blas()
    for name in names:
        before = os.getloadavg()
        out = SECTIONS[name](args)
        out["load_average_before_after"] = [round(before[0], 2), round(os.getloadavg()[0], 2)]
        result[name] = out
    print(json.dumps(result, indent=2))


def single_threaded_blas() -> int | str:
    """One BLAS thread, as Cheetah gets one torch thread here and Ray gives its workers
    (OMP_NUM_THREADS=1): on a shared 2-core machine a second thread only spins."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return "default (threadpoolctl not installed)"
    threadpool_limits(1)
    return 1


def lattice_section(args: argparse.Namespace) -> dict:
    """The 100-element lattice against Cheetah (see the module docstring)."""
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
        "ours_s": ours,
        "batch_vs_single": batch_vs_single(engine, grads),
    }
    try:
        import cheetah
        import torch
    except ImportError as exc:
        result["cheetah"] = f"not installed ({exc}): pip install cheetah-accelerator"
        return result
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
    result["goals"] = {
        "envelope_single": ">= 10",
        "envelope_batch": ">= 10",
        "particles_linear": ">= 1",
    }
    return result


def batch_vs_single(engine: Engine, grads: np.ndarray, samples: int = 25) -> float:
    """The largest relative difference of a batch's final values from single runs."""
    batch = engine.run_batch({"ele[1][2]": grads})
    worst = 0.0
    for b in np.linspace(0, len(grads) - 1, samples).astype(int):
        one = engine.run({"ele[1][2]": float(grads[b])}).summary
        fast = batch.summary_of(int(b))
        for key in ("SizeX", "SizeY", "SizeP", "ex", "ey", "ep", "transmission"):
            worst = max(worst, abs(fast[key] - one[key]) / max(abs(one[key]), 1e-300))
    return worst


def linac_section(args: argparse.Namespace) -> dict:
    """The 502 MeV linac of the TraceWin samples (see the module docstring)."""
    particles, repeats = args.linac_particles, max(3, args.repeats // 2)
    if not LINAC.is_dir():
        return {"skipped": f"{LINAC} not found"}
    beam = Beam.from_ini(read_ini(LINAC / "example.ini"))
    dat = LINAC / "example.dat"

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


def prefix_text(cavities: int = 22) -> str:
    """The linac's first lattice periods up to and including ``cavities`` cavities."""
    lines, count, out = (LINAC / "example.dat").read_text().splitlines(), 0, []
    for line in lines:
        tokens = line.split()
        if count == cavities and tokens and (tokens[0][0] == ";" or tokens[0] == "QUAD"):
            break
        out.append(line)
        count += bool(tokens) and tokens[0] == "FIELD_MAP"
    return "\n".join(out) + "\nEND\n"


def mesh_prefix_section(args: argparse.Namespace) -> dict:
    """Multiparticle with mesh space charge on the 33 m prefix (module docstring)."""
    if not LINAC.is_dir():
        return {"skipped": f"{LINAC} not found"}
    beam = replace(Beam.from_ini(read_ini(LINAC / "example.ini")), n_particles=args.mesh_particles)
    engine = Engine(parse_dat_text(prefix_text(), str(LINAC / "prefix.dat")), beam)
    envelope = engine.run(space_charge=False)  # the cavities' reference crossings, cached
    MeshSolver().field(np.random.default_rng(0).normal(size=(3, 100)), 1e-15)  # compiles
    keys = ("SizeX", "SizeY", "SizeP", "ex", "ey", "ep", "transmission")
    out: dict = {
        "elements": len(engine.compiled.models),
        "length_m": envelope.summary["length"],
        "final_energy_mev": envelope.summary["energy"],
        "particles": args.mesh_particles,
        "mesh": [32, 32, 32],
        "kick_step_m": 0.01,
        "current_ma": beam.current,
        "mesh_threads": MeshSolver().threads,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    runs, finals = {}, {}
    for name, reuse in (("kept_mesh", 0.1), ("fitted_every_kick", 0.0)):
        samples, cpu, summary = [], [], {}
        for _ in range(max(1, args.repeats // 4)):
            t0, c0 = time.perf_counter(), time.process_time()
            result = engine.run(mode="multiparticle", seed=1, sc_reuse=reuse)
            samples.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            summary = result.summary
        finals[name] = result
        runs[name] = {
            "s": statistics.median(samples),
            "cpu_s": statistics.median(cpu),
            **{k: summary[k] for k in keys},
        }
    out["ours"] = runs
    ours = runs["kept_mesh"]
    out["agreement"] = {
        "kept_vs_fitted_max_rel": max(
            abs(ours[k] / runs["fitted_every_kick"][k] - 1) for k in keys
        ),
        "kept_vs_previous_max_rel": max(abs(ours[k] / PREVIOUS[k] - 1) for k in keys[:-1]),
    }
    out["previous_implementation"] = PREVIOUS
    out["load_average_after_ours"] = os.getloadavg()
    out["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    python, found = helix_python()
    modes = [m for m in args.helix_grid_modes.split(",") if m and m != "none"]
    print(f"mesh_prefix: HELIX: {found}: {python}", file=sys.stderr)
    if python is None or not modes:
        out["helix"] = {
            "ran": False,
            "why": found if python is None else "--helix-grid-modes none",
            "published_s": HELIX_PUBLISHED_S,
            "source": "issue 19 (same prefix and settings, this 2-core machine)",
        }
        out["speedup_vs_helix_published"] = HELIX_PUBLISHED_S / ours["s"]
        out["speedup_vs_helix_published_cpu"] = HELIX_PUBLISHED_S / ours["cpu_s"]
    else:
        for name, result in finals.items():
            out["ours"][name]["final_moments"] = final_moments(result.final)
        t0, c0 = time.perf_counter(), time.process_time()
        linear = engine.run(mode="multiparticle", seed=1, space_charge=False)
        ours_linear = final_moments(linear.final)
        out["ours"]["no_space_charge"] = {
            "s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "final_moments": ours_linear,
        }
        out["helix"] = {"ran": True, "python": python, "found_by": found, "modes": {}}
        for mode in modes:
            out["helix"]["modes"][mode] = {}
            for fields in [f for f in args.helix_fields.split(",") if f]:
                mine = OURS_FOR_GRID.get(mode, "kept_mesh")
                peer = compare_helix(
                    python, finals[mine].initial, mode, fields, beam, runs[mine], ours_linear
                )
                out["helix"]["modes"][mode][fields] = {"compared_with_ours": mine, **peer}
    out["goal"] = {"speedup_vs_helix": ">= 2", "agreement": "<= 0.01"}
    return out


#: Our run each HELIX grid mode is compared with: ``extent`` gives HELIX our grid fitted at
#: every kick (``helix_peer.py``), the like-for-like of ``sc_reuse=0``.
OURS_FOR_GRID = {"extent": "fitted_every_kick"}


def helix_python() -> tuple[str | None, str]:
    """The interpreter that runs HELIX and how it was found (or why there is none)."""
    env = os.environ.get("ARL_HELIX_PYTHON")
    if env:
        return env, "ARL_HELIX_PYTHON"
    probe = subprocess.run(
        [sys.executable, "-c", "import linac_gen"], capture_output=True, text=True
    )
    if probe.returncode == 0:
        return sys.executable, "linac_gen importable in this interpreter"
    return None, (
        "HELIX not found: set ARL_HELIX_PYTHON to a Python that imports linac_gen "
        "(built from github.com/Accel-Toolkit/HELIX with pip in its own venv)"
    )


def final_moments(dist: Distribution) -> dict[str, float]:
    """rms sizes x, y, z [mm] and normalised rms emittances x-x', y-y' [mm mrad], z-W
    [mm MeV] of a distribution (its own frequency turns phases into z), and the count."""
    raw = dist.raw
    w = raw[:, 5].mean()
    gamma = 1 + w / dist.mass
    bg = np.sqrt(gamma * gamma - 1)
    beta = bg / gamma
    z = -raw[:, 4] * beta * 299_792_458e3 / (2 * np.pi * dist.freq * 1e6)  # mm

    def emittance(u: np.ndarray, v: np.ndarray) -> float:
        return float(np.sqrt(np.linalg.det(np.cov(u, v))))

    x, y = raw[:, 0] * 10, raw[:, 2] * 10  # mm
    return {
        "sigma_x_mm": float(x.std()),
        "sigma_y_mm": float(y.std()),
        "sigma_z_mm": float(z.std()),
        "enx_mm_mrad": bg * emittance(x, raw[:, 1] * 1e3),
        "eny_mm_mrad": bg * emittance(y, raw[:, 3] * 1e3),
        "ez_mm_mev": emittance(z, raw[:, 5]),
        "particles": float(dist.n_particles),
    }


def compare_helix(
    python: str,
    initial: Distribution,
    mode: str,
    fields: str,
    beam: Beam,
    ours: dict,
    ours_linear: dict[str, float],
) -> dict:
    """HELIX with the grid ``mode`` and RF ``fields`` with space charge and without, from
    ``initial``, against ``ours`` (the run of ours it is compared with, kept or fitted
    mesh as the caller chooses for ``mode``, with its ``final_moments``) and our
    final moments without space charge: times, speed-ups, differences, effects."""
    peer = run_helix(python, initial, mode, beam, fields)
    if "error" in peer:
        return peer
    ours_final = ours["final_moments"]
    peer_final = peer.pop("final_moments")
    peer["rel_diff_to_ours"] = relative_differences(ours_final, peer_final)
    peer["max_rel_diff_to_ours"] = max(map(abs, peer["rel_diff_to_ours"].values()))
    peer["final_moments"] = peer_final
    peer["speedup_wall"] = peer["s"] / ours["s"]
    peer["speedup_cpu"] = peer["cpu_s"] / ours["cpu_s"]
    off = run_helix(python, initial, mode, replace(beam, current=0.0), fields)
    if "error" in off:
        peer["no_space_charge"] = off
        return peer
    peer["no_space_charge"] = no_space_charge(off, ours_linear)
    peer["space_charge_effect"] = space_charge_effect(
        (ours_final, ours_linear), (peer_final, off["final_moments"])
    )
    return peer


def relative_differences(ours: dict[str, float], peer: dict[str, float]) -> dict[str, float]:
    """ours / peer - 1 for each of the final moments."""
    return {k: ours[k] / peer[k] - 1 for k in ours}


def no_space_charge(peer: dict, ours: dict[str, float]) -> dict:
    """HELIX's run without space charge: its times, final moments and our difference."""
    diff = relative_differences(ours, peer["final_moments"])
    return {
        "s": peer["s"],
        "cpu_s": peer["cpu_s"],
        "final_moments": peer["final_moments"],
        "rel_diff_to_ours": diff,
        "max_rel_diff_to_ours": max(map(abs, diff.values())),
    }


def space_charge_effect(ours: tuple[dict, dict], peer: tuple[dict, dict]) -> dict:
    """Each code's space-charge effect on the final moments (with / without - 1), from
    (with, without) moments of each: ours, HELIX's, their difference and its ratio to
    ours (how well the solvers agree, the linear optics taken out to first order)."""
    out: dict = {}
    for k in ours[0]:
        if k == "particles":
            continue
        mine, theirs = ours[0][k] / ours[1][k] - 1, peer[0][k] / peer[1][k] - 1
        out[k] = {
            "ours": mine,
            "helix": theirs,
            "difference": mine - theirs,
            "difference_over_ours": (mine - theirs) / mine if mine else None,
        }
    return out


def run_helix(python: str, initial: Distribution, mode: str, beam: Beam, fields: str) -> dict:
    """HELIX (``helix_peer.py`` in ``python``) on the mesh prefix from ``initial``, with
    the grid ``mode``, RF ``fields`` (``1d`` or ``3d``) and ``beam.current`` (0: no space
    charge): its JSON line plus the final moments of its distribution."""
    with tempfile.TemporaryDirectory(prefix="arl-helix-") as tmp:
        folder = Path(tmp)
        (folder / "prefix.dat").write_text(prefix_text())
        (folder / "field_maps_1D").symlink_to(LINAC / "field_maps_1D")
        write_dst(folder / "initial.dst", initial)
        argv = [
            python,
            str(Path(__file__).with_name("helix_peer.py")),
            str(folder / "prefix.dat"),
            str(folder / "initial.dst"),
            str(folder / "final.dst"),
            "--mesh", "32",
            "--kicks-per-m", "100",
            "--grid-mode", mode,
            "--fields", fields,
            "--current", repr(beam.current),
            "--freq", repr(beam.freq),
        ]  # fmt: skip
        t0, c0 = time.perf_counter(), os.times()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=7200)
        c1 = os.times()
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-5:]}
        peer = json.loads(done.stdout.strip().splitlines()[-1])
        peer["process_s"] = time.perf_counter() - t0
        peer["process_cpu_s"] = (c1.children_user + c1.children_system) - (
            c0.children_user + c0.children_system
        )
        peer["final_moments"] = final_moments(read_dst(folder / "final.dst"))
    return peer


SECTIONS = {
    "lattice": lattice_section,
    "linac": linac_section,
    "mesh_prefix": mesh_prefix_section,
    "field_maps": lambda args: field_maps(args.fieldmap_particles, args.repeats),
}

if __name__ == "__main__":
    main()
