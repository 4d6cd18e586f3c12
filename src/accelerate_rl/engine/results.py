"""An engine run's results: one run (:class:`EngineResult`), a batch of settings
(:class:`BatchResult`), and how both are built from tracked moments.

Units: positions mm, angles mrad, emittances mm.mrad (TraceWin's ``tracewin.out``),
energies MeV, lengths m; transmission 0..1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..tracewin.dst import Distribution
from ..tracewin.matrices import TransferMatrices
from ..tracewin.out import OUT_COLUMNS, SUMMARY_COLUMNS
from .beam import Beam
from .envelope import Track
from .profile import EnergyProfile
from .reference import CavitySetPoint
from .table import columns, core_columns

if TYPE_CHECKING:  # pandas is imported where a table is made (arl-tracewin's start-up cost)
    import pandas as pd

#: Envelope-mode transmission below which the beam counts as lost.
LOST_THRESHOLD = 1e-6


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
            import pandas as pd

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

    The final row and transmission are computed with the batch; the per-element table
    (:attr:`columns`, :attr:`transmission` per row) on first access, when the fast path
    of a few knobs (:mod:`.batch`) skipped it.

    Attributes:
        settings: the override arrays, each (B,).
        final: the last row's columns (:data:`SUMMARY_COLUMNS` and more, ``z(m)``), each (B,).
        final_transmission: (B,) the estimated transmission at the end (the minimum along
            the line).
        energy: (B,) the reference particle's final kinetic energy [MeV].
        compute_table: returns the per-element columns and transmission, each (rows, B).
        exits: the columns (E, B) at the exits of the elements ``run_batch(exits=...)``
            asked for, in that order (``##`` their numbers): without the table on the
            fast path, where they are the :func:`.table.core_columns` only.
    """

    settings: dict[str, np.ndarray]
    final: dict[str, np.ndarray]
    final_transmission: np.ndarray
    energy: np.ndarray
    compute_table: Callable[[], tuple[dict[str, np.ndarray], np.ndarray]] = field(repr=False)
    exits: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _full: tuple[dict[str, np.ndarray], np.ndarray] | None = field(
        default=None, init=False, repr=False
    )

    @classmethod
    def from_table(
        cls,
        settings: dict[str, np.ndarray],
        columns: dict[str, np.ndarray],
        transmission: np.ndarray,
        energy: np.ndarray,
        exits: tuple[int, ...] = (),
    ) -> BatchResult:
        """A batch whose per-element columns (rows, B) are already computed (row n:
        element n's exit); ``exits``: the elements whose rows :attr:`exits` holds."""
        final = {name: col[-1] for name, col in columns.items()}
        at = list(exits)
        observed = {name: col[at] for name, col in columns.items()} if at else {}
        return cls(
            settings, final, transmission[-1], energy, lambda: (columns, transmission), observed
        )

    def _computed(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        if self._full is None:
            self._full = self.compute_table()
        return self._full

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """``tracewin.out`` columns, each (rows, B)."""
        return self._computed()[0]

    @property
    def transmission(self) -> np.ndarray:
        """(rows, B) estimated transmission, the running minimum along the line."""
        return self._computed()[1]

    @property
    def size(self) -> int:
        return len(self.final_transmission)

    def at(self, name: str, element: int = -1) -> np.ndarray:
        """(B,) values of column ``name`` at element ``element`` (default: the end)."""
        if element == -1 and name in self.final:
            return self.final[name]
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
        return self.final_transmission <= LOST_THRESHOLD

    def summary_of(self, b: int) -> dict[str, float]:
        """Setting b's :attr:`EngineResult.summary` (for a setting that keeps its beam:
        a lost one's summary is that of the row before the loss, which run() reports)."""
        out = {name: float(self.final[name][b]) for name in SUMMARY_COLUMNS}
        out["transmission"] = float(self.final_transmission[b])
        out["energy"] = float(self.energy[b])
        out["length"] = float(self.final["z(m)"][b])
        out["lost_at"] = 0.0
        return out

    def summary(self) -> pd.DataFrame:
        """One row per setting: the settings, final-row values and transmission."""
        data: dict[str, Any] = {
            k: np.broadcast_to(v, (self.size,)) for k, v in self.settings.items()
        }
        for name in SUMMARY_COLUMNS:
            data[name] = self.final[name]
        data["transmission"] = self.final_transmission
        import pandas as pd

        return pd.DataFrame(data)


def track_columns(track: Track, env: Track, kin, freq: float) -> dict[str, np.ndarray]:
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


def summarise(track: Track, profile: EnergyProfile, beam: Beam, mode: str) -> dict:
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
