"""Multiparticle mode: input distributions and element-by-element tracking with losses.

Coordinates are a (6, N) array in internal units (m, rad, m, rad, m, dp/p). Particles
outside an element's aperture at its entrance or exit are lost there; lost particles keep
their last coordinates and the number of the element where they were lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..tracewin.dst import Distribution
from .beam import Beam
from .elements import ElementModel
from .spacecharge_mesh import MeshSpaceCharge
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
    raw = np.empty((coords.shape[1], 6))
    raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3] = (
        coords[0] * 1e2,
        coords[1],
        coords[2] * 1e2,
        coords[3],
    )
    raw[:, 4], raw[:, 5] = phi, energy
    return Distribution(raw, beam.current, beam.freq, beam.mass)


@dataclass
class ParticleTrack:
    """The result of tracking: per-row statistics and every particle's fate.

    Attributes:
        coords: (6, N) final coordinates of every particle (lost ones: where they were lost).
        lost_at: (N,) element where each particle was lost, 0 if it survived.
        centroid: (rows, 6) and sigma (rows, 6, 6): moments of the surviving particles.
        npart: (rows,) surviving particles. xmax, ymax: (rows,) max |x|, |y| [m] (0 when
            not computed).
    """

    coords: np.ndarray
    lost_at: np.ndarray
    centroid: np.ndarray
    sigma: np.ndarray
    npart: np.ndarray
    xmax: np.ndarray
    ymax: np.ndarray

    @property
    def alive(self) -> np.ndarray:
        return self.lost_at == 0


class _Tracker:
    """Tracks particles lazily: linear maps are composed into (P, o) and applied to the
    coordinates only when a nonlinear element, a possible loss or an output needs them.

    Losses: all particles lie inside the ellipsoid {(X - c)^T S^-1 (X - c) <= r_max^2} of
    their own moments (S, c) and largest Mahalanobis radius r_max; an affine map carries
    that ellipsoid exactly, so when its x/y extents fit inside an aperture no particle can
    be lost and none is looked at. Otherwise positions are computed and tested.
    """

    def __init__(self, coords: np.ndarray) -> None:
        n = coords.shape[1]
        self.n0 = n
        self.all: np.ndarray | None = None  # every particle; allocated at the first loss
        self.lost_at = np.zeros(n, dtype=np.int64)
        self.idx = np.arange(n)
        # never written in place (every step makes a new array), so no copy is needed
        self.x = np.ascontiguousarray(coords, dtype=float)
        self.p = np.eye(6)
        self.o = np.zeros(6)
        self._refresh()

    # -- state -----------------------------------------------------------------------
    def _refresh(self) -> None:
        """Moments and bounding radius of the materialised coordinates."""
        n = self.x.shape[1]
        self.p = np.eye(6)
        self.o = np.zeros(6)
        self._moments = None
        if n == 0:
            self.c, self.s, self.r_max = np.zeros(6), np.zeros((6, 6)), None
            return
        x = self.x
        self.c = x.mean(axis=1)
        self.s = x @ x.T / n - np.outer(self.c, self.c)
        try:
            np.linalg.cholesky(self.s)  # positive definite, else degenerate
            inv = np.linalg.inv(self.s)
            y = inv @ x
            q = y[0] * x[0]
            for i in range(1, 6):
                q += y[i] * x[i]
            q -= 2 * (inv @ self.c) @ x
            q += self.c @ inv @ self.c
            self.r_max = float(np.sqrt(max(q.max(), 0.0))) * (1 + 1e-6) + 1e-9
        except np.linalg.LinAlgError:
            self.r_max = None  # degenerate beam: always test positions

    def materialise(self) -> None:
        if not self.o.any() and np.array_equal(self.p, np.eye(6)):
            return  # nothing composed since the last materialisation
        if self.x.shape[1]:
            x = self.p @ self.x
            x += self.o[:, None]
            self.x = x
        self.c, self.s = self.moments()
        self.p = np.eye(6)
        self.o = np.zeros(6)
        self._moments = None

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        if self._moments is None:
            self._moments = (self.p @ self.c + self.o, self.p @ self.s @ self.p.T)
        return self._moments

    def positions(self) -> np.ndarray:
        """(2, n) x and y of the surviving particles now."""
        return self.p[[0, 2]] @ self.x + self.o[[0, 2], None]

    # -- physics ---------------------------------------------------------------------
    def apply_linear(self, r: np.ndarray, d: np.ndarray | None) -> None:
        self.p = r @ self.p
        self.o = r @ self.o if d is None else r @ self.o + d
        self._moments = None

    def apply_track(self, model: ElementModel, kin: Kinematics, n: int) -> None:
        self.materialise()
        if self.x.shape[1]:
            self.x = model.track(self.x, kin)
            bad = ~np.all(np.isfinite(self.x), axis=0)
            if bad.any():
                self._lose(bad, n)
        self._refresh()

    def apply_space_charge(
        self,
        model: ElementModel,
        kin: Kinematics,
        exit_kin: Kinematics,
        n: int,
        mesh: MeshSpaceCharge,
        chromatic: bool,
    ) -> None:
        """Through element n with space-charge kicks from the particles themselves: cut
        into slices of at most ``mesh.step_m`` (half slice, kick, half slice) when the
        element can be cut, kicked between integration steps inside RF field maps; else
        a half-length kick at each end (RF elements: the entry and exit kinematics)."""
        length = float(np.asarray(model.length_m).reshape(-1)[0])
        self.materialise()
        if self.x.shape[1] == 0:
            self._refresh()
            return
        slices = max(1, int(np.ceil(length / mesh.step_m - 1e-9)))
        half = 0.5 / slices
        if model.needs_particles(chromatic):

            def part(y: np.ndarray, fraction: float) -> np.ndarray | None:
                return model.track_slice(y, kin, fraction)

        else:

            def part(y: np.ndarray, fraction: float) -> np.ndarray | None:
                return model.matrix(kin, fraction)[0] @ y if model.cuttable else None

        inner = model.track_space_charge(self.x, kin, mesh)
        if inner is not None:  # kicked inside (RF maps)
            self.x = inner
            bad = ~np.all(np.isfinite(inner), axis=0)
            if bad.any():
                self._lose(bad, n)
            self._refresh()
            return
        x = None if model.accelerating else part(self.x, half)
        if x is None:  # tracked whole, kicked at both ends
            self._kick(mesh, kin, 0.5 * length)
            self.apply_track(model, kin, n)
            self.materialise()
            self._kick(mesh, exit_kin, 0.5 * length)
            return
        for i in range(slices):
            mesh.kick(x, kin, length / slices)
            x = part(x, 2 * half if i < slices - 1 else half)
        d = model.kick(kin)
        if d is not None:
            x += d[0][:, None]
        self.x = x
        bad = ~np.all(np.isfinite(x), axis=0)
        if bad.any():
            self._lose(bad, n)
        self._refresh()

    def _kick(self, mesh: MeshSpaceCharge, kin: Kinematics, length: float) -> None:
        """A space-charge kick of ``length`` [m] on the materialised particles."""
        x = self.x.copy()  # self.x may be the caller's array: never written in place
        mesh.kick(x, kin, length)
        self.x = x
        self._refresh()

    def check(self, ap: tuple | None, n: int) -> None:
        """Lose the particles outside aperture ``ap`` = (circular, rx, ry, dx, dy) [mm]."""
        if ap is None or self.x.shape[1] == 0:
            return
        if self.r_max is not None and self._surely_inside(ap):
            return
        circular, rx, ry, dx, dy = ap
        xy = self.positions()
        x, y = xy[0] * 1e3 - dx, xy[1] * 1e3 - dy
        inside = (x * x + y * y <= rx * rx) if circular else (np.abs(x) <= rx) & (np.abs(y) <= ry)
        if not inside.all():
            self.materialise()
            self._lose(~inside, n)
            self._refresh()

    def _surely_inside(self, ap: tuple) -> bool:
        circular, rx, ry, dx, dy = ap
        c, s = self.moments()
        cx = abs(c[0] * 1e3 - dx) + self.r_max * np.sqrt(max(s[0, 0], 0.0)) * 1e3
        cy = abs(c[2] * 1e3 - dy) + self.r_max * np.sqrt(max(s[2, 2], 0.0)) * 1e3
        if circular:
            return cx * cx + cy * cy <= rx * rx
        return cx <= rx and cy <= ry

    def _lose(self, mask: np.ndarray, n: int) -> None:
        gone = self.idx[mask]
        if self.all is None:
            self.all = np.zeros((6, self.n0))
        self.all[:, gone] = self.x[:, mask]
        self.lost_at[gone] = n
        self.idx = self.idx[~mask]
        self.x = self.x[:, ~mask]

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Every particle's current coordinates and loss element."""
        self.materialise()
        if self.all is None:
            return self.x, self.lost_at
        self.all[:, self.idx] = self.x
        return self.all, self.lost_at


