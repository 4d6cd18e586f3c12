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

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..tracewin.dat import Lattice, read_dat
from ..tracewin.dst import Distribution
from ..tracewin.errors import InvalidParameterError
from ..tracewin.keys import is_multiparticle
from ..tracewin.matrices import TransferMatrices
from .batch import Stretches, track_knobs
from .beam import Beam
from .envelope import (
    BaseMaps,
    aperture_rows,
    track_envelope,
    track_envelope_space_charge,
)
from .model import CompiledLattice
from .multiparticle import run_multiparticle
from .particles import (
    ParticleTrack,
    aperture_tuple,
    track_particles,
)
from .profile import EnergyProfile, energy_profile
from .reference import set_points
from .requests import run_options, split_params
from .results import BatchResult, EngineResult, summarise, track_columns
from .rf import NEGATIVE_ION_NOTE
from .spacecharge_mesh import MESH_REUSE, MeshSolver
from .species import Kinematics
from .table import core_columns

__all__ = ["BatchResult", "Engine", "EngineResult", "split_params"]


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
        self._stretch_cache: dict[tuple, Stretches] = {}

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
        self, models: list, beam: Beam, touched: Mapping[int, str], batch: int
    ) -> tuple[EnergyProfile, set[int]]:
        """The energy profile of this run and the elements whose maps must be rebuilt:
        an override of an RF element changes the energy of every element after it.
        ``touched``: the overridden elements, each with the key naming it."""
        base = self._base_maps(beam)
        fresh = set(touched)
        accelerating = [n for n in touched if n in self.compiled.accelerating]
        if not accelerating:
            return base.profile, fresh
        if batch != 1:
            raise InvalidParameterError(
                touched[accelerating[0]],
                "batched overrides of RF elements are not supported: one setting per run",
            )
        profile = energy_profile(models, beam.kinematics)
        return profile, fresh | set(range(min(accelerating), len(models) + 1))

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
        sc_reuse: float = MESH_REUSE,
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
            sc_reuse: the "mesh" solver keeps its cells while the beam's extent stays
                within a band this wide (relative; 0 fits new cells at every kick).

        Raises:
            InvalidParameterError: a bad key or value, naming the key.
        """
        ele, beam_keys, run_keys, ignored = split_params(params or {})
        options = run_options(run_keys, mode, seed, sc_solver, sc_mesh)
        mode, seed = options.mode, options.seed
        beam = self.beam_for(beam_keys)
        models, batch, fresh = self.compiled.with_overrides(ele)
        if batch != 1:
            raise InvalidParameterError(
                next(iter(ele)), "arrays of values belong to run_batch(), not run()"
            )
        notes = list(self.compiled.notes)
        if beam.charge < 0 and self.compiled.accelerating:
            notes.append(NEGATIVE_ION_NOTE)
        notes += [f"key {k} has no effect in the embedded engine" for k in ignored]
        profile, fresh = self._profile(models, beam, fresh, batch)
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
            track, initial, final = run_multiparticle(
                models,
                beam,
                env,
                profile,
                seed,
                distribution,
                plt_path,
                chromatic,
                extremes,
                self._aperture_tuples(models, beam, fresh),
                MeshSolver(options.sc_mesh, sc_reuse)
                if space_charge and options.sc_solver == "mesh"
                else None,
            )
            beam = replace(beam, n_particles=initial.n_particles)
        freq = beam.freq

        def all_columns() -> dict[str, np.ndarray]:
            cols = track_columns(track, env, profile.rows(), freq)
            return {name: col[:, 0] for name, col in cols.items()}

        summary = summarise(track, profile, beam, mode)
        cavities = set_points(profile, models)
        return EngineResult(
            mode, all_columns, summary, tm, beam, seed, final, initial, notes, cavities
        )

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
        profile, fresh = self._profile(models, beam, fresh, batch)
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

    def run_batch(self, params: Mapping[str, Any], *, exits: Sequence[int] = ()) -> BatchResult:
        """Evaluate B settings in one envelope call.

        ``params`` maps ``ele[n][v]`` keys to 1-D arrays of one common length B (scalars
        broadcast). Beam keys are scalars (the whole batch) or 1-D arrays of length B
        (one incoming beam per setting): rows sharing the reference particle (energy,
        mass, charge, frequency, current) share the lattice's maps and only their input
        moments differ; rows with another reference are evaluated as their own batch.
        The final row, summaries, transmission and losses are computed at once from the
        lattice's maps multiplied between the overridden elements (:mod:`.batch`, cached
        per set of overridden elements: a few (B, 6, 6) products per call); the
        per-element table (``columns``, ``transmission`` per row, ``at()`` of an inner
        element) falls back to tracking every element for every setting, on first
        access. ``exits``: element numbers (0 = the input beam) whose exit rows the
        fast path also gives, in :attr:`BatchResult.exits` (each (E, B), in the order
        asked; the lattice is cut there too: a few more products, still no table).
        With a beam current (space charge, which depends on each setting's own
        envelope) the settings are run one after the other, with the same result layout.

        Raises:
            InvalidParameterError: a bad key, value or batch length.
            ValueError: an element in ``exits`` outside 0..n.
        """
        exits = tuple(int(e) for e in exits)
        for e in exits:
            if not 0 <= e <= len(self.compiled.models):
                raise ValueError(
                    f"run_batch(exits=...): element {e} is not in the lattice (elements "
                    f"0..{len(self.compiled.models)}, 0 = the input beam)"
                )
        ele, beam_keys, run_keys, _ = split_params(params)
        if is_multiparticle(run_keys.get("partran", 0)):
            raise InvalidParameterError("partran", "run_batch() is envelope mode only")
        models, batch, touched = self.compiled.with_overrides(ele)
        beams, batch = self._row_beams(beam_keys, batch)
        groups: dict[tuple, list[int]] = {}
        for b, row in enumerate(beams):
            groups.setdefault(_reference(row), []).append(b)
        if len(groups) > 1:
            return self._run_batch_groups(params, batch, list(groups.values()), exits)
        beam = beams[0]
        per_row = len(beams) > 1
        sigma0 = np.stack([b.sigma() for b in beams]) if per_row else beam.sigma()
        centroid0 = np.stack([b.centroid() for b in beams]) if per_row else beam.centroid()
        settings = {
            k: np.broadcast_to(np.atleast_1d(np.asarray(v, dtype=float)), (batch,))
            for k, v in ele.items()
        }
        if beam.current > 0:
            return self._run_batch_space_charge(beam, batch, settings, sigma0, centroid0, exits)
        profile, fresh = self._profile(models, beam, touched, batch)
        base = self._base_maps(beam)
        energy = np.full(batch, float(profile.energy[-1]))

        def table() -> tuple[dict[str, np.ndarray], np.ndarray]:
            env = track_envelope(
                models, profile, sigma0, centroid0, batch, beam.n_particles, base, fresh
            )
            return track_columns(env, env, profile.rows(), beam.freq), env.transmission

        if profile is not base.profile:  # an RF override: every later map changes
            return BatchResult.from_table(settings, *table(), energy, exits)
        knobs = tuple(sorted(fresh))
        stretches = self._stretches(beam, base, knobs, exits)
        knob_maps, knob_apertures, length_mm = [], [], float(base.lengths_mm[:, 0].sum())
        for k in knobs:
            model, kin = models[k - 1], profile.entry(k)
            knob_maps.append((model.matrix(kin), model.kick(kin)))
            knob_apertures.append(aperture_rows([model], batch).rows(1))
            length_mm += model.length_m * 1e3 - base.lengths_mm[k, 0]
        sigma, centroid, transmission, sigma_at, centroid_at = track_knobs(
            stretches, knob_maps, knob_apertures, sigma0, centroid0
        )
        sigma = np.broadcast_to(sigma, (batch, 6, 6))
        centroid = np.broadcast_to(centroid, (batch, 6))
        kin = Kinematics(profile.energy[-1:], beam.species)
        final = core_columns(centroid, sigma, kin, beam.freq)
        final["z(m)"] = np.broadcast_to(np.asarray(length_mm, dtype=float) * 1e-3, (batch,))
        observed = {}
        if exits:
            at = np.array(exits, dtype=np.intp)
            shape = (len(exits), batch)
            kin_at = Kinematics(profile.energy[at][:, None], beam.species)
            observed["##"] = np.broadcast_to(at[:, None].astype(float), shape)
            for name, col in core_columns(centroid_at, sigma_at, kin_at, beam.freq).items():
                observed[name] = np.broadcast_to(col, shape)
        return BatchResult(
            settings, final, np.broadcast_to(transmission, (batch,)), energy, table, observed
        )

    def _row_beams(self, beam_keys: Mapping[str, Any], batch: int) -> tuple[list[Beam], int]:
        """The input beam of every row ([one beam] when every beam key is a scalar) and
        the batch length, which 1-D beam-key arrays may set when no override is batched.

        Raises:
            InvalidParameterError: a beam-key array of another length, naming the key.
        """
        scalar, arrays = {}, {}
        for key, value in beam_keys.items():
            if np.ndim(value) == 0:
                scalar[key] = value
                continue
            values = list(np.asarray(value).ravel()) if np.ndim(value) == 1 else None
            if values is None or batch not in (1, len(values)):
                raise InvalidParameterError(
                    key,
                    f"a beam key takes one value or a 1-D array of one per setting "
                    f"({batch}), got shape {np.shape(value)}",
                )
            batch = len(values)
            arrays[key] = values
        beam = self.beam_for(scalar)
        if not arrays:
            return [beam], batch
        rows = [beam.with_tracewin_keys({k: v[b] for k, v in arrays.items()}) for b in range(batch)]
        return rows, batch

    def _run_batch_groups(
        self,
        params: Mapping[str, Any],
        batch: int,
        groups: list[list[int]],
        exits: tuple[int, ...],
    ) -> BatchResult:
        """A batch whose rows have different reference particles: each group of rows
        with one reference run as its own batch, the results put back in row order."""
        parts = []
        for rows in groups:
            idx = np.array(rows)
            sub = {
                k: v if np.ndim(v) == 0 else np.broadcast_to(np.asarray(v), (batch,))[idx]
                for k, v in params.items()
            }
            parts.append((idx, self.run_batch(sub, exits=exits)))

        def gather(arrays: list[np.ndarray]) -> np.ndarray:
            first = np.asarray(arrays[0])
            out = np.empty(first.shape[:-1] + (batch,), dtype=first.dtype)
            for (idx, _), arr in zip(parts, arrays):
                out[..., idx] = np.broadcast_to(arr, first.shape[:-1] + (len(idx),))
            return out

        def table() -> tuple[dict[str, np.ndarray], np.ndarray]:
            tables = [part.compute_table() for _, part in parts]
            cols = {name: gather([t[0][name] for t in tables]) for name in tables[0][0]}
            return cols, gather([t[1] for t in tables])

        results = [part for _, part in parts]
        return BatchResult(
            {k: gather([r.settings[k] for r in results]) for k in results[0].settings},
            {k: gather([r.final[k] for r in results]) for k in results[0].final},
            gather([r.final_transmission for r in results]),
            gather([r.energy for r in results]),
            table,
            {  # the columns every group gives (a tabled group gives them all)
                k: gather([r.exits[k] for r in results])
                for k in results[0].exits
                if all(k in r.exits for r in results)
            },
        )

    def _stretches(
        self, beam: Beam, base: BaseMaps, knobs: tuple[int, ...], exits: tuple[int, ...]
    ) -> Stretches:
        """The base maps multiplied between ``knobs`` and ``exits``, cached per
        reference, knobs and exits."""
        key = (beam.energy, beam.mass, beam.charge, knobs, exits)
        stretches = self._stretch_cache.get(key)
        if stretches is None or stretches.base is not base:
            if len(self._stretch_cache) >= 16:
                self._stretch_cache.clear()
            stretches = self._stretch_cache[key] = Stretches(base, knobs, exits)
        return stretches

    def _run_batch_space_charge(
        self,
        beam: Beam,
        batch: int,
        settings: dict,
        sigma0: np.ndarray,
        centroid0: np.ndarray,
        exits: tuple[int, ...],
    ) -> BatchResult:
        """Setting after setting (space charge depends on each one's own envelope);
        ``sigma0`` (6, 6) or (B, 6, 6), ``centroid0`` (6,) or (B, 6): the input beams."""
        sigmas = np.broadcast_to(sigma0, (batch, 6, 6))
        centroids = np.broadcast_to(centroid0, (batch, 6))
        columns, transmission, energy = [], [], []
        for b in range(batch):
            one = {k: float(v[b]) for k, v in settings.items()}
            models, _, fresh = self.compiled.with_overrides(one)
            profile, _ = self._profile(models, beam, fresh, 1)
            env = track_envelope_space_charge(
                models,
                profile,
                sigmas[b],
                centroids[b],
                beam.n_particles,
                beam.current,
                beam.freq,
            )
            columns.append(track_columns(env, env, profile.rows(), beam.freq))
            transmission.append(env.transmission)
            energy.append(float(profile.energy[-1]))
        cols = {name: np.concatenate([c[name] for c in columns], axis=1) for name in columns[0]}
        return BatchResult.from_table(
            settings, cols, np.concatenate(transmission, axis=1), np.array(energy), exits
        )


def _reference(beam: Beam) -> tuple:
    """What a batch's rows must share to share the lattice's maps: the reference particle,
    the bunch frequency and the current (space charge)."""
    return (beam.energy, beam.mass, beam.charge, beam.freq, beam.current, beam.n_particles)
