"""GAP E0TL phi R p betas T kT kkT kS kkS: a thin RF gap. E0TL [V] effective voltage
(transit-time factor included) for a particle of reduced velocity betas, phi [deg] the
RF phase at the gap centre relative to the synchronous particle (p = 0), R aperture [mm];
RF frequency from the last FREQ. With p = 1, phi + omega t_gap is the phase seen (t from
the start of the line); after SET_SYNC_PHASE phi is the synchronous phase, as with p = 0.

TraceWin's conventions, as ESS's OpenXAL "jels" reproduces TraceWin's own matrices
(``IdealRfGap``, ``InverseRealPolynomial``; checked here against those TraceWin matrices,
``tests/test_rf_gap.py``, whose TraceWin runs used mc2 = 938.29431 MeV):

* Transit-time factor (betas > 0): a dimensionless expansion in u = betas / beta - 1
  (= k / ks - 1, k = 2 pi / (beta lambda)),
  ``T(beta) / Ts = (Ts + kT u + kkT u^2 / 2) / Ts``, evaluated at the mid-gap velocity
  estimated from the full E0TL: gamma_m = gamma_in + q E0TL cos(phi) / (2 mc2).
  Energy gain ``dW = q E0TL T(beta_m)/Ts cos(phi)``; without betas, ``q E0TL cos(phi)``.
* Linear map in (x, x', y, y', z, dp/p) with E = q E0TL T/Ts [MeV], averages
  gamma_a = (gamma_in + gamma_out) / 2, P = beta gamma, kTT = -beta T'(beta) / T:
  ``kx, ky = 1 - E cos(phi) (gamma_a^2 +- kTT) / (2 mc2 beta_a^2 gamma_a^3)``,
  ``R11 = kx s, R22 = ky s``: with a transit-time factor ``s = sqrt(P_in / (P_out kx
  ky))`` (the symplecticity factor: adiabatic damping spread over R11 and R22), without
  one ``s = 1`` (R11 = R22 = kx, which is sqrt(P_in / P_out) only to first order in
  dW/W, so the transverse determinant misses P_in / P_out at second order; TraceWin's
  GAP and DTL_CEL matrices without transit-time factor, 0.2 MeV to 2.5 GeV, show it to
  their 7 digits, where ESS's OpenXAL keeps s: 5e-3 in R11 at 0.2 MeV);
  ``R21 = -pi E sin(phi) / (mc2 (beta_a gamma_a)^2 lambda P_out)``,
  likewise in y; ``R55 = 1``, ``R65 = 2 pi E sin(phi) / (mc2 beta_a^2 lambda P_out)``,
  ``R66 = P_in / P_out``. The synchronous particle's time of flight gains
  ``E sin(phi) kTT / (mc2 gamma_a^3 beta_a^2) / omega`` (the velocity-dependent gap
  centre).
* kS, kkS (a sine transit-time factor S(u) / Ts with the same expansion) shift the phase
  by arg(T + iS) in the gain only: not in TraceWin's matrices that we could check (a note
  in the run's notes).

Multiparticle tracking applies the same map with each particle's own strengths: its own
RF phase (``phi - 2 pi z beta_out / (beta_a^2 lambda)``, the phase-to-z conversion of the
map's R65), its own mid-gap velocity (its entry energy plus the synchronous half gain) and
transit-time factor, its own momenta for the damping, and its own time-of-flight term
(the phase partner of the transit-time factor's energy dependence, which keeps the
longitudinal phase-space area). Its Jacobian at the synchronous particle is the linear
map apart from R55, R56 and R66, where TraceWin's map leaves out those two velocity
terms; without a transit-time factor it is the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rf import Crossing, rf_charge
from ..species import C_LIGHT, Kinematics, relativistic
from .rf_base import RFElement


@dataclass(frozen=True)
class TransitTime:
    """A gap's transit-time factor as TraceWin expands it about betas.

    Attributes: betas [1]; t = Ts [1]; kt, kkt [1]: the first and second derivatives of
    T with respect to u = betas / beta - 1; ks, kks [1]: the same for S.
    """

    betas: float
    t: float
    kt: float = 0.0
    kkt: float = 0.0
    ks: float = 0.0
    kks: float = 0.0

    @classmethod
    def from_params(cls, values: np.ndarray) -> TransitTime | None:
        """From (betas, T, kT, kkT, kS, kkS) (missing trailing values 0); None when betas
        or T is 0 (E0TL is then the gain at the crest for every velocity)."""
        v = [float(x) for x in values] + [0.0] * (6 - len(values))
        if v[0] <= 0 or v[1] <= 0:
            return None
        return cls(*v[:6])

    def factor(self, beta) -> np.ndarray:
        """(T + iS)(beta) / Ts at reduced velocity ``beta`` (complex)."""
        u = self.betas / np.asarray(beta, dtype=float) - 1.0
        t = self.t + self.kt * u + 0.5 * self.kkt * u * u
        s = self.ks * u + 0.5 * self.kks * u * u
        return (t + 1j * s) / self.t

    def log_slope(self, beta) -> np.ndarray:
        """kTT = -beta T'(beta) / T(beta) [1] (TraceWin's focusing and phase term)."""
        beta = np.asarray(beta, dtype=float)
        u = self.betas / beta - 1.0
        t = self.t + self.kt * u + 0.5 * self.kkt * u * u
        return (self.kt + self.kkt * u) * (self.betas / beta) / t


@dataclass(frozen=True)
class GapKick:
    """TraceWin's thin-gap quantities for one or many particles (arrays broadcast).

    Attributes: gain, w_out [MeV]; kx, ky, damping (s) [1]; kxy [1/m] and kz [1/m]:
    R21 and R65 times P_out (module docstring); p_in, p_out = beta gamma; beta_out,
    beta_a [1]; phase_shift [rad] the synchronous particle's time-of-flight term (times
    omega); strength: the complex (T + iS) / Ts (1 without transit-time factor).
    """

    gain: np.ndarray
    w_out: np.ndarray
    kx: np.ndarray
    ky: np.ndarray
    damping: np.ndarray
    kxy: np.ndarray
    kz: np.ndarray
    p_in: np.ndarray
    p_out: np.ndarray
    beta_out: np.ndarray
    beta_a: np.ndarray
    phase_shift: np.ndarray
    strength: np.ndarray


def gap_kick(
    w_in,
    phi,
    voltage_mv: float,
    wavelength: float,
    mass: float,
    charge: float,
    ttf: TransitTime | None,
    phi_mid: float | None = None,
    strict: bool = True,
) -> GapKick:
    """The gap for entry energies ``w_in`` [MeV] at RF phases ``phi`` [rad]:
    ``voltage_mv`` E0TL [MV], ``wavelength`` [m], ``mass`` [MeV], ``charge`` [e];
    ``phi_mid`` [rad] the phase of the mid-gap velocity estimate (default ``phi``).

    Raises ValueError for a stopped particle or a breakdown of the model; with
    ``strict=False`` (particles) such entries are NaN instead (the tracker loses them)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _gap_kick(w_in, phi, voltage_mv, wavelength, mass, charge, ttf, phi_mid, strict)


