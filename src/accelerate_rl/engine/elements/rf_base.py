"""What RF elements share: the lattice context CompiledLattice binds (FIELD_MAP_PATH
folder, RF frequency, SET_SYNC_PHASE) and the reference energy from their crossing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..species import Kinematics
from .base import ElementModel


class RFElement(ElementModel):
    """Base of the elements that change the reference energy (``crossing(kin, time)``)."""

    accelerating = True
    #: Set by CompiledLattice: the FIELD_MAP_PATH folder, the section's RF frequency
    #: [MHz] and whether SET_SYNC_PHASE is in force.
    folder: Path = Path(".")
    freq: float = 0.0
    sync_phase: bool = False

    def bind(self, folder: Path, freq: float, sync_phase: bool) -> None:
        """Attach the lattice context (called by CompiledLattice)."""
        self.folder, self.freq, self.sync_phase = Path(folder), float(freq), sync_phase

    def crossing(self, kin: Kinematics, time: float | None = None):
        raise NotImplementedError

    def exit_energy(self, kin: Kinematics) -> float:
        return self.crossing(kin).w_out

    def ttf_notes(self, betas: int) -> list[str]:
        """The note for a transit-time-factor expansion this engine does not model."""
        if np.any(self.p(betas)):
            return [
                f"{self.source.describe()}: the transit-time factor's velocity dependence "
                "(betas, T, kT, ...) is not modelled: E0TL is the crest energy gain"
            ]
        return []
