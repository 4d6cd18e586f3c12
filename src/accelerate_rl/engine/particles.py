"""Multiparticle mode: input distributions and element-by-element tracking with losses.

Coordinates are a (6, N) array in internal units (m, rad, m, rad, m, dp/p). Particles
outside an element's aperture at its entrance or exit are lost there; lost particles keep
their last coordinates and the number of the element where they were lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..tracewin.dst import Distribution
from .beam import Beam
from .elements import ElementModel
from .species import Kinematics


def _matrix_sqrt(sigma: np.ndarray) -> np.ndarray:
    """A square root A with A A^T = sigma (eigen-decomposition: tolerates zero emittances)."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return v * np.sqrt(np.clip(w, 0.0, None))


def _unit_ball(rng: np.random.Generator, dim: int, n: int) -> np.ndarray:
    g = rng.standard_normal((dim, n))
    g /= np.linalg.norm(g, axis=0)
    return g * rng.random(n) ** (1.0 / dim)


def _unit_sphere(rng: np.random.Generator, dim: int, n: int) -> np.ndarray:
    g = rng.standard_normal((dim, n))
    return g / np.linalg.norm(g, axis=0)


def generate(beam: Beam, seed: int | None) -> np.ndarray:
    """Draw ``beam.n_particles`` macroparticles with the beam's rms moments.

    gaussian: 6D normal; waterbag: uniform in the 6D ellipsoid (scaled by sqrt(8) so the
    rms matches); kv: transverse on the 4D ellipsoid's surface (scale 2), longitudinal
    uniform in the ellipse (scale 2). The rms moments match the beam's in expectation
    (a finite draw differs by statistical noise); ``seed`` makes the draw reproducible.
    """
    rng = np.random.default_rng(seed)
    n = int(beam.n_particles)
    if beam.distribution == "gaussian":
        u = rng.standard_normal((6, n))
    elif beam.distribution == "waterbag":
        u = _unit_ball(rng, 6, n) * np.sqrt(8.0)
    else:
        u = np.vstack([_unit_sphere(rng, 4, n) * 2.0, _unit_ball(rng, 2, n) * 2.0])
    return _matrix_sqrt(beam.sigma()) @ u + beam.centroid()[:, None]


def from_distribution(dist: Distribution, beam: Beam) -> np.ndarray:
    """Internal coordinates of a ``.dst`` distribution, relative to the beam's reference.

    Phases are taken relative to the mean phase; delta from each particle's momentum.
    """
    raw = dist.raw
    kin = beam.kinematics
    mc2 = dist.mass if dist.mass > 0 else beam.mass
    w = raw[:, 5]
    g = 1.0 + w / mc2
    p = np.sqrt((g - 1.0) * (g + 1.0)) * mc2
    p0 = float(kin.momentum)
    wavelength = 299_792_458.0 / (dist.freq * 1e6 if dist.freq > 0 else beam.freq * 1e6)
    phi = raw[:, 4] - raw[:, 4].mean()
    z = -phi * float(kin.beta) * wavelength / (2 * np.pi)
    return np.vstack([raw[:, 0] * 1e-2, raw[:, 1], raw[:, 2] * 1e-2, raw[:, 3], z, p / p0 - 1.0])


def to_distribution(coords: np.ndarray, beam: Beam) -> Distribution:
    """A ``.dst`` distribution (absolute phase 0 for the reference) from internal coordinates."""
    kin = beam.kinematics
    p = float(kin.momentum) * (1.0 + coords[5])
    energy = np.sqrt(p * p + beam.mass**2) - beam.mass
    phi = -coords[4] * 2 * np.pi / (float(kin.beta) * beam.wavelength)
    raw = np.column_stack(
        [coords[0] * 1e2, coords[1], coords[2] * 1e2, coords[3], phi, energy]
    )
    return Distribution(raw, beam.current, beam.freq, beam.mass)


@dataclass
class ParticleState:
    """All particles: coordinates (6, N) and the element where each was lost (0 = alive)."""

    coords: np.ndarray
    lost_at: np.ndarray

    @property
    def alive(self) -> np.ndarray:
        return self.lost_at == 0


def track_particles(
    models: list[ElementModel],
    kin: Kinematics,
    coords: np.ndarray,
    on_element: Callable[[int, ParticleState], None] | None = None,
) -> ParticleState:
    """Track particles through every element, removing those outside apertures.

    ``on_element(n, state)`` is called after element n (and with n = 0 for the input).
    """
    state = ParticleState(coords.copy(), np.zeros(coords.shape[1], dtype=np.int64))
    if on_element:
        on_element(0, state)
    for n, model in enumerate(models, start=1):
        idx = np.flatnonzero(state.alive)
        ap = model.aperture()
        x = state.coords[:, idx]
        if ap is not None and idx.size:
            inside = ap.inside(x[0], x[2])
            state.lost_at[idx[~inside]] = n
            idx, x = idx[inside], x[:, inside]
        if idx.size:
            x = model.track(x, kin)
            bad = ~np.all(np.isfinite(x), axis=0)
            if ap is not None:
                bad |= ~ap.inside(x[0], x[2])
            state.coords[:, idx] = x
            state.lost_at[idx[bad]] = n
        if on_element:
            on_element(n, state)
    return state