def _gap_kick(w_in, phi, voltage_mv, wavelength, mass, charge, ttf, phi_mid, strict) -> GapKick:
    w_in = np.asarray(w_in, dtype=float)
    phi = np.asarray(phi, dtype=float)
    e0tl = rf_charge(charge) * voltage_mv  # [MeV]: |q|, the negative-ion phase convention
    g_in = 1.0 + w_in / mass
    p_in = relativistic(w_in, mass)[2]
    k_tt = np.zeros_like(w_in * phi)
    strength = np.ones_like(k_tt) + 0j
    if ttf is not None:
        w_mid = w_in + 0.5 * e0tl * np.cos(phi if phi_mid is None else phi_mid)
        if strict and np.any(w_mid <= 0):
            raise ValueError(
                f"the gap's mid-gap energy estimate is {float(np.min(w_mid)):g} MeV: the "
                "particle is stopped before the gap centre (E0TL too large for this energy)"
            )
        b_mid = relativistic(w_mid, mass)[0]
        strength = ttf.factor(b_mid)
        k_tt = ttf.log_slope(b_mid)
    e = e0tl * np.abs(strength)  # [MeV]
    phase = phi + np.angle(strength)
    gain = e * np.cos(phase)
    w_out = np.where(w_in + gain > 0, w_in + gain, np.nan)
    if strict and np.any(~(w_out > 0)):
        raise ValueError(
            f"the gap decelerates the particle to {float(np.min(w_in + gain)):g} MeV (stopped): "
            "check E0TL, phi and the transit-time factor"
        )
    b_out, g_out, p_out = relativistic(w_out, mass)
    g_a = 0.5 * (g_in + g_out)
    b_a = np.sqrt(1.0 - 1.0 / (g_a * g_a))
    c, s = np.cos(phase), np.sin(phase)
    common = e * c / (2 * mass * b_a**2 * g_a**3)
    kx = 1.0 - common * (g_a**2 + k_tt)
    ky = 1.0 - common * (g_a**2 - k_tt)
    if strict and np.any(kx * ky <= 0):
        raise ValueError(
            "the gap's transverse focusing terms kx*ky <= 0 (TraceWin's thin-gap model "
            "breaks down: the gain is comparable to the kinetic energy); lower E0TL"
        )
    # TraceWin's symplecticity factor s, with a transit-time factor only (module docstring)
    damping = np.sqrt(p_in / (p_out * kx * ky)) if ttf is not None else np.ones_like(kx)
    kxy = -np.pi * e * s / (mass * (g_a * b_a) ** 2 * wavelength)
    kz = 2 * np.pi * e * s / (mass * b_a**2 * wavelength)
    shift = e * s * k_tt / (mass * g_a**3 * b_a**2)
    return GapKick(gain, w_out, kx, ky, damping, kxy, kz, p_in, p_out, b_out, b_a, shift, strength)


