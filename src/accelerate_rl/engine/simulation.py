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
``xp1 yp1`` [mrad], ``nbr_part1``) and run keys (``partran`` 0/1, ``random_seed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..tracewin.dat import Lattice, parse_ele_key, read_dat
from ..tracewin.dst import Distribution
from ..tracewin.errors import InvalidParameterError
from ..tracewin.matrices import TransferMatrices
from ..tracewin.out import OUT_COLUMNS
from ..tracewin.plt import PltRecord, PltWriter
from .beam import TRACEWIN_BEAM_KEYS, Beam
from .envelope import Track, track_envelope
from .model import CompiledLattice
from .particles import ParticleState, from_distribution, generate, to_distribution, track_particles
from .table import columns

#: Run keys the engine understands (others of TraceWin's are accepted and ignored).
RUN_KEYS = {"partran", "random_seed"}
#: TraceWin keys with no meaning for this engine: accepted, recorded, no effect.
IGNORED_KEYS = {"nbr_thread", "hide", "cancel_matching", "cancel_matchingp", "synoptic_file"}
#: Envelope-mode transmission below which the beam counts as lost.
LOST_THRESHOLD = 1e-6

SUMMARY_COLUMNS = ("x0", "y0", "x'0", "y'0", "SizeX", "SizeY", "SizeP", "ex", "ey", "ep")


@dataclass
class EngineResult:
    """One run's outputs.

    Attributes:
        mode: "envelope" or "multiparticle".
        table: ``tracewin.out``/``partran1.out`` columns, row 0 the input beam.
        summary: final-row values (mm, mrad, mm.mrad), ``transmission`` [0..1],
            ``energy`` [MeV], ``length`` [m], ``lost_at`` (element, 0 if none).
        transfer_matrices: cumulative maps to every element's exit.
        beam: the input beam actually used. seed: the random seed (multiparticle).
        final: the output distribution (multiparticle), else None.
        notes: commands accepted with no effect, ignored keys.
    """

    mode: str
    table: pd.DataFrame
    summary: dict[str, float]
    transfer_matrices: TransferMatrices
    beam: Beam
    seed: int | None = None
    final: Distribution | None = None
    initial: Distribution | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def beam_lost(self) -> bool:
        return self.summary["transmission"] <= (0.0 if self.mode == "multiparticle" else LOST_THRESHOLD)

    @property
    def lost_at(self) -> int:
        return int(self.summary["lost_at"])


@dataclass
class BatchResult:
    """B settings evaluated in one call (envelope mode).

    Attributes:
        settings: the override arrays, each (B,).
        columns: ``tracewin.out`` columns, each (rows, B).
        transmission: (rows, B) estimated transmission.
    """

    settings: dict[str, np.ndarray]
    columns: dict[str, np.ndarray]
    transmission: np.ndarray

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

    def summary(self) -> pd.DataFrame:
        """One row per setting: the settings, final-row values and transmission."""
        data: dict[str, Any] = {k: np.broadcast_to(v, (self.size,)) for k, v in self.settings.items()}
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
        low = key.lower()
        if parse_ele_key(key) is not None:
            ele[key] = value
        elif low in TRACEWIN_BEAM_KEYS:
            beam[low] = value
        elif low in RUN_KEYS:
            run[low] = value
        elif low in IGNORED_KEYS:
            ignored.append(key)
        else:
            raise InvalidParameterError(
                key,
                "unknown key: expected ele[n][v], a beam key ("
                + ", ".join(sorted(TRACEWIN_BEAM_KEYS))
                + ") or a run key (partran, random_seed)",
            )
    return ele, beam, run, ignored


class Engine:
    """A lattice compiled once, run many times with different settings.

    Args:
        lattice: a :class:`Lattice` or the path of a `.dat` file.
        beam: the input beam.
    """

    def __init__(self, lattice: Lattice | str | Path, beam: Beam) -> None:
        self.lattice = lattice if isinstance(lattice, Lattice) else read_dat(lattice)
        self.beam = beam
        self.compiled = CompiledLattice(self.lattice)
        self._cache: dict[tuple, dict[int, tuple[np.ndarray, np.ndarray | None]]] = {}

    # -- helpers ---------------------------------------------------------------------
    def _beam_for(self, beam_keys: Mapping[str, Any]) -> Beam:
        try:
            return self.beam.with_tracewin_keys(dict(beam_keys))
        except ValueError as exc:
            key = next(iter(beam_keys), "beam")
            raise InvalidParameterError(key, str(exc)) from None

    def _map_cache(self, beam: Beam) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
        key = (beam.energy, beam.mass, beam.charge)
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = {}
        return self._cache[key]

    # -- runs ------------------------------------------------------------------------
    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        mode: str | None = None,
        seed: int | None = None,
        distribution: Distribution | None = None,
        plt_path: str | Path | None = None,
    ) -> EngineResult:
        """Run once.

        Args:
            params: overrides, beam keys and run keys (see the module docstring).
            mode: "envelope" (default) or "multiparticle"; ``partran=1`` in params also
                selects multiparticle.
            seed: random seed of the input distribution (``random_seed`` in params too).
            distribution: an input ``.dst`` distribution instead of a generated one.
            plt_path: write the particles at every element to this ``.plt`` file.

        Raises:
            InvalidParameterError: a bad key or value, naming the key.
        """
        ele, beam_keys, run_keys, ignored = split_params(params or {})
        if "partran" in run_keys:
            partran = str(run_keys["partran"]).strip()
            if partran not in ("0", "1"):
                raise InvalidParameterError("partran", f"must be 0 or 1, got {partran!r}")
            mode = mode or ("multiparticle" if partran == "1" else "envelope")
        mode = mode or "envelope"
        if mode not in ("envelope", "multiparticle"):
            raise ValueError(f"mode must be 'envelope' or 'multiparticle', got {mode!r}")
        if "random_seed" in run_keys:
            try:
                seed = int(float(run_keys["random_seed"]))
            except ValueError:
                raise InvalidParameterError("random_seed", "must be an integer") from None
        beam = self._beam_for(beam_keys)
        models, batch, fresh = self.compiled.with_overrides(ele)
        if batch != 1:
            raise InvalidParameterError(
                next(iter(ele)), "arrays of values belong to run_batch(), not run()"
            )
        notes = list(self.compiled.notes) + [f"key {k} has no effect in the embedded engine" for k in ignored]
        kin = beam.kinematics
        env = track_envelope(
            models, kin, beam.sigma(), beam.centroid(), 1, beam.n_particles,
            self._map_cache(beam), fresh,
        )
        tm = TransferMatrices(
            np.arange(1, len(models) + 1), env.z[1:, 0], env.cumulative[1:, 0]
        )
        if mode == "envelope":
            track = env
            final = initial = None
        else:
            if seed is None:
                seed = int(np.random.default_rng().integers(0, 2**31 - 1))
            track, initial, final = self._multiparticle(
                models, beam, env, seed, distribution, plt_path
            )
            beam = replace(beam, n_particles=initial.n_particles)
        cols = columns(
            numbers=track.numbers,
            z=track.z,
            centroid=track.centroid,
            sigma=track.sigma,
            kin=kin,
            freq=beam.freq,
            npart=track.npart,
            aperture=track.aperture,
            cumulative=env.cumulative,
            element_maps=env.element_maps,
            lengths_mm=env.lengths_mm,
            xmax=track.xmax,
            ymax=track.ymax,
            powlost=track.powlost,
        )
        table = pd.DataFrame({name: cols[name][:, 0] for name in OUT_COLUMNS if name in cols})
        for name in OUT_COLUMNS:
            if name not in table:
                table[name] = 0.0
        table = table[list(OUT_COLUMNS)]
        table["##"] = table["##"].astype(np.int64)
        table["npart"] = table["npart"].round().astype(np.int64)
        table.attrs.update(mc2=beam.mass, freq=beam.freq, Z=beam.charge, I=beam.current,
                           npart=beam.n_particles)
        summary = self._summary(table, track.transmission[:, 0], beam, mode)
        return EngineResult(mode, table, summary, tm, beam, seed, final, initial, notes)

    def _summary(self, table: pd.DataFrame, trans: np.ndarray, beam: Beam, mode: str) -> dict:
        threshold = 0.0 if mode == "multiparticle" else LOST_THRESHOLD
        lost = np.flatnonzero(trans <= threshold)
        lost_at = int(table["##"].iloc[lost[0]]) if len(lost) else 0
        row = table.iloc[lost[0] - 1] if len(lost) else table.iloc[-1]
        out = {name: float(row[name]) for name in SUMMARY_COLUMNS}
        out["transmission"] = float(trans[-1])
        out["energy"] = float(beam.energy)
        out["length"] = float(table["z(m)"].iloc[-1])
        out["lost_at"] = float(lost_at)
        return out

    def _multiparticle(
        self,
        models: list,
        beam: Beam,
        env: Track,
        seed: int,
        distribution: Distribution | None,
        plt_path: str | Path | None,
    ) -> tuple[Track, Distribution, Distribution]:
        kin = beam.kinematics
        if distribution is not None:
            coords = from_distribution(distribution, beam)
            beam = replace(beam, n_particles=coords.shape[1])
        else:
            coords = generate(beam, seed)
        n0 = coords.shape[1]
        rows = len(models) + 1
        cen = np.zeros((rows, 1, 6))
        sig = np.zeros((rows, 1, 6, 6))
        npart = np.zeros((rows, 1))
        xmax = np.zeros((rows, 1))
        ymax = np.zeros((rows, 1))
        powlost = np.zeros((rows, 1))
        beam_power_w = beam.current * 1e-3 * beam.energy * 1e6 / abs(beam.charge)
        writer = None
        if plt_path is not None:
            writer = PltWriter(plt_path, n_elements=len(models), n_particles=n0,
                               current=beam.current, freq=beam.freq, mass=beam.mass)
        prev_alive = [n0]

        def record(n: int, state: ParticleState) -> None:
            alive = state.alive
            x = state.coords[:, alive]
            count = x.shape[1]
            npart[n, 0] = count
            powlost[n, 0] = (prev_alive[0] - count) / n0 * beam_power_w
            prev_alive[0] = count
            if count:
                cen[n, 0] = x.mean(axis=1)
                d = x - cen[n, 0][:, None]
                sig[n, 0] = d @ d.T / count
                xmax[n, 0] = np.abs(x[0]).max() * 1e3
                ymax[n, 0] = np.abs(x[2]).max() * 1e3
            if writer is not None:
                dist = to_distribution(state.coords, beam)
                writer.add(PltRecord(n, float(env.z[n, 0]), 0.0, beam.energy, dist.raw,
                                     state.lost_at.copy()))

        try:
            initial = to_distribution(coords, beam)
            state = track_particles(models, kin, coords, record)
        finally:
            if writer is not None:
                writer.close()
        final = to_distribution(state.coords[:, state.alive], beam)
        track = Track(
            numbers=env.numbers,
            z=env.z,
            centroid=cen,
            sigma=sig,
            cumulative=env.cumulative,
            element_maps=env.element_maps,
            lengths_mm=env.lengths_mm,
            aperture=env.aperture,
            transmission=npart / n0,
            npart=npart,
            xmax=xmax,
            ymax=ymax,
            powlost=powlost,
        )
        return track, initial, final

    def run_batch(self, params: Mapping[str, Any]) -> BatchResult:
        """Evaluate B settings in one envelope call.

        ``params`` maps ``ele[n][v]`` keys to 1-D arrays of one common length B (scalars
        broadcast). Beam keys apply to the whole batch.

        Raises:
            InvalidParameterError: a bad key, value or batch length.
        """
        ele, beam_keys, run_keys, _ = split_params(params)
        if run_keys.get("partran", "0") not in ("0", 0):
            raise InvalidParameterError("partran", "run_batch() is envelope mode only")
        beam = self._beam_for(beam_keys)
        models, batch, fresh = self.compiled.with_overrides(ele)
        kin = beam.kinematics
        env = track_envelope(
            models, kin, beam.sigma(), beam.centroid(), batch, beam.n_particles,
            self._map_cache(beam), fresh,
        )
        cols = columns(
            numbers=env.numbers, z=env.z, centroid=env.centroid, sigma=env.sigma, kin=kin,
            freq=beam.freq, npart=env.npart, aperture=env.aperture, cumulative=env.cumulative,
            element_maps=env.element_maps, lengths_mm=env.lengths_mm,
        )
        settings = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in ele.items()}
        return BatchResult(settings, cols, env.transmission)
