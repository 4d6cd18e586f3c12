"""The embedded engine's Python API: run a lattice with a beam and overrides.

    from accelerate_rl.engine import Engine, Beam
    eng = Engine("line.dat", Beam(energy=0.04, mass=..., charge=5))
    res = eng.run({"ele[3][2]": -4.2})               # envelope mode
    res.table            # tracewin.out columns, one row per element exit
    res.summary          # final sizes, centroids, emittances, transmission, ...
    batch = eng.run_batch({"ele[3][2]": np.linspace(-5, 5, 1000)})   # one call, 1000 settings

Parameters accepted by ``run``: ``ele[n][v]`` overrides, TraceWin's beam keys
(``energy1`` [MeV], ``mass1`` [eV], ``charge1``, ``current1`` [mA], ``freq1`` [MHz],
``etnx1 etny1 eln1`` [mm.mrad], ``alpx1 betx1 alpy1 bety1 alpz1 betz1``, ``x1 y1`` [mm],
``xp1 yp1`` [mrad], ``nbr_part1``) and run keys (``partran`` 0/1, ``random_seed``,
``sc_solver`` mesh/linear, ``sc_mesh`` "nx,ny,nz": multiparticle space charge).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..tracewin.dat import Lattice, parse_ele_key, read_dat
from ..tracewin.dst import Distribution
from ..tracewin.errors import InvalidParameterError
from ..tracewin.keys import (
    ENGINE_IGNORED_KEYS,
    ENGINE_RUN_KEYS,
    check_key,
    is_multiparticle,
    random_seed,
    space_charge_mesh,
    space_charge_solver,
    unknown_key,
)
from ..tracewin.matrices import TransferMatrices
from ..tracewin.out import OUT_COLUMNS, SUMMARY_COLUMNS
from ..tracewin.plt import PltRecord, PltWriter
from .beam import TRACEWIN_BEAM_KEYS, Beam
from .envelope import (
    SPACE_CHARGE_STEP,
    BaseMaps,
    Track,
    track_envelope,
    track_envelope_space_charge,
)
from .model import CompiledLattice
from .particles import (
    ParticleTrack,
    aperture_tuple,
    from_distribution,
    generate,
    to_distribution,
    track_particles,
)
from .profile import EnergyProfile, energy_profile
from .reference import CavitySetPoint, set_points
from .spacecharge_mesh import DEFAULT_SHAPE, MeshSolver, MeshSpaceCharge
from .table import columns, core_columns

#: Envelope-mode transmission below which the beam counts as lost.
LOST_THRESHOLD = 1e-6


def _space_charge_options(
    run_keys: Mapping[str, Any], solver: str | None, mesh: tuple[int, int, int] | None
) -> tuple[str, tuple[int, int, int]]:
    """The multiparticle space-charge solver and mesh from run keys and arguments."""
    solver = space_charge_solver(run_keys.get("sc_solver", "mesh") if solver is None else solver)
    return solver, space_charge_mesh(
        run_keys.get("sc_mesh", DEFAULT_SHAPE) if mesh is None else mesh
    )


class EngineResult:
    """One run's outputs.

    Attributes:
        mode: "envelope" or "multiparticle".
        table: ``tracewin.out``/``partran1.out`` columns, row 0 the input beam (a
            DataFrame, built on first access).
        columns: the same columns as numpy arrays.
        summary: final-row values (mm, mrad, mm.mrad), ``transmission`` [0..1],
            ``energy`` [MeV], ``length`` [m], ``lost_at`` (element, 0 if none).
        transfer_matrices: cumulative maps to every element's exit.
        beam: the input beam actually used. seed: the random seed (multiparticle).
        initial, final: input and output distributions (multiparticle), else None.
        notes: commands accepted with no effect, ignored keys.
        cavities: the RF cavities' synchronous phases and voltages (``Cav_set_point_res``).
    """

    def __init__(
        self,
        mode: str,
        columns: dict[str, np.ndarray] | Callable[[], dict[str, np.ndarray]],
        summary: dict[str, float],
        transfer_matrices: TransferMatrices,
        beam: Beam,
        seed: int | None = None,
        final: Distribution | None = None,
        initial: Distribution | None = None,
        notes: list[str] | None = None,
        cavities: list[CavitySetPoint] | None = None,
    ) -> None:
        self.mode = mode
        self.cavities = cavities or []
        self._columns = columns
        self.summary = summary
        self.transfer_matrices = transfer_matrices
        self.beam = beam
        self.seed = seed
        self.final = final
        self.initial = initial
        self.notes = notes or []
        self._table: pd.DataFrame | None = None

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """The output columns as (rows,) arrays (computed on first access)."""
        if callable(self._columns):
            self._columns = self._columns()
        return self._columns

    @property
    def table(self) -> pd.DataFrame:
        if self._table is None:
            rows = len(self.columns["##"])
            data = {
                name: self.columns[name] if name in self.columns else np.zeros(rows)
                for name in OUT_COLUMNS
            }
            table = pd.DataFrame(data)
            table["##"] = table["##"].astype(np.int64)
            table["npart"] = table["npart"].round().astype(np.int64)
            b = self.beam
            table.attrs.update(
                mc2=b.mass, freq=b.freq, Z=b.charge, I=b.current, npart=b.n_particles
            )
            self._table = table
        return self._table

    @property
    def beam_lost(self) -> bool:
        limit = 0.0 if self.mode == "multiparticle" else LOST_THRESHOLD
        return self.summary["transmission"] <= limit

    @property
    def lost_at(self) -> int:
        return int(self.summary["lost_at"])

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"EngineResult({self.mode}, SizeX={s['SizeX']:.4g} mm, SizeY={s['SizeY']:.4g} mm,"
            f" transmission={s['transmission']:.4g})"
        )


@dataclass
class BatchResult:
    """B settings evaluated in one call (envelope mode).

    Attributes:
        settings: the override arrays, each (B,).
        columns: ``tracewin.out`` columns, each (rows, B).
        transmission: (rows, B) estimated transmission.
        energy: (B,) the reference particle's final kinetic energy [MeV].
    """

    settings: dict[str, np.ndarray]
    columns: dict[str, np.ndarray]
    transmission: np.ndarray
    energy: np.ndarray | None = None

    @property
    def size(self) -> int:
        return self.transmission.shape[1]

    def at(self, name: str, element: int = -1) -> np.ndarray:
        """(B,) values of column ``name`` at element ``element`` (default: the end)."""
        col = self.columns[name]
        if element < 0:
            return col[element]
        rows = np.flatnonzero(self.columns["##"][:, 0] == element)
        if not len(rows):
            raise KeyError(f"no row for element {element}")
        return col[rows[-1]]

    @property
    def lost(self) -> np.ndarray:
        """(B,) whether each setting loses the beam somewhere along the line."""
        return np.any(self.transmission <= LOST_THRESHOLD, axis=0)

    def summary_of(self, b: int) -> dict[str, float]:
        """Setting b's :attr:`EngineResult.summary` (for a setting that keeps its beam:
        a lost one's summary is that of the row before the loss, which run() reports)."""
        cols = self.columns
        out = {name: float(cols[name][-1, b]) for name in SUMMARY_COLUMNS}
        out["transmission"] = float(self.transmission[-1, b])
        out["energy"] = float(self.energy[b])
        out["length"] = float(cols["z(m)"][-1, b])
        out["lost_at"] = 0.0
        return out

    def summary(self) -> pd.DataFrame:
        """One row per setting: the settings, final-row values and transmission."""
        data: dict[str, Any] = {
            k: np.broadcast_to(v, (self.size,)) for k, v in self.settings.items()
        }
        for name in SUMMARY_COLUMNS:
            data[name] = self.columns[name][-1]
        data["transmission"] = self.transmission[-1]
        return pd.DataFrame(data)


