"""Linear space charge of the rms-equivalent uniform ellipsoid (envelope and multiparticle).

The bunch (charge Q = I / f, I the average current, f the bunch frequency) is replaced
by the uniformly filled ellipsoid with the same second moments: semi-axes a = sqrt(5)
sigma_x, b = sqrt(5) sigma_y, c = sqrt(5) sigma_z. Inside it the rest-frame field is
linear, E'_i = rho' N_i x_i / epsilon_0 with rho' = 3 Q / (4 pi a b gamma c) and the
ellipsoid's depolarisation factors N_i (N_x + N_y + N_z = 1; a sphere has 1/3 each)
computed exactly with Carlson's integral R_D, the bunch gamma-times longer in its rest
frame. Back in the laboratory the transverse force is q E'/gamma (electric and magnetic
parts), the longitudinal one q E'_z. Over a length ds this is the linear kick

    dx'     = 3 Q q N_x / (4 pi eps0 a b c mc2 beta^2 gamma^3) x ds
    d(dp/p) = 3 Q q N_z / (4 pi eps0 a b c mc2 beta^2 gamma)   z ds

(mc2 in V per unit charge). By Sacherer's theorem the rms envelopes then evolve as those
of any ellipsoidally symmetric bunch with the same moments: this is what TraceWin's
envelope code does. Limits: the ellipsoid is taken upright in (x, y, z) (x-y and
transverse-longitudinal correlations are ignored in the field, not in the transport); no
image charges; multiparticle mode uses the same linear force (no halo or nonlinear
space-charge effects: there is no mesh, and the cost is O(N) per step).
"""

from __future__ import annotations

import numpy as np
from scipy.special import elliprd

from .species import Kinematics

#: Vacuum permittivity [F/m].
EPSILON_0 = 8.8541878128e-12
#: Sigma-to-semi-axis factor of the uniform ellipsoid.
UNIFORM = np.sqrt(5.0)


def depolarisation(a: float, b: float, c: float) -> tuple[float, float, float]:
    """Depolarisation factors (N_a, N_b, N_c) of an ellipsoid with semi-axes a, b, c:
    N_a = (a b c / 3) R_D(b^2, c^2, a^2), and cyclically."""
    a2, b2, c2 = a * a, b * b, c * c
    abc = a * b * c / 3.0
    return (
        float(abc * elliprd(b2, c2, a2)),
        float(abc * elliprd(c2, a2, b2)),
        float(abc * elliprd(a2, b2, c2)),
    )


def kick_strengths(
    sigma: np.ndarray, kin: Kinematics, current_ma: float, freq_mhz: float
) -> tuple[float, float, float]:
    """(kx, ky, kz) [1/m^2]: dx' = kx x ds, dy' = ky y ds, d(dp/p) = kz z ds for the beam
    with second moments ``sigma`` (6, 6, internal units), ``current_ma`` [mA] and bunch
    frequency ``freq_mhz`` [MHz]. Zero without current or for a collapsed beam."""
    if current_ma == 0:
        return 0.0, 0.0, 0.0
    sx, sy, sz = (np.sqrt(max(float(sigma[i, i]), 0.0)) for i in (0, 2, 4))
    if min(sx, sy, sz) <= 0:
        return 0.0, 0.0, 0.0
    gamma, beta = float(kin.gamma), float(kin.beta)
    a, b, c = UNIFORM * sx, UNIFORM * sy, UNIFORM * sz
    nx, ny, nz = depolarisation(a, b, gamma * c)
    charge = current_ma * 1e-3 / (freq_mhz * 1e6)  # bunch charge Q [C]
    species = kin.species
    mc2_volts = species.mass * 1e6 / abs(species.charge)  # m c^2 / |q| [V]: like charges repel
    base = 3.0 * charge / (4.0 * np.pi * EPSILON_0 * a * b * c * mc2_volts * beta * beta)
    return base * nx / gamma**3, base * ny / gamma**3, base * nz / gamma


def kick_matrix(
    sigma: np.ndarray, kin: Kinematics, current_ma: float, freq_mhz: float, length: float
) -> np.ndarray:
    """(6, 6) linear space-charge kick over ``length`` [m] (about the centroid)."""
    kx, ky, kz = kick_strengths(sigma, kin, current_ma, freq_mhz)
    k = np.eye(6)
    k[1, 0], k[3, 2], k[5, 4] = kx * length, ky * length, kz * length
    return k