def thin_gap_crossing(
    voltage: float,
    phi_s: float,
    freq_mhz: float,
    kin: Kinematics,
    ttf: TransitTime | None = None,
) -> Crossing:
    """The synchronous particle and TraceWin's linear map of a thin gap: ``voltage`` [V]
    E0TL, ``phi_s`` [rad] the phase at the gap, from entry kinematics ``kin``; ``ttf``
    the transit-time factor (None: E0TL at every velocity)."""
    species = kin.species
    w_in = float(np.asarray(kin.energy).reshape(-1)[0])
    wavelength = C_LIGHT / (freq_mhz * 1e6)
    k = gap_kick(w_in, phi_s, voltage * 1e-6, wavelength, species.mass, species.charge, ttf)
    m = np.eye(6)
    for i in (0, 2):
        m[i, i] = float(k.kx * k.damping)
        m[i + 1, i] = float(k.kxy / k.p_out)
        m[i + 1, i + 1] = float(k.ky * k.damping)
    m[5, 4] = float(k.kz / k.p_out)
    m[5, 5] = float(k.p_in / k.p_out)
    voltage_c = voltage * 1e-6 * complex(k.strength) * np.exp(1j * phi_s)  # angle: phase seen
    return Crossing(float(k.w_out), float(k.phase_shift), complex(voltage_c), float(phi_s), m)