def split_params(params: Mapping[str, Any]) -> tuple[dict, dict, dict, list[str]]:
    """Split run parameters into ``ele[n][v]`` overrides, beam keys, run keys, ignored keys.

    Raises:
        InvalidParameterError: a key that is none of these, naming it.
    """
    ele, beam, run, ignored = {}, {}, {}, []
    for key, value in params.items():
        low = check_key(key).lower()
        if parse_ele_key(key) is not None:
            ele[key] = value
        elif low in TRACEWIN_BEAM_KEYS:
            beam[low] = value
        elif low in ENGINE_RUN_KEYS:
            run[low] = value
        elif low in ENGINE_IGNORED_KEYS:
            ignored.append(key)
        else:
            known = ENGINE_RUN_KEYS | ENGINE_IGNORED_KEYS
            raise unknown_key(
                key, "the embedded engine", known, ", ".join(sorted(TRACEWIN_BEAM_KEYS))
            )
    return ele, beam, run, ignored


def _track_columns(track: Track, env: Track, kin, freq: float) -> dict[str, np.ndarray]:
    """Output columns of ``track`` (moments), with maps and lengths from the envelope."""
    return columns(
        numbers=track.numbers,
        z=track.z,
        centroid=track.centroid,
        sigma=track.sigma,
        kin=kin,
        freq=freq,
        npart=track.npart,
        aperture=track.aperture,
        cumulative=env.cumulative,
        element_maps=env.element_maps,
        lengths_mm=env.lengths_mm,
        xmax=track.xmax,
        ymax=track.ymax,
        powlost=track.powlost,
    )


