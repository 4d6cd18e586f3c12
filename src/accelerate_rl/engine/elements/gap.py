"""GAP E0TL phi R p betas T kT kkT kS kkS: a thin RF gap. E0TL [V] effective voltage
(transit-time factor included) for a particle of reduced velocity betas, phi [deg] the
RF phase at the gap centre relative to the synchronous particle (p = 0), R aperture [mm];
RF frequency from the last FREQ.

The thin-gap impulses follow from the on-axis field integrated at constant velocity (the
same physics as :mod:`accelerate_rl.engine.rf` uses through field maps, of which this is
the short-gap limit, see the tests): for a particle at RF phase phi

    dW = q E0TL cos(phi)
    d(P x') = -pi q E0TL sin(phi) x / (mc2 beta^2 gamma^2 lambda)    (P = beta gamma)

with beta, gamma at mid-gap; the arrival time is unchanged (z scales with beta). With
p = 1, phi + omega t_gap is the phase seen (t from the start of the line); after
SET_SYNC_PHASE phi is the synchronous phase, as with p = 0.

Transit-time factors (Wangler, RF Linear Accelerators, 2.5-2.6), when betas > 0 and
T > 0: a particle of wave number k = 2 pi / (beta lambda) [1/m] (its mid-gap velocity)
sees E0 L [T(k) cos(phi) - S(k) sin(phi)] with E0 L = E0TL / T and

    T(k) = T + kT (k - ks) + kkT (k - ks)^2 / 2,   S(k) = kS (k - ks) + kkS (k - ks)^2 / 2

(ks = 2 pi / (betas lambda); kT = dT/dk [m], kkT = d2T/dk2 [m^2], likewise S), i.e. the
voltage E0TL |T + iS| / T at the phase phi + arg(T + iS); the transverse impulse likewise.
A particle at betas sees E0TL. Not modelled: the shift of the gap's electrical centre
with velocity (Wangler's phase terms in k T'), and the radial dependence of the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rf import Crossing
from ..species import C_LIGHT, Kinematics, relativistic
from .base import Aperture
from .drift import pipe_aperture
from .rf_base import RFElement


@dataclass(frozen=True)
class TransitTime:
    """A gap's transit-time-factor expansion about ks = 2 pi / (betas lambda).

    Attributes: betas; t [1]; kt [m], kkt [m^2] (dT/dk, d2T/dk2); ks, kks (the same for S).
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

    def factor(self, beta, wavelength: float) -> tuple[np.ndarray, np.ndarray]:
        """(T + iS) / Ts at reduced velocity ``beta`` and its derivative with respect to
        the kinetic energy's wave number k [m], both complex."""
        k = 2 * np.pi / (np.asarray(beta, dtype=float) * wavelength)
        dk = k - 2 * np.pi / (self.betas * wavelength)
        t = self.t + self.kt * dk + 0.5 * self.kkt * dk * dk
        s = self.ks * dk + 0.5 * self.kks * dk * dk
        dt = self.kt + self.kkt * dk
        ds = self.ks + self.kks * dk
        return (t + 1j * s) / self.t, (dt + 1j * ds) / self.t