class Gap(RFElement):
    keyword = "GAP"
    aperture_param = 3
    MODE_PARAM = 4

    @property
    def transit_time(self) -> TransitTime | None:
        return TransitTime.from_params(np.array([self.p(v)[0] for v in range(5, 11)]))

    def notes(self) -> list[str]:
        return transit_time_notes(self, [self.transit_time])

    def _cross(self, kin: Kinematics, time: float | None) -> Crossing:
        phi = np.deg2rad(float(self.p(2)[0]))
        if self.absolute and not self.sync_phase:
            phi += self.omega * float(time)  # a thin gap: the entry time is the gap's
        return thin_gap_crossing(float(self.p(1)[0]), phi, self.freq, kin, self.transit_time)

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        return self.crossing(kin).matrix[None].copy()

    @property
    def nonlinear(self) -> bool:
        return True

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        return track_thin_gap(
            coords, kin, self.crossing(kin), float(self.p(1)[0]), self.freq, self.transit_time
        )


#: The run's note for a transit-time factor without velocity dependence (kT = kkT = 0).
CONSTANT_TTF_NOTE = (
    "a transit-time factor with kT = kkT = 0 keeps TraceWin's symplecticity factor "
    "sqrt(P_in / (P_out kx ky)) on R11 and R22 as any transit-time factor does (without "
    "one TraceWin has R11 = R22 = kx; which of the two TraceWin uses for a constant "
    "factor is not checked: a second-order difference in dW/W)"
)


def transit_time_notes(element: RFElement, ttfs: list[TransitTime | None]) -> list[str]:
    """The run's notes for the transit-time terms of an element's gaps that TraceWin's
    runs did not check: sine terms (kS, kkS), a constant factor (kT = kkT = 0)."""
    notes = []
    if any(t is not None and (t.ks or t.kks) for t in ttfs):
        notes.append(
            f"{element.source.describe()}: the sine transit-time terms kS, kkS shift the "
            "gap's phase by arg(T + iS) in the energy gain only (not checked against TraceWin)"
        )
    if any(t is not None and not (t.kt or t.kkt) for t in ttfs):
        notes.append(f"{element.source.describe()}: {CONSTANT_TTF_NOTE}")
    return notes


def track_thin_gap(
    coords: np.ndarray,
    kin: Kinematics,
    crossing: Crossing,
    voltage: float,
    freq_mhz: float,
    ttf: TransitTime | None,
) -> np.ndarray:
    """Particles (6, N) through a thin gap: TraceWin's map (:func:`thin_gap_crossing`)
    with each particle's own phase, mid-gap velocity, transit-time factor and momenta;
    ``crossing`` is the synchronous particle's."""
    species = kin.species
    mass = species.mass
    wavelength = C_LIGHT / (freq_mhz * 1e6)
    w_in = float(np.asarray(kin.energy).reshape(-1)[0])
    ref = gap_kick(w_in, crossing.phi_in, voltage * 1e-6, wavelength, mass, species.charge, ttf)
    p0 = float(ref.p_in)
    p = p0 * (1.0 + coords[5])
    w = mass * (np.sqrt(1.0 + p * p) - 1.0)
    to_phase = 2 * np.pi * float(ref.beta_out) / (float(ref.beta_a) ** 2 * wavelength)  # [1/m]
    phi = crossing.phi_in - to_phase * coords[4]
    k = gap_kick(
        w, phi, voltage * 1e-6, wavelength, mass, species.charge, ttf, crossing.phi_in, False
    )
    out = coords.copy()
    for i in (0, 2):
        out[i] = k.kx * k.damping * coords[i]
        out[i + 1] = k.kxy / k.p_out * coords[i] + k.ky * k.damping * coords[i + 1]
    # dp/p: TraceWin's P_in/P_out on the entry offset, plus the particle's own extra gain
    p_ref_out = float(ref.p_out)
    w_ref_out = float(ref.w_out)
    b_out = float(ref.beta_out)
    out[5] = (p0 / p_ref_out) * coords[5] + (k.gain - float(ref.gain)) / (
        b_out * b_out * (1.0 + w_ref_out / mass) * mass
    )
    # the particle's own time-of-flight term (the phase partner of its transit-time
    # factor's energy dependence): a later phase is a smaller z
    out[4] = coords[4] - (k.phase_shift - float(ref.phase_shift)) / to_phase
    return out
