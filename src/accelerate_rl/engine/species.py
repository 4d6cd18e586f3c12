"""Particle species and relativistic kinematics, exact at every energy.

No non-relativistic or ultra-relativistic shortcut: gamma - 1 = W / mc2 is formed
directly, and beta*gamma = sqrt((gamma - 1)(gamma + 1)), so a 10 keV/u ion and a 2 GeV
proton are both computed to full precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Speed of light [m/s].
C_LIGHT = 299_792_458.0
#: Proton rest energy [MeV] (CODATA 2018).
PROTON_MASS = 938.27208816
#: Electron rest energy [MeV].
ELECTRON_MASS = 0.51099895000
#: Atomic mass unit [MeV].
AMU = 931.49410242


@dataclass(frozen=True)
class Species:
    """A particle species.

    Attributes:
        mass: rest energy mc2 [MeV].
        charge: charge state in units of e, signed (1 for protons, -1 for H-, 5 for 16O5+).
        name: a label for outputs.
    """

    mass: float
    charge: float
    name: str = ""

    def __post_init__(self) -> None:
        if not (self.mass > 0 and np.isfinite(self.mass)):
            raise ValueError(f"rest energy must be > 0 MeV, got {self.mass!r}")
        if self.charge == 0 or not np.isfinite(self.charge):
            raise ValueError(f"charge state must be non-zero, got {self.charge!r}")

    @classmethod
    def proton(cls) -> Species:
        return cls(PROTON_MASS, 1.0, "p")

    @classmethod
    def h_minus(cls) -> Species:
        """H- (a proton and two electrons, binding energy 14.35 eV neglected at 1e-8)."""
        return cls(PROTON_MASS + 2 * ELECTRON_MASS, -1.0, "H-")

    @classmethod
    def ion(cls, mass_u: float, charge: int, name: str = "") -> Species:
        """An ion of atomic mass ``mass_u`` [u] (neutral atom) stripped to ``charge``+."""
        return cls(mass_u * AMU - charge * ELECTRON_MASS, float(charge), name)


@dataclass(frozen=True)
class Kinematics:
    """Relativistic quantities of a reference particle (scalars or arrays).

    Attributes:
        energy: kinetic energy W [MeV].
        species: the particle species.
    """

    energy: np.ndarray | float
    species: Species

    @cached_property
    def gamma_minus_1(self) -> np.ndarray:
        return np.asarray(self.energy, dtype=float) / self.species.mass

    @cached_property
    def gamma(self) -> np.ndarray:
        return 1.0 + self.gamma_minus_1

    @cached_property
    def beta_gamma(self) -> np.ndarray:
        g1 = self.gamma_minus_1
        return np.sqrt(g1 * (g1 + 2.0))

    @cached_property
    def beta(self) -> np.ndarray:
        return self.beta_gamma / self.gamma

    @cached_property
    def momentum(self) -> np.ndarray:
        """Momentum p c [MeV]."""
        return self.beta_gamma * self.species.mass

    @cached_property
    def brho(self) -> np.ndarray:
        """Magnetic rigidity p / (q e) [T.m], signed with the charge."""
        return self.momentum * 1e6 / (C_LIGHT * self.species.charge)

    @cached_property
    def erho(self) -> np.ndarray:
        """Electric rigidity p v / (q e) [V], signed with the charge."""
        return self.beta * self.momentum * 1e6 / self.species.charge


def relativistic(energy, mass: float):
    """(beta, gamma, beta*gamma) of kinetic energy ``energy`` [MeV] (a number or an array)
    for rest energy ``mass`` [MeV], formed as :class:`Kinematics` forms them (exact at
    every energy); for the inner loops of integrators, where building a Kinematics per
    step would cost more than the arithmetic."""
    g1 = energy / mass
    beta_gamma = np.sqrt(g1 * (g1 + 2.0))
    gamma = 1.0 + g1
    return beta_gamma / gamma, gamma, beta_gamma


def check_energy(energy: float, what: str = "energy") -> float:
    """Validate a kinetic energy [MeV]; ValueError saying what to change otherwise."""
    if not np.isfinite(energy) or energy <= 0:
        raise ValueError(f"{what} must be a kinetic energy > 0 MeV, got {energy!r}")
    return float(energy)