def thin_gap_crossing(
    voltage: float,
    phi_s: float,
    freq_mhz: float,
    kin: Kinematics,
    ttf: TransitTime | None = None,
) -> Crossing:
    """The synchronous particle and the linear map of a thin gap: ``voltage`` [V] E0TL,
    ``phi_s`` [rad] the phase at the gap, from entry kinematics ``kin``; ``ttf`` the
    transit-time-factor expansion (None: E0TL at every velocity)."""
    species = kin.species
    mass, q = species.mass, species.charge
    w_in = float(np.asarray(kin.energy).reshape(-1)[0])
    wavelength = C_LIGHT / (freq_mhz * 1e6)
    v_mv = voltage * 1e-6
    phi_set = phi_s
    factor, slope = 1.0 + 0j, 0j
    if ttf is not None:  # at the mid-gap velocity of the gain without the expansion
        b_est = relativistic(w_in + 0.5 * q * v_mv * np.cos(phi_s), mass)[0]
        factor, slope = (complex(v) for v in ttf.factor(b_est, wavelength))
        v_mv *= abs(factor)
        phi_s += np.angle(factor)
    w_out = w_in + q * v_mv * np.cos(phi_s)
    if w_out <= 0:
        raise ValueError(f"the gap decelerates the reference particle to {w_out:g} MeV")
    b_in, g_in, _ = relativistic(w_in, mass)
    b_out, g_out, _ = relativistic(w_out, mass)
    b_mid, g_mid, _ = relativistic(0.5 * (w_in + w_out), mass)
    p_in, p_out = b_in * g_in, b_out * g_out
    k_t = -np.pi * q * v_mv * np.sin(phi_s) / (mass * b_mid**2 * g_mid**2 * wavelength)
    m = np.eye(6)
    for i in (0, 2):
        m[i + 1, i] = k_t / p_out
        m[i + 1, i + 1] = p_in / p_out
    # longitudinal: dW_out = dW_in + q V sin(phi_s) omega z_in / (beta_in c); z_out =
    # z_in beta_out / beta_in (same arrival time); dW = beta^2 gamma mc2 dp/p
    k_w = 2 * np.pi * q * v_mv * np.sin(phi_s) / (b_in * wavelength)  # [MeV/m]
    # the gain's own energy dependence through T(k), S(k): dk/dW = -k / (beta^2 gamma^3 mc2)
    k_mid = 2 * np.pi / (b_mid * wavelength)
    dk_dw = -k_mid / (b_mid**2 * g_mid**3 * mass)
    gain_slope = q * voltage * 1e-6 * (slope * np.exp(1j * phi_set)).real
    m[4, 4] = b_out / b_in
    m[5, 4] = k_w / (b_out**2 * g_out * mass)
    m[5, 5] = (b_in**2 * g_in) / (b_out**2 * g_out) * (1.0 + gain_slope * dk_dw)
    voltage_c = v_mv * np.exp(1j * phi_s)  # its angle: the effective synchronous phase
    return Crossing(float(w_out), 0.0, complex(voltage_c), float(phi_set), m)


class Gap(RFElement):
    keyword = "GAP"
    MODE_PARAM = 4

    @property
    def transit_time(self) -> TransitTime | None:
        return TransitTime.from_params(np.array([self.p(v)[0] for v in range(5, 11)]))

    def aperture(self) -> Aperture | None:
        return pipe_aperture(self.p(3))

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


def track_thin_gap(
    coords: np.ndarray,
    kin: Kinematics,
    crossing: Crossing,
    voltage: float,
    freq_mhz: float,
    ttf: TransitTime | None,
) -> np.ndarray:
    """Particles (6, N) through a thin gap, each with its own phase and velocity:
    dW = q V Re[f exp(i phi)] with f = (T + iS)(k) / Ts (1 without ``ttf``), the
    transverse impulse with Im[...], ``crossing`` the synchronous particle's."""
    species = kin.species
    mass, q = species.mass, species.charge
    v_mv = voltage * 1e-6
    w_in = float(np.asarray(kin.energy).reshape(-1)[0])
    b_in, g_in, _ = relativistic(w_in, mass)
    b_ref, g_ref, _ = relativistic(crossing.w_out, mass)
    wavelength = C_LIGHT / (freq_mhz * 1e6)
    p0 = b_in * g_in
    p = p0 * (1.0 + coords[5])
    w = mass * (np.sqrt(1.0 + p * p) - 1.0)
    phi = crossing.phi_in - 2 * np.pi * coords[4] / (b_in * wavelength)  # as set, per particle
    wave = np.exp(1j * phi)
    if ttf is not None:  # each particle's own mid-gap velocity, estimated as for the reference
        b_est = relativistic(w + 0.5 * q * v_mv * np.cos(crossing.phi_in), mass)[0]
        wave = wave * ttf.factor(b_est, wavelength)[0]
    w_new = w + q * v_mv * wave.real
    b_new, g_new, _ = relativistic(w_new, mass)
    b_mid, g_mid, _ = relativistic(0.5 * (w + w_new), mass)
    p_new = b_new * g_new
    k_t = -np.pi * q * v_mv * wave.imag / (mass * b_mid**2 * g_mid**2 * wavelength)
    out = coords.copy()
    out[1] = (p * coords[1] + k_t * coords[0]) / p_new
    out[3] = (p * coords[3] + k_t * coords[2]) / p_new
    # same arrival time: z = -beta c dt, in the reference's exit velocity
    out[4] = coords[4] * b_ref / b_in
    out[5] = p_new / (b_ref * g_ref) - 1.0
    return out
