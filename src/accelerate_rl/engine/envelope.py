"""Envelope mode: 6x6 sigma-matrix and centroid transport, batched over settings.

sigma_out = R sigma R^T, centroid_out = R centroid + d (d from steering), and the
cumulative map M_out = R M, element by element. A batch of B settings travels as
(B, 6, 6) arrays; elements no override touched keep batch 1 and broadcast.

Transmission in envelope mode is an estimate: the fraction of a Gaussian beam with the
computed centroid and rms sizes inside each aperture (a circular aperture of radius R is
taken as the square of equal area), the running minimum along the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt

import numpy as np
from scipy.special import erf

from .elements import ElementModel
from .species import Kinematics

@dataclass
class Track:
    """Moments at the input (row 0) and at every element exit (rows 1..n).

    Arrays have shape (rows, B, ...): centroid (rows, B, 6), sigma (rows, B, 6, 6),
    cumulative and element maps (rows, B, 6, 6), z [m], aperture radius [mm],
    transmission [0..1], npart, lengths [mm].
    """

    numbers: np.ndarray
    z: np.ndarray
    centroid: np.ndarray
    sigma: np.ndarray
    cumulative: np.ndarray
    element_maps: np.ndarray
    lengths_mm: np.ndarray
    aperture: np.ndarray
    transmission: np.ndarray
    npart: np.ndarray
    xmax: np.ndarray | None = None
    ymax: np.ndarray | None = None
    powlost: np.ndarray | None = None


def _fraction_inside(lo: np.ndarray, hi: np.ndarray, mu: np.ndarray, sig: np.ndarray):
    sig = np.maximum(sig, 1e-30)
    a = (hi - mu) / (sig * sqrt(2.0))
    b = (lo - mu) / (sig * sqrt(2.0))
    return 0.5 * (erf(a) - erf(b))


def gaussian_transmission(model: ElementModel, centroid: np.ndarray, sigma: np.ndarray):
    """(B,) fraction of a Gaussian beam inside ``model``'s aperture (1 if none)."""
    ap = model.aperture()
    batch = centroid.shape[0]
    if ap is None:
        return np.ones(batch)
    rx = np.broadcast_to(ap.rx, (batch,)) * 1e-3
    ry = np.broadcast_to(ap.ry, (batch,)) * 1e-3
    if ap.kind == "circular":
        rx = ry = rx * sqrt(np.pi) / 2
    dx = np.broadcast_to(ap.dx, (batch,)) * 1e-3
    dy = np.broadcast_to(ap.dy, (batch,)) * 1e-3
    sx = np.sqrt(np.maximum(sigma[:, 0, 0], 0))
    sy = np.sqrt(np.maximum(sigma[:, 2, 2], 0))
    fx = _fraction_inside(dx - rx, dx + rx, centroid[:, 0], sx)
    fy = _fraction_inside(dy - ry, dy + ry, centroid[:, 2], sy)
    frac = np.where(rx > 0, fx * fy, 1.0)
    return frac


def aperture_radius(model: ElementModel, batch: int) -> np.ndarray:
    ap = model.aperture()
    return np.zeros(batch) if ap is None else np.broadcast_to(ap.rx, (batch,)).astype(float)


def track_envelope(
    models: list[ElementModel],
    kin: Kinematics,
    sigma0: np.ndarray,
    centroid0: np.ndarray,
    batch: int,
    npart: int,
    cache: dict[int, tuple[np.ndarray, np.ndarray | None]] | None = None,
    fresh: set[int] = frozenset(),
) -> Track:
    """Transport the beam's moments through ``models``.

    Args:
        sigma0: (6, 6) input second moments; centroid0: (6,) input centroid.
        batch: B, the number of settings. cache: element index -> (R, d) of elements at
            their base settings (filled and reused). fresh: numbers of the elements whose
            settings were overridden (never cached).
    """
    n = len(models)
    eye = np.broadcast_to(np.eye(6), (batch, 6, 6))
    sig = np.broadcast_to(sigma0, (batch, 6, 6)).copy()
    cen = np.broadcast_to(centroid0, (batch, 6)).copy()
    cum = eye.copy()
    sigmas = np.empty((n + 1, batch, 6, 6))
    cents = np.empty((n + 1, batch, 6))
    cums = np.empty((n + 1, batch, 6, 6))
    maps = np.empty((n + 1, batch, 6, 6))
    lengths = np.zeros((n + 1, batch))
    apertures = np.zeros((n + 1, batch))
    trans = np.ones((n + 1, batch))
    sigmas[0], cents[0], cums[0], maps[0] = sig, cen, cum, eye
    running = np.ones(batch)
    for i, model in enumerate(models):
        cacheable = cache is not None and (i + 1) not in fresh
        hit = cache.get(i) if cacheable else None
        if hit is None:
            r = model.matrix(kin)
            d = model.kick(kin)
            if cacheable:
                cache[i] = (r, d)
        else:
            r, d = hit
        sig = r @ sig @ np.swapaxes(r, -1, -2)
        cen = np.einsum("bij,bj->bi", r, cen) if r.shape[0] == batch else cen @ r[0].T
        if d is not None:
            cen = cen + d
        cum = r @ cum
        sigmas[i + 1], cents[i + 1], cums[i + 1], maps[i + 1] = sig, cen, cum, r
        lengths[i + 1] = model.length_m * 1e3
        apertures[i + 1] = aperture_radius(model, batch)
        running = np.minimum(running, gaussian_transmission(model, cen, sig))
        trans[i + 1] = running
    z = np.cumsum(lengths, axis=0) * 1e-3
    numbers = np.arange(n + 1)
    return Track(
        numbers=numbers,
        z=z,
        centroid=cents,
        sigma=sigmas,
        cumulative=cums,
        element_maps=maps,
        lengths_mm=lengths,
        aperture=apertures,
        transmission=trans,
        npart=np.full((n + 1, batch), npart, dtype=float),
    )
