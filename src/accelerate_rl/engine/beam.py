"""The input beam: energy, species, emittances, Twiss parameters, centroid, particles.

Internal phase-space coordinates (those of TraceWin's ``Transfer_matrix1.dat``):
x [m], x' [rad], y [m], y' [rad], z [m] (positive ahead of the reference particle),
delta = dp/p [1].

TraceWin's longitudinal Twiss parameters are given in (z, z') with z' = delta / gamma^2,
and the normalised longitudinal emittance ``eln`` [mm.mrad] is beta*gamma^3 times the
(z, z') emittance; both checked against the real spoke-cavity run (SizeP, spW, ep).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from typing import Any

import numpy as np

from ..tracewin.errors import InvalidParameterError
from ..tracewin.ini import IniBeam
from ..tracewin.keys import key_value
from .species import C_LIGHT, Kinematics, Species

#: TraceWin command-line beam keys (main beam, suffix 1) -> Beam field and unit factor.
TRACEWIN_BEAM_KEYS: dict[str, tuple[str, float]] = {
    "energy1": ("energy", 1.0),
    "mass1": ("mass", 1e-6),  # eV -> MeV
    "charge1": ("charge", 1.0),
    "current1": ("current", 1.0),
    "freq1": ("freq", 1.0),
    "etnx1": ("etnx", 1.0),
    "etny1": ("etny", 1.0),
    "eln1": ("eln", 1.0),
    "alpx1": ("alpx", 1.0),
    "betx1": ("betx", 1.0),
    "alpy1": ("alpy", 1.0),
    "bety1": ("bety", 1.0),
    "alpz1": ("alpz", 1.0),
    "betz1": ("betz", 1.0),
    "x1": ("x", 1.0),
    "y1": ("y", 1.0),
    "xp1": ("xp", 1.0),
    "yp1": ("yp", 1.0),
    "z1": ("z", 1.0),
    "zp1": ("zp", 1.0),
    "dw1": ("dw", 1.0),
    "nbr_part1": ("n_particles", 1.0),
}

DISTRIBUTIONS = ("gaussian", "waterbag", "kv")


@dataclass(frozen=True)
class Beam:
    """An input beam in TraceWin's units.

    Attributes:
        energy: kinetic energy [MeV].
        mass: rest energy [MeV].
        charge: charge state (signed, units of e).
        current: beam current [mA].
        freq: bunch frequency [MHz].
        etnx, etny: normalised rms emittances [mm.mrad].
        eln: normalised rms longitudinal emittance [mm.mrad] (TraceWin ``eln1``).
        alpx, betx, alpy, bety: transverse Twiss alpha [1], beta [mm/mrad].
        alpz, betz: longitudinal Twiss in (z, z' = delta / gamma^2), beta [mm/mrad].
        x, y [mm], xp, yp [mrad], z [mm], zp [mrad], dw [MeV]: centroid offsets.
        n_particles: macroparticles in multiparticle mode.
        distribution: "gaussian", "waterbag" or "kv" (multiparticle input).
    """

    energy: float
    mass: float = 938.27208816
    charge: float = 1.0
    current: float = 0.0
    freq: float = 352.2
    etnx: float = 0.2
    etny: float = 0.2
    eln: float = 0.3
    alpx: float = 0.0
    betx: float = 1.0
    alpy: float = 0.0
    bety: float = 1.0
    alpz: float = 0.0
    betz: float = 1.0
    x: float = 0.0
    y: float = 0.0
    xp: float = 0.0
    yp: float = 0.0
    z: float = 0.0
    zp: float = 0.0
    dw: float = 0.0
    n_particles: int = 1000
    distribution: str = "gaussian"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "distribution" and not (
                isinstance(value, (int, float)) and math.isfinite(value)
            ):
                raise ValueError(f"beam {f.name} must be a finite number, got {value!r}")
        if self.energy <= 0:
            raise ValueError(f"beam energy must be > 0 MeV, got {self.energy!r}")
        for name in ("mass", "freq", "betx", "bety", "betz"):
            if getattr(self, name) <= 0:
                raise ValueError(f"beam {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("etnx", "etny", "eln", "current"):
            if getattr(self, name) < 0:
                raise ValueError(f"beam {name} must be >= 0, got {getattr(self, name)!r}")
        if self.charge == 0:
            raise ValueError("beam charge state must be non-zero")
        if int(self.n_particles) < 1:
            raise ValueError(f"n_particles must be >= 1, got {self.n_particles!r}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"distribution {self.distribution!r} is not one of {', '.join(DISTRIBUTIONS)}"
            )

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_ini(cls, ini: IniBeam) -> Beam:
        """The beam of a TraceWin ``.ini`` project (see ``accelerate_rl.tracewin.read_ini``)."""
        return cls(
            energy=ini.energy,
            mass=ini.mass,
            charge=ini.charge,
            current=ini.current,
            freq=ini.freq,
            etnx=ini.etnx,
            etny=ini.etny,
            eln=ini.eln,
            alpx=ini.alpx,
            betx=ini.betx,
            alpy=ini.alpy,
            bety=ini.bety,
            alpz=ini.alpz,
            betz=ini.betz,
            n_particles=ini.n_particles,
        )

    def with_tracewin_keys(self, params: dict[str, Any]) -> Beam:
        """Apply TraceWin command-line beam keys (``energy1``, ``mass1`` [eV], ``etnx1`` ...).

        Unknown keys are ignored here (the caller validates); values follow the rules of
        :func:`accelerate_rl.tracewin.keys.key_value` (the TraceWin runner's).

        Raises:
            InvalidParameterError: naming the key whose value is bad.
        """
        changes: dict[str, Any] = {}
        for key, value in params.items():
            spec = TRACEWIN_BEAM_KEYS.get(key.lower())
            if spec is None:
                continue
            name, factor = spec
            number = key_value(key, value)
            changes[name] = number if name == "n_particles" else number * factor
        try:
            return replace(self, **changes) if changes else self
        except ValueError as exc:
            raise InvalidParameterError(", ".join(params), str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # -- derived quantities ------------------------------------------------------------
    @property
    def species(self) -> Species:
        return Species(self.mass, self.charge)

    @cached_property
    def kinematics(self) -> Kinematics:
        return Kinematics(self.energy, self.species)

    @property
    def wavelength(self) -> float:
        """Bunch wavelength c / f [m]."""
        return C_LIGHT / (self.freq * 1e6)

    def sigma(self) -> np.ndarray:
        """The 6x6 second-moment matrix in internal coordinates (m, rad, m, rad, m, 1)."""
        return self._sigma.copy()

    @cached_property
    def _sigma(self) -> np.ndarray:
        kin = self.kinematics
        bg, g = float(kin.beta_gamma), float(kin.gamma)
        sig = np.zeros((6, 6))
        for i, (eps_n, a, b) in enumerate(
            ((self.etnx, self.alpx, self.betx), (self.etny, self.alpy, self.bety))
        ):
            eps = eps_n * 1e-6 / bg
            k = 2 * i
            sig[k, k] = b * eps
            sig[k, k + 1] = sig[k + 1, k] = -a * eps
            sig[k + 1, k + 1] = (1 + a * a) / b * eps
        eps_z = self.eln * 1e-6 / (bg * g * g)  # emittance in (z, z')
        g2 = g * g
        sig[4, 4] = self.betz * eps_z
        sig[4, 5] = sig[5, 4] = -self.alpz * eps_z * g2
        sig[5, 5] = (1 + self.alpz**2) / self.betz * eps_z * g2 * g2
        return sig

    def centroid(self) -> np.ndarray:
        """Centroid offsets in internal coordinates."""
        kin = self.kinematics
        b, g = float(kin.beta), float(kin.gamma)
        delta = self.dw / (b * b * g * self.mass) + self.zp * 1e-3 * g * g
        return np.array(
            [self.x * 1e-3, self.xp * 1e-3, self.y * 1e-3, self.yp * 1e-3, self.z * 1e-3, delta]
        )
