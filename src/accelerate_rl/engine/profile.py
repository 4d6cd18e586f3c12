"""The reference particle's energy and time of flight along a compiled lattice.

Only RF elements (``accelerating`` models) change the energy; every element's map is
computed at its entry energy, and output columns at their row's energy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .elements import ElementModel
from .rf import Crossing
from .species import C_LIGHT, Kinematics


@dataclass
class EnergyProfile:
    """Kinetic energy [MeV] and time of flight [s] at the input (row 0) and after every
    element (row n); ``crossings`` holds each RF element's synchronous-particle record."""

    kinematics: list[Kinematics]
    energy: np.ndarray
    time: np.ndarray
    crossings: dict[int, Crossing] = field(default_factory=dict)

    def entry(self, n: int) -> Kinematics:
        """Kinematics at the entry of element ``n`` (1-based)."""
        return self.kinematics[n - 1]

    def rows(self) -> Kinematics:
        """Kinematics with energy (rows, 1): for (rows, B) output columns."""
        return Kinematics(self.energy[:, None], self.kinematics[0].species)


def energy_profile(models: list[ElementModel], kin: Kinematics) -> EnergyProfile:
    """Walk ``models`` from input kinematics ``kin`` (batch entry 0 of each model)."""
    n = len(models)
    energy = np.empty(n + 1)
    time = np.empty(n + 1)
    w = float(np.asarray(kin.energy).reshape(-1)[0])
    t = 0.0
    energy[0], time[0] = w, 0.0
    kins = [kin if np.ndim(kin.energy) == 0 else Kinematics(w, kin.species)]
    crossings: dict[int, Crossing] = {}
    for i, model in enumerate(models, start=1):
        current = kins[-1]
        if model.accelerating:
            crossing = model.crossing(current, t)
            crossings[i] = crossing
            t += crossing.phase_advance / (2 * np.pi * model.freq * 1e6)
            w = crossing.w_out
            kins.append(Kinematics(w, kin.species))
        else:
            length = float(np.asarray(model.length_m).reshape(-1)[0])
            t += length / (float(current.beta) * C_LIGHT)
            kins.append(current)
        energy[i], time[i] = w, t
    return EnergyProfile(kins, energy, time, crossings)
