"""The synchronous particle along a whole line: energy and time of flight at every element
exit and the RF cavities' set points (TraceWin's ``Cav_set_point_res.dat``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..tracewin.dat import Lattice
from .elements import ElementModel
from .model import CompiledLattice
from .profile import EnergyProfile, energy_profile
from .species import Kinematics


@dataclass(frozen=True)
class CavitySetPoint:
    """One RF field map as the synchronous particle crossed it.

    Attributes:
        number: element number (TraceWin's Cav#). phi_s: synchronous phase [deg].
        voltage: |int Ez exp(i phi) dz| [MV]. w_in, w_out: kinetic energy [MeV].
        phi_in: RF phase at the entry [deg]. freq: RF frequency [MHz].
    """

    number: int
    phi_s: float
    voltage: float
    w_in: float
    w_out: float
    phi_in: float
    freq: float


@dataclass
class ReferenceTrack:
    """The synchronous particle along the line.

    Attributes:
        numbers: element numbers 1..n. energy: (n + 1,) kinetic energy [MeV] at the input
        (index 0) and at every element exit. time: (n + 1,) time of flight [s] from the
        input. cavities: the RF field maps crossed, in order.
    """

    numbers: np.ndarray
    energy: np.ndarray
    time: np.ndarray
    cavities: list[CavitySetPoint] = field(default_factory=list)

    def abs_phase(self, freq_mhz: float) -> np.ndarray:
        """(n + 1,) phase of the synchronous particle [deg] at ``freq_mhz`` (TraceWin's
        Abs_Phase)."""
        return np.rad2deg(2 * np.pi * freq_mhz * 1e6 * self.time)


def reference_track(lattice: Lattice, kin: Kinematics, bunch_freq: float) -> ReferenceTrack:
    """Track the synchronous particle (input energy ``kin``) through ``lattice``.

    ``FREQ`` sets the RF frequency of what follows (default: ``bunch_freq`` [MHz]);
    ``FIELD_MAP_PATH`` is relative to the lattice file's folder.

    Raises:
        UnsupportedElementError: an element the engine does not model.
        TraceWinFormatError: a field map that cannot be found or read (naming the file).
    """
    compiled = CompiledLattice(lattice, rf_freq=bunch_freq)
    profile = energy_profile(compiled.models, kin)
    return ReferenceTrack(
        np.arange(1, len(compiled.models) + 1),
        profile.energy,
        profile.time,
        set_points(profile, compiled.models),
    )


def set_points(profile: EnergyProfile, models: list[ElementModel]) -> list[CavitySetPoint]:
    """The cavities of an energy profile (:mod:`.profile`) of ``models``, in order."""
    cavities = []
    for n, crossing in profile.crossings.items():
        if not getattr(models[n - 1], "cavity", True):
            continue
        cavities.append(
            CavitySetPoint(
                n,
                float(np.rad2deg(np.angle(crossing.voltage))),
                float(abs(crossing.voltage)),
                float(profile.energy[n - 1]),
                float(crossing.w_out),
                float(np.rad2deg(crossing.phi_in)),
                models[n - 1].freq,
            )
        )
    return cavities
