"""What RF elements share: the lattice context CompiledLattice binds (FIELD_MAP_PATH
folder, RF frequency, SET_SYNC_PHASE) and the reference energy from their crossing."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from ..rf import Crossing
from ..species import Kinematics
from .base import ElementModel


class RFElement(ElementModel):
    """Base of the elements that change the reference energy.

    Subclasses implement ``_cross(kin, time)`` and name their phase-mode parameter
    (``MODE_PARAM``: 0 relative, 1 absolute); ``crossing`` caches the result.
    """

    accelerating = True
    #: Whether it is an RF cavity (a line of ``Cav_set_point_res.dat``).
    cavity: ClassVar[bool] = True
    MODE_PARAM: ClassVar[int] = 0
    #: Set by CompiledLattice: the FIELD_MAP_PATH folder, the section's RF frequency
    #: [MHz] and whether SET_SYNC_PHASE is in force.
    folder: Path = Path(".")
    freq: float = 0.0
    sync_phase: bool = False

    def __init__(self, source, params) -> None:
        super().__init__(source, params)
        self._crossings: dict[tuple, Crossing] = {}
        self._latest: dict[float, Crossing] = {}

    def bind(self, folder: Path, freq: float, sync_phase: bool) -> None:
        """Attach the lattice context (called by CompiledLattice)."""
        self.folder, self.freq, self.sync_phase = Path(folder), float(freq), sync_phase
        self._crossings.clear()
        self._latest.clear()

    @property
    def absolute(self) -> bool:
        """p = 1: phi is the RF phase at t = 0, the phase seen is phi + omega t."""
        return bool(self.p(self.MODE_PARAM)[0] == 1)

    @property
    def omega(self) -> float:
        """RF angular frequency [rad/s]."""
        return 2 * np.pi * self.freq * 1e6

    def crossing(self, kin: Kinematics, time: float | None = None) -> Crossing:
        """The synchronous particle through the element from entry energy ``kin`` and,
        for an absolute phase, entry time ``time`` [s] from the start of the line (batch
        entry 0; cached). Without ``time``, the last crossing at that energy."""
        if self.batch != 1:
            raise self.unsupported("a batch of settings of an RF element")
        w_in = float(np.asarray(kin.energy).reshape(-1)[0])
        if time is None:
            hit = self._latest.get(w_in)
            if hit is not None:
                return hit
            if self.absolute:
                raise RuntimeError(f"{self.source.describe()}: an absolute phase needs a time")
        key = (w_in, time if self.absolute else None)
        hit = self._crossings.get(key)
        if hit is None:
            try:
                hit = self._cross(kin, time)
            except ValueError as exc:  # the physics' plain errors: name the element once
                where = self.source.describe()
                if type(exc) is not ValueError or str(exc).startswith(where):
                    raise
                raise ValueError(f"{where}: {exc}") from None
            if len(self._crossings) > 16:
                self._crossings.clear()
            self._crossings[key] = hit
        self._latest[w_in] = hit
        return hit

    def _cross(self, kin: Kinematics, time: float | None) -> Crossing:
        raise NotImplementedError

    def exit_energy(self, kin: Kinematics) -> float:
        return self.crossing(kin).w_out