def aperture_tuple(model: ElementModel) -> tuple | None:
    """(circular, rx, ry, dx, dy) [mm] of the model's aperture (batch entry 0), or None."""
    ap = model.aperture()
    if ap is None or float(np.atleast_1d(ap.rx)[0]) <= 0:
        return None
    first = [float(np.atleast_1d(v)[0]) for v in (ap.rx, ap.ry, ap.dx, ap.dy)]
    return (ap.kind == "circular", *first)


def track_particles(
    models: list[ElementModel],
    kin: Kinematics | Sequence[Kinematics],
    coords: np.ndarray,
    *,
    chromatic: bool = True,
    extremes: bool = True,
    on_element: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    maps: np.ndarray | None = None,
    kicks: np.ndarray | None = None,
    apertures: list[tuple | None] | None = None,
    space_charge: np.ndarray | None = None,
    mesh: MeshSpaceCharge | None = None,
) -> ParticleTrack:
    """Track particles through every element, losing those outside apertures.

    Apertures are tested at each element's entrance and exit. Args:
        kin: the reference kinematics, or one per element (its entry) when RF elements
            change the energy along the line.
        chromatic: per-particle strengths in quadrupoles, solenoids and steerers (else
            the reference particle's linear maps, as Cheetah's ParticleBeam does).
        extremes: compute max |x|, |y| at every element (one pass over the particles per
            element); without it those columns are 0 and linear stretches cost nothing.
        on_element: called as ``on_element(n, coords, lost_at)`` with every particle after
            element n (n = 0: the input); forces materialisation at every element.
        maps, kicks: the elements' linear maps (rows, 6, 6) and kicks (rows, 6) when
            already computed (row n = element n); else computed here.
        apertures: per element, (circular, rx, ry, dx, dy) [mm] or None, when known.
        space_charge: (rows, 6, 6) linear space-charge map of each element (envelope mode's,
            :func:`track_envelope_space_charge`), applied after elements whose particles
            are tracked individually (``maps`` already include it for the others).
        mesh: space charge from the particles themselves (:mod:`.spacecharge_mesh`),
            kicked every ``mesh.step_m`` along elements longer than zero (``maps`` must
            then leave space charge out). ``kin`` must then give the exit of the last
            element too (rows entries).
    """
    rows = len(models) + 1
    t = _Tracker(coords)
    cen = np.zeros((rows, 6))
    sig = np.zeros((rows, 6, 6))
    npart = np.zeros(rows)
    xmax = np.zeros(rows)
    ymax = np.zeros(rows)

    def record(n: int) -> None:
        cen[n], sig[n] = t.moments()
        npart[n] = t.x.shape[1]
        if extremes and t.x.shape[1]:
            xy = t.positions()
            xmax[n], ymax[n] = np.abs(xy).max(axis=1)
        if on_element is not None:
            all_coords, lost = t.snapshot()
            on_element(n, all_coords, lost)

    record(0)
    previous = None
    kins = [kin] * rows if isinstance(kin, Kinematics) else list(kin)
    if mesh is not None and len(kins) != rows:
        raise ValueError(f"mesh space charge needs {rows} kinematics (every entry and the exit)")
    for n, model in enumerate(models, start=1):
        kin = kins[n - 1]
        ap = apertures[n - 1] if apertures is not None else aperture_tuple(model)
        if ap != previous:  # the previous exit was tested against this very aperture
            t.check(ap, n)
        previous = ap
        if mesh is not None and float(np.asarray(model.length_m).reshape(-1)[0]) > 0:
            t.apply_space_charge(model, kin, kins[n], n, mesh, chromatic)
        elif model.needs_particles(chromatic):
            t.apply_track(model, kin, n)
            if space_charge is not None and not np.allclose(space_charge[n], np.eye(6)):
                t.apply_linear(space_charge[n], None)
        elif maps is not None:
            d = None if kicks is None or not kicks[n].any() else kicks[n]
            t.apply_linear(maps[n], d)
        else:
            d = model.kick(kin)
            t.apply_linear(model.matrix(kin)[0], None if d is None else d[0])
        t.check(ap, n)
        record(n)
    all_coords, lost = t.snapshot()
    return ParticleTrack(all_coords, lost.copy(), cen, sig, npart, xmax, ymax)
