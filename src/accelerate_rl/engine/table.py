"""TraceWin output columns from beam moments.

Given centroids (rows, B, 6) and second moments (rows, B, 6, 6) in internal coordinates
(m, rad, m, rad, m, dp/p), fill the ``tracewin.out`` columns in TraceWin's units: sizes
and centroids [mm], angles [mrad], phases [deg at the bunch frequency, negative ahead],
energies [MeV], emittances normalised rms [mm.mrad] and [deg.MeV].

Columns not modelled by this engine are written as 0: halo (hx, hy, hp), 99 %
emittances, synchronous phase and energy, EmitR, kr, space-charge current.
Hdisp/Vdisp are the cumulative R16/R36 [mm per unit dp/p], Hdisp/dz, Vdisp/dz R26/R46.
"""

from __future__ import annotations

import numpy as np

from .species import Kinematics


def _det2(s: np.ndarray, i: int) -> np.ndarray:
    return s[..., i, i] * s[..., i + 1, i + 1] - s[..., i, i + 1] ** 2


def phase_advance(sigma_in: np.ndarray, r: np.ndarray, i: int) -> np.ndarray:
    """Betatron phase advance [deg] of plane i (0, 2, 4) through map ``r``, from the beam's
    Twiss at the entrance: atan2(R12 eps, sigma11 R11 + sigma12 R12)."""
    eps = np.sqrt(np.maximum(_det2(sigma_in, i), 0.0))
    num = r[..., i, i + 1] * eps
    den = sigma_in[..., i, i] * r[..., i, i] + sigma_in[..., i, i + 1] * r[..., i, i + 1]
    return np.degrees(np.arctan2(num, den))


def core_columns(
    centroid: np.ndarray, sigma: np.ndarray, kin: Kinematics, freq: float
) -> dict[str, np.ndarray]:
    """Centroids, sizes, correlations and emittances from moments of any leading shape."""
    gamma, beta, bg = np.asarray(kin.gamma), np.asarray(kin.beta), np.asarray(kin.beta_gamma)
    wavelength = 299_792_458.0 / (freq * 1e6)
    deg_per_m = 360.0 / (beta * wavelength)
    mev_per_delta = beta * beta * gamma * kin.species.mass
    c, s = centroid, sigma
    return {
        "x0": c[..., 0] * 1e3,
        "y0": c[..., 2] * 1e3,
        "p0": -c[..., 4] * deg_per_m,
        "x'0": c[..., 1] * 1e3,
        "y'0": c[..., 3] * 1e3,
        "W0": c[..., 5] * mev_per_delta,
        "SizeX": np.sqrt(np.maximum(s[..., 0, 0], 0)) * 1e3,
        "SizeY": np.sqrt(np.maximum(s[..., 2, 2], 0)) * 1e3,
        "SizeP": np.sqrt(np.maximum(s[..., 4, 4], 0)) * deg_per_m,
        "sxx'": s[..., 0, 1] * 1e6,
        "syy'": s[..., 2, 3] * 1e6,
        "spW": -s[..., 4, 5] * deg_per_m * mev_per_delta,
        "ex": np.sqrt(np.maximum(_det2(s, 0), 0)) * bg * 1e6,
        "ey": np.sqrt(np.maximum(_det2(s, 2), 0)) * bg * 1e6,
        "ep": np.sqrt(np.maximum(_det2(s, 4), 0)) * deg_per_m * mev_per_delta,
    }


def columns(
    *,
    numbers: np.ndarray,
    z: np.ndarray,
    centroid: np.ndarray,
    sigma: np.ndarray,
    kin: Kinematics,
    freq: float,
    npart: np.ndarray,
    aperture: np.ndarray,
    cumulative: np.ndarray,
    element_maps: np.ndarray | None = None,
    lengths_mm: np.ndarray | None = None,
    xmax: np.ndarray | None = None,
    ymax: np.ndarray | None = None,
    powlost: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The ``tracewin.out`` columns, each (rows, B).

    Args:
        numbers: (rows,) element numbers, 0 for the input beam.
        z: (rows, B) positions [m]. centroid: (rows, B, 6). sigma: (rows, B, 6, 6).
        kin: reference kinematics, scalar or with energy (rows, 1) when it changes along
            the line. freq: bunch frequency [MHz].
        npart: (rows, B) particles. aperture: (rows, B) aperture radius [mm].
        cumulative: (rows, B, 6, 6) maps from the input.
        element_maps: (rows, B, 6, 6) map of each row's element (for kx, ky, kz).
        lengths_mm: (rows, B) element lengths [mm].
    """
    rows, batch = z.shape
    gamma, bg = np.asarray(kin.gamma), np.asarray(kin.beta_gamma)
    s = sigma
    zero = np.zeros((rows, batch))
    out: dict[str, np.ndarray] = {
        "##": np.broadcast_to(numbers[:, None], (rows, batch)).astype(float),
        "z(m)": z,
        "gama-1": np.broadcast_to(gamma - 1.0, (rows, batch)).astype(float),
        **core_columns(centroid, sigma, kin, freq),
        "npart": npart.astype(float),
        "Aper": aperture,
        "SizeZ": np.sqrt(np.maximum(s[..., 4, 4], 0)) * 1e3,
        "szdp": s[..., 4, 5] * 1e6,
        "ezdp": np.sqrt(np.maximum(_det2(s, 4), 0)) * bg * 1e6,
        "Hdisp": cumulative[..., 0, 5] * 1e3,
        "Vdisp": cumulative[..., 2, 5] * 1e3,
        "Hdisp/dz": cumulative[..., 1, 5],
        "Vdisp/dz": cumulative[..., 3, 5],
        "sxy": s[..., 0, 2] * 1e6,
        "sx'y'": s[..., 1, 3] * 1e6,
    }
    det4 = np.linalg.det(s[..., :4, :4])
    out["e4D"] = np.sqrt(np.maximum(det4, 0)) * bg * bg * 1e12
    out["e6D"] = out["e4D"] * out["ezdp"]
    for name, i in (("kx", 0), ("ky", 2), ("kz", 4)):
        col = zero.copy()
        if element_maps is not None and lengths_mm is not None and rows > 1:
            adv = phase_advance(s[:-1], element_maps[1:], i)
            with np.errstate(divide="ignore", invalid="ignore"):
                col[1:] = np.where(lengths_mm[1:] > 0, adv / lengths_mm[1:], 0.0)
        out[name] = col
    out["Xmax"] = zero if xmax is None else xmax
    out["Ymax"] = zero if ymax is None else ymax
    out["Powlost"] = zero if powlost is None else powlost
    return out
