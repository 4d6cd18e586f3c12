"""GAP E0TL phi R p betas T kT kkT kS kkS: a thin RF gap. E0TL [V] effective voltage
(transit-time factor included), phi [deg] the RF phase at the gap centre relative to
the synchronous particle (p = 0), R aperture [mm]; RF frequency from the last FREQ.

The thin-gap impulses follow from the on-axis field integrated at constant velocity (the
same physics as :mod:`accelerate_rl.engine.rf` uses through field maps, of which this is
the short-gap limit, see the tests): for a particle at RF phase phi

    dW = q E0TL cos(phi)
    d(P x') = -pi q E0TL sin(phi) x / (mc2 beta^2 gamma^2 lambda)    (P = beta gamma)

with beta, gamma at mid-gap; the arrival time is unchanged (z scales with beta). Not
modelled: the transit-time factor's velocity dependence (betas, T, kT, ...: a note says
so; E0TL is the crest energy gain). With p = 1, phi + omega t_gap is the phase seen
(t from the start of the line); after SET_SYNC_PHASE phi is the synchronous phase, as
with p = 0.
"""

from __future__ import annotations

import numpy as np

from ..rf import Crossing
from ..species import C_LIGHT, Kinematics, relativistic
from .base import Aperture
from .drift import pipe_aperture
from .rf_base import RFElement


def thin_gap_crossing(voltage: float, phi_s: float, freq_mhz: float, kin: Kinematics) -> Crossing:
    """The synchronous particle and the linear map of a thin gap: ``voltage`` [V] E0TL,
    ``phi_s`` [rad] the phase at the gap, from entry kinematics ``kin``."""
    species = kin.species
    mass, q = species.mass, species.charge
    w_in = float(np.asarray(kin.energy).reshape(-1)[0])
    v_mv = voltage * 1e-6
    w_out = w_in + q * v_mv * np.cos(phi_s)
    if w_out <= 0:
        raise ValueError(f"the gap decelerates the reference particle to {w_out:g} MeV")
    b_in, g_in, _ = relativistic(w_in, mass)
    b_out, g_out, _ = relativistic(w_out, mass)
    b_mid, g_mid, _ = relativistic(0.5 * (w_in + w_out), mass)
    wavelength = C_LIGHT / (freq_mhz * 1e6)
    p_in, p_out = b_in * g_in, b_out * g_out
    k_t = -np.pi * q * v_mv * np.sin(phi_s) / (mass * b_mid**2 * g_mid**2 * wavelength)
    m = np.eye(6)
    for i in (0, 2):
        m[i + 1, i] = k_t / p_out
        m[i + 1, i + 1] = p_in / p_out
    # longitudinal: dW_out = dW_in + q V sin(phi_s) omega z_in / (beta_in c); z_out =
    # z_in beta_out / beta_in (same arrival time); dW = beta^2 gamma mc2 dp/p
    k_w = 2 * np.pi * q * v_mv * np.sin(phi_s) / (b_in * wavelength)  # [MeV/m]
    m[4, 4] = b_out / b_in
    m[5, 4] = k_w / (b_out**2 * g_out * mass)
    m[5, 5] = (b_in**2 * g_in) / (b_out**2 * g_out)
    voltage_c = v_mv * np.exp(1j * phi_s)
    return Crossing(float(w_out), 0.0, complex(voltage_c), float(phi_s), m)


class Gap(RFElement):
    keyword = "GAP"
    MODE_PARAM = 4

    def notes(self) -> list[str]:
        return self.ttf_notes(5)

    def aperture(self) -> Aperture | None:
        return pipe_aperture(self.p(3))

    def _cross(self, kin: Kinematics, time: float | None) -> Crossing:
        phi = np.deg2rad(float(self.p(2)[0]))
        if self.absolute and not self.sync_phase:
            phi += self.omega * float(time)  # a thin gap: the entry time is the gap's
        return thin_gap_crossing(float(self.p(1)[0]), phi, self.freq, kin)

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        return self.crossing(kin).matrix[None].copy()

    @property
    def nonlinear(self) -> bool:
        return True

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        """Each particle's own phase: dW = q V cos(phi_s + dphi), the transverse impulse
        with sin(phi_s + dphi) and the particle's own velocity."""
        crossing = self.crossing(kin)
        species = kin.species
        mass, q = species.mass, species.charge
        v_mv = float(self.p(1)[0]) * 1e-6
        w_in = float(np.asarray(kin.energy).reshape(-1)[0])
        b_in, g_in, _ = relativistic(w_in, mass)
        b_ref, g_ref, _ = relativistic(crossing.w_out, mass)
        wavelength = C_LIGHT / (self.freq * 1e6)
        p0 = b_in * g_in
        p = p0 * (1.0 + coords[5])
        w = mass * (np.sqrt(1.0 + p * p) - 1.0)
        phi = crossing.phi_in - 2 * np.pi * coords[4] / (b_in * wavelength)
        w_new = w + q * v_mv * np.cos(phi)
        b_new, g_new, _ = relativistic(w_new, mass)
        b_mid, g_mid, _ = relativistic(0.5 * (w + w_new), mass)
        p_new = b_new * g_new
        k_t = -np.pi * q * v_mv * np.sin(phi) / (mass * b_mid**2 * g_mid**2 * wavelength)
        out = coords.copy()
        out[1] = (p * coords[1] + k_t * coords[0]) / p_new
        out[3] = (p * coords[3] + k_t * coords[2]) / p_new
        # same arrival time: z = -beta c dt, in the reference's exit velocity
        out[4] = coords[4] * b_ref / b_in
        out[5] = p_new / (b_ref * g_ref) - 1.0
        return out