def _summary(track: Track, profile: EnergyProfile, beam: Beam, mode: str) -> dict:
    """Final-row values (or those just before the beam was lost), from one table row;
    ``energy`` is the reference particle's at the end [MeV]."""
    trans = track.transmission[:, 0]
    threshold = 0.0 if mode == "multiparticle" else LOST_THRESHOLD
    lost = np.flatnonzero(trans <= threshold)
    lost_at = int(track.numbers[lost[0]]) if len(lost) else 0
    row = lost[0] - 1 if len(lost) else len(trans) - 1
    kin = profile.kinematics[row]
    one = core_columns(track.centroid[row, 0], track.sigma[row, 0], kin, beam.freq)
    out = {name: float(one[name]) for name in SUMMARY_COLUMNS}
    out["transmission"] = float(trans[-1])
    out["energy"] = float(profile.energy[-1])
    out["length"] = float(track.z[-1, 0])
    out["lost_at"] = float(lost_at)
    return out


class Engine:
    """A lattice compiled once, run many times with different settings.

    Args:
        lattice: a :class:`Lattice` or the path of a `.dat` file.
        beam: the input beam.
    """

    def __init__(self, lattice: Lattice | str | Path, beam: Beam) -> None:
        self.lattice = lattice if isinstance(lattice, Lattice) else read_dat(lattice)
        self.beam = beam
        self.compiled = CompiledLattice(self.lattice, rf_freq=beam.freq)
        self._cache: dict[tuple, BaseMaps] = {}

    # -- helpers ---------------------------------------------------------------------
    def beam_for(self, beam_keys: Mapping[str, Any]) -> Beam:
        """The input beam with TraceWin beam keys applied; InvalidParameterError if bad."""
        return self.beam.with_tracewin_keys(dict(beam_keys))

    def _base_maps(self, beam: Beam) -> BaseMaps:
        key = (beam.energy, beam.mass, beam.charge)
        base = self._cache.get(key)
        if base is None:
            if len(self._cache) >= 8:
                self._cache.clear()
            profile = energy_profile(self.compiled.models, beam.kinematics)
            base = self._cache[key] = BaseMaps(self.compiled.models, profile)
        return base

    def _profile(
        self, models: list, beam: Beam, fresh: set[int], batch: int, keys: Mapping[str, Any]
    ) -> tuple[EnergyProfile, set[int]]:
        """The energy profile of this run and the elements whose maps must be rebuilt: an
        override of an RF element changes the energy of every element after it."""
        base = self._base_maps(beam)
        touched = fresh & self.compiled.accelerating
        if not touched:
            return base.profile, fresh
        if batch != 1:
            key = next(k for k in keys if self.lattice.check_override(k, 0)[0] in touched)
            raise InvalidParameterError(
                key, "batched overrides of RF elements are not supported: one setting per run"
            )
        profile = energy_profile(models, beam.kinematics)
        return profile, fresh | set(range(min(touched), len(models) + 1))

    # -- runs ------------------------------------------------------------------------
    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        mode: str | None = None,
        seed: int | None = None,
        distribution: Distribution | None = None,
        plt_path: str | Path | None = None,
        chromatic: bool = True,
        extremes: bool = True,
        space_charge: bool = True,
        sc_solver: str | None = None,
        sc_mesh: tuple[int, int, int] | None = None,
    ) -> EngineResult:
        """Run once.

        Args:
            params: overrides, beam keys and run keys (see the module docstring).
            mode: "envelope" (default) or "multiparticle"; ``partran=1`` in params also
                selects multiparticle.
            seed: random seed of the input distribution (``random_seed`` in params too).
            distribution: an input ``.dst`` distribution instead of a generated one.
            plt_path: write the particles at every element to this ``.plt`` file.
            chromatic: per-particle focusing strengths in multiparticle mode (default);
                False uses the reference particle's linear maps (as Cheetah does).
            extremes: compute Xmax/Ymax at every element (multiparticle); False leaves
                them 0 and lets linear stretches cost nothing per particle.
            space_charge: with a beam current, space charge (envelope mode: linear, of
                the rms-equivalent uniform ellipsoid, :mod:`.spacecharge`); False
                ignores the current.
            sc_solver: multiparticle space charge: "mesh" (default; the particles' own
                field on a 3D mesh, :mod:`.spacecharge_mesh`) or "linear" (the envelope's
                linear force; cheaper, no non-linear effects). Run key ``sc_solver``.
            sc_mesh: mesh nodes (nx, ny, nz) of the "mesh" solver (default 32 x 32 x
                32). Run key ``sc_mesh`` as "nx,ny,nz".

        Raises:
            InvalidParameterError: a bad key or value, naming the key.
        """
        ele, beam_keys, run_keys, ignored = split_params(params or {})
        if "partran" in run_keys:
            multiparticle = is_multiparticle(run_keys["partran"])
            mode = mode or ("multiparticle" if multiparticle else "envelope")
        mode = mode or "envelope"
        if mode not in ("envelope", "multiparticle"):
            raise ValueError(f"mode must be 'envelope' or 'multiparticle', got {mode!r}")
        if "random_seed" in run_keys:
            seed = random_seed(run_keys["random_seed"])
        sc_solver, sc_mesh = _space_charge_options(run_keys, sc_solver, sc_mesh)
        beam = self.beam_for(beam_keys)
        models, batch, fresh = self.compiled.with_overrides(ele)
        if batch != 1:
            raise InvalidParameterError(
                next(iter(ele)), "arrays of values belong to run_batch(), not run()"
            )
        notes = list(self.compiled.notes)
        notes += [f"key {k} has no effect in the embedded engine" for k in ignored]
        profile, fresh = self._profile(models, beam, fresh, batch, ele)
        if space_charge and beam.current > 0:
            env = track_envelope_space_charge(
                models,
                profile,
                beam.sigma(),
                beam.centroid(),
                beam.n_particles,
                beam.current,
                beam.freq,
            )
        else:
            env = track_envelope(
                models,
                profile,
                beam.sigma(),
                beam.centroid(),
                1,
                beam.n_particles,
                self._base_maps(beam),
                fresh,
            )
        tm = TransferMatrices(np.arange(1, len(models) + 1), env.z[1:, 0], env.cumulative[1:, 0])
        initial = final = None
        if mode == "envelope":
            track = env
        else:
            if seed is None:
                seed = int(np.random.default_rng().integers(0, 2**31 - 1))
            track, initial, final = self._multiparticle(
                models,
                beam,
                env,
                profile,
                seed,
                distribution,
                plt_path,
                chromatic,
                extremes,
                fresh,
                MeshSolver(sc_mesh) if space_charge and sc_solver == "mesh" else None,
            )
            beam = replace(beam, n_particles=initial.n_particles)
        freq = beam.freq

        def all_columns() -> dict[str, np.ndarray]:
            cols = _track_columns(track, env, profile.rows(), freq)
            return {name: col[:, 0] for name, col in cols.items()}

        summary = _summary(track, profile, beam, mode)
        cavities = set_points(profile, models)
        return EngineResult(
            mode, all_columns, summary, tm, beam, seed, final, initial, notes, cavities
        )

    def _multiparticle(
        self,
        models: list,
        beam: Beam,
        env: Track,
        profile: EnergyProfile,
        seed: int,
        distribution: Distribution | None,
        plt_path: str | Path | None,
        chromatic: bool,
        extremes: bool,
        fresh: set[int],
        solver: MeshSolver | None = None,
    ) -> tuple[Track, Distribution, Distribution]:
        if distribution is not None:
            coords = from_distribution(distribution, beam)
        else:
            coords = generate(beam, seed)
        n0 = coords.shape[1]
        beam = replace(beam, n_particles=n0)
        writer = None
        on_element = None
        if plt_path is not None:
            writer = PltWriter(
                plt_path,
                n_elements=len(models),
                n_particles=n0,
                current=beam.current,
                freq=beam.freq,
                mass=beam.mass,
            )

            def on_element(n: int, all_coords: np.ndarray, lost: np.ndarray) -> None:
                at = replace(beam, energy=float(profile.energy[n]))
                dist = to_distribution(all_coords, at)
                writer.add(PltRecord(n, float(env.z[n, 0]), 0.0, at.energy, dist.raw, lost.copy()))

        try:
            initial = to_distribution(coords, beam)
            mesh = None
            if solver is not None and beam.current > 0:
                mesh = MeshSpaceCharge(beam.current, beam.freq, n0, solver, SPACE_CHARGE_STEP)
            pt = track_particles(
                models,
                profile.kinematics,
                coords,
                chromatic=chromatic,
                extremes=extremes,
                on_element=on_element,
                maps=env.element_maps[:, 0],
                kicks=env.kicks[:, 0],
                apertures=self._aperture_tuples(models, beam, fresh),
                space_charge=None if mesh is not None else env.space_charge,
                mesh=mesh,
            )
        finally:
            if writer is not None:
                writer.close()
        final = to_distribution(
            pt.coords[:, pt.alive], replace(beam, energy=float(profile.energy[-1]))
        )
        beam_power_w = beam.current * 1e-3 * beam.energy * 1e6 / abs(beam.charge)
        lost_per_row = -np.diff(pt.npart, prepend=n0)
        track = Track(
            numbers=env.numbers,
            z=env.z,
            centroid=pt.centroid[:, None],
            sigma=pt.sigma[:, None],
            cumulative=env.cumulative,
            element_maps=env.element_maps,
            lengths_mm=env.lengths_mm,
            aperture=env.aperture,
            transmission=(pt.npart / n0)[:, None],
            npart=pt.npart[:, None],
            xmax=pt.xmax[:, None] * 1e3,
            ymax=pt.ymax[:, None] * 1e3,
            powlost=(lost_per_row / n0 * beam_power_w)[:, None],
        )
        return track, initial, final

    def track(
        self,
        coords: np.ndarray,
        params: Mapping[str, Any] | None = None,
        *,
        chromatic: bool = True,
        extremes: bool = False,
    ) -> ParticleTrack:
        """Track your own particles: (6, N) in internal units (x [m], x' [rad], y [m],
        y' [rad], z [m, > 0 ahead], dp/p), relative to the beam's reference particle.

        Returns every particle's final coordinates, where each was lost, and the moments
        of the survivors at every element. ``params``: ``ele[n][v]`` overrides and beam
        keys (the reference energy and species).
        """
        ele, beam_keys, _, _ = split_params(params or {})
        beam = self.beam_for(beam_keys)
        models, batch, fresh = self.compiled.with_overrides(ele)
        if batch != 1:
            raise InvalidParameterError(next(iter(ele)), "track() takes one setting")
        coords = np.asarray(coords, dtype=float)
        if coords.ndim != 2 or coords.shape[0] != 6:
            raise ValueError(f"coords must have shape (6, N), got {coords.shape}")
        base = self._base_maps(beam)
        profile, fresh = self._profile(models, beam, fresh, batch, ele)
        maps, kicks = base.maps[:, 0], base.kicks[:, 0]
        if fresh:
            maps, kicks = maps.copy(), kicks.copy()
            for k in fresh:
                kin = profile.entry(k)
                maps[k] = models[k - 1].matrix(kin)[0]
                d = models[k - 1].kick(kin)
                kicks[k] = 0.0 if d is None else d[0]
        return track_particles(
            models,
            profile.kinematics[:-1],
            coords,
            chromatic=chromatic,
            extremes=extremes,
            maps=maps,
            kicks=kicks,
            apertures=self._aperture_tuples(models, beam, fresh),
        )

    def _aperture_tuples(self, models: list, beam: Beam, fresh: set[int]) -> list:
        tuples = list(self._base_maps(beam).aperture_tuples)
        for k in fresh:
            tuples[k - 1] = aperture_tuple(models[k - 1])
        return tuples

    def run_batch(self, params: Mapping[str, Any]) -> BatchResult:
        """Evaluate B settings in one envelope call.

        ``params`` maps ``ele[n][v]`` keys to 1-D arrays of one common length B (scalars
        broadcast). Beam keys apply to the whole batch. With a beam current (space
        charge, which depends on each setting's own envelope) the settings are run one
        after the other, with the same result layout.

        Raises:
            InvalidParameterError: a bad key, value or batch length.
        """
        ele, beam_keys, run_keys, _ = split_params(params)
        if is_multiparticle(run_keys.get("partran", 0)):
            raise InvalidParameterError("partran", "run_batch() is envelope mode only")
        beam = self.beam_for(beam_keys)
        models, batch, fresh = self.compiled.with_overrides(ele)
        settings = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in ele.items()}
        if beam.current > 0:
            return self._run_batch_space_charge(ele, beam, batch, settings)
        profile, fresh = self._profile(models, beam, fresh, batch, ele)
        env = track_envelope(
            models,
            profile,
            beam.sigma(),
            beam.centroid(),
            batch,
            beam.n_particles,
            self._base_maps(beam),
            fresh,
        )
        cols = _track_columns(env, env, profile.rows(), beam.freq)
        energy = np.full(batch, float(profile.energy[-1]))
        return BatchResult(settings, cols, env.transmission, energy)

    def _run_batch_space_charge(
        self, ele: Mapping[str, Any], beam: Beam, batch: int, settings: dict
    ) -> BatchResult:
        columns, transmission, energy = [], [], []
        for b in range(batch):
            one = {k: float(np.broadcast_to(v, (batch,))[b]) for k, v in settings.items()}
            models, _, fresh = self.compiled.with_overrides(one)
            profile, _ = self._profile(models, beam, fresh, 1, one)
            env = track_envelope_space_charge(
                models,
                profile,
                beam.sigma(),
                beam.centroid(),
                beam.n_particles,
                beam.current,
                beam.freq,
            )
            columns.append(_track_columns(env, env, profile.rows(), beam.freq))
            transmission.append(env.transmission)
            energy.append(float(profile.energy[-1]))
        cols = {name: np.concatenate([c[name] for c in columns], axis=1) for name in columns[0]}
        return BatchResult(settings, cols, np.concatenate(transmission, axis=1), np.array(energy))
