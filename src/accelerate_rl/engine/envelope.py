"""Envelope mode: 6x6 sigma-matrix and centroid transport, batched over settings.

sigma_n = C_n sigma_0 C_n^T and centroid_n = C_n (c_0 + sum_{j<=n} C_j^-1 d_j), where
C_n = R_n ... R_1 is the cumulative map to element n's exit and d_j a steering kick.
The maps of a lattice at its base settings and their cumulative products are computed
once (:class:`BaseMaps`); a run with ``ele[n][v]`` overrides recomputes only the segments
downstream of the touched elements, in a handful of vectorised products instead of a
Python loop over elements. A batch of B settings travels as (rows, B, 6, 6) arrays.

Transmission in envelope mode is an estimate: the fraction of a Gaussian beam with the
computed centroid and rms sizes inside each aperture (a circular aperture of radius R is
taken as the square of equal area), the running minimum along the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt

import numpy as np
from scipy.special import erf

from .elements import Aperture, ElementModel
from .profile import EnergyProfile

#: Longest slice [m] between space-charge kicks in envelope mode.
SPACE_CHARGE_STEP = 0.01


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
    kicks: np.ndarray | None = None
    space_charge: np.ndarray | None = None


@dataclass
class Apertures:
    """Per-row aperture arrays (rows, B): half-widths [m], offsets [m], circular flag."""

    rx: np.ndarray
    ry: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    circular: np.ndarray
    radius_mm: np.ndarray

    def rows(self, index: int | np.ndarray) -> Apertures:
        """The apertures of row(s) ``index`` (an int or an index array)."""
        return Apertures(
            *(a[index] for a in (self.rx, self.ry, self.dx, self.dy, self.circular, self.radius_mm))
        )


def aperture_rows(models: list[ElementModel], batch: int) -> Apertures:
    """The apertures of ``models`` as rows 1..n (row 0, the input, has none)."""
    rows = len(models) + 1
    rx, ry, dx, dy = (np.zeros((rows, batch)) for _ in range(4))
    circ = np.zeros((rows, batch), dtype=bool)
    radius = np.zeros((rows, batch))
    for i, m in enumerate(models, start=1):
        ap: Aperture | None = m.aperture()
        if ap is None:
            continue
        radius[i] = np.broadcast_to(ap.rx, (batch,))
        rx[i] = radius[i] * 1e-3
        ry[i] = np.broadcast_to(ap.ry, (batch,)) * 1e-3
        dx[i] = np.broadcast_to(ap.dx, (batch,)) * 1e-3
        dy[i] = np.broadcast_to(ap.dy, (batch,)) * 1e-3
        circ[i] = ap.kind == "circular"
    return Apertures(rx, ry, dx, dy, circ, radius)


def fraction_inside(lo, hi, mu, sig):
    """The fraction of a Gaussian (centre ``mu``, rms ``sig``) inside [lo, hi]."""
    sig = np.maximum(sig, 1e-300)
    return 0.5 * (erf((hi - mu) / (sig * sqrt(2.0))) - erf((lo - mu) / (sig * sqrt(2.0))))


def gaussian_transmission(ap: Apertures, centroid: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(rows, B) running-minimum Gaussian transmission through the apertures."""
    frac = aperture_fraction(
        ap, centroid[..., 0], centroid[..., 2], sigma[..., 0, 0], sigma[..., 2, 2]
    )
    return np.minimum.accumulate(frac, axis=0)


def aperture_fraction(
    ap: Apertures, cx: np.ndarray, cy: np.ndarray, sxx: np.ndarray, syy: np.ndarray
) -> np.ndarray:
    """The fraction of a Gaussian beam inside each aperture (1 where there is none), from
    centroids ``cx``, ``cy`` [m] and second moments ``sxx``, ``syy`` [m^2] broadcasting
    with the aperture arrays."""
    half = np.sqrt(np.pi) / 2
    rx = np.where(ap.circular, ap.rx * half, ap.rx)
    ry = np.where(ap.circular, ap.rx * half, ap.ry)
    sx = np.sqrt(np.maximum(sxx, 0))
    sy = np.sqrt(np.maximum(syy, 0))
    fx = fraction_inside(ap.dx - rx, ap.dx + rx, cx, sx)
    fy = fraction_inside(ap.dy - ry, ap.dy + ry, cy, sy)
    return np.where(ap.rx > 0, fx * fy, 1.0)


def _broadcast(ap: Apertures, rows: int, batch: int) -> Apertures:
    if batch == 1:
        return ap
    return Apertures(
        *(
            np.broadcast_to(a, (rows, batch))
            for a in (ap.rx, ap.ry, ap.dx, ap.dy, ap.circular, ap.radius_mm)
        )
    )


def _with_fresh_apertures(
    base: Apertures, models: list[ElementModel], fresh: list[int], batch: int
) -> Apertures:
    """Base apertures with the rows of overridden elements recomputed."""
    rows = len(models) + 1
    out = Apertures(
        *(
            np.broadcast_to(a, (rows, batch)).copy()
            for a in (base.rx, base.ry, base.dx, base.dy, base.circular, base.radius_mm)
        )
    )
    for k in fresh:
        one = aperture_rows([models[k - 1]], batch)
        for name in ("rx", "ry", "dx", "dy", "circular", "radius_mm"):
            getattr(out, name)[k] = getattr(one, name)[1]
    return out


#: Largest entry [m, rad] of a cumulative transfer map the envelope accepts: beyond it a
#: map's inverse (used to splice in overridden elements) has no significant digit left.
MAX_CUMULATIVE_GROWTH = 1e7


class BaseMaps:
    """Element maps, kicks and cumulative maps of a lattice at its base settings.

    Built once per reference particle (input energy, species) and reused by every run;
    each element's map is taken at its entry energy (``profile``).
    """

    def __init__(self, models: list[ElementModel], profile: EnergyProfile) -> None:
        self.profile = profile
        n = len(models)
        self.maps = np.empty((n + 1, 1, 6, 6))
        self.maps[0] = np.eye(6)
        self.kicks = np.zeros((n + 1, 1, 6))
        self.has_kick = np.zeros(n + 1, dtype=bool)
        for i, m in enumerate(models, start=1):
            kin = profile.entry(i)
            self.maps[i] = m.matrix(kin)
            d = m.kick(kin)
            if d is not None:
                self.kicks[i] = d
                self.has_kick[i] = True
        self.cumulative = np.empty_like(self.maps)
        acc = np.eye(6)
        for i in range(n + 1):
            acc = self.maps[i, 0] @ acc
            self.cumulative[i, 0] = acc
            growth = float(np.abs(acc).max())
            if not growth <= MAX_CUMULATIVE_GROWTH:  # also NaN
                raise ValueError(
                    f"{models[i - 1].source.describe()}: the lattice's transfer map up to "
                    f"this element grows the beam by {growth:.3g} (unstable optics: the beam "
                    "is lost, and the map is beyond floating-point precision); check the "
                    "settings of the focusing and RF elements before it"
                )
        self.inverse = np.linalg.inv(self.cumulative)
        self.lengths_mm = np.array([0.0] + [float(m.length_m[0]) * 1e3 for m in models])[:, None]
        self.apertures = aperture_rows(models, 1)
        self.aperture_tuples = [
            None if not a else (bool(c), float(r), float(ry), float(dx), float(dy))
            for a, c, r, ry, dx, dy in zip(
                self.apertures.rx[1:, 0] > 0,
                self.apertures.circular[1:, 0],
                self.apertures.radius_mm[1:, 0],
                self.apertures.ry[1:, 0] * 1e3,
                self.apertures.dx[1:, 0] * 1e3,
                self.apertures.dy[1:, 0] * 1e3,
            )
        ]


def track_envelope(
    models: list[ElementModel],
    profile: EnergyProfile,
    sigma0: np.ndarray,
    centroid0: np.ndarray,
    batch: int,
    npart: int,
    base: BaseMaps,
    fresh: set[int] = frozenset(),
) -> Track:
    """Transport the beam's moments through ``models``.

    Args:
        models: element models (those in ``fresh`` carry overridden settings).
        sigma0: (6, 6) input second moments, or (B, 6, 6) one per setting; centroid0:
            (6,) input centroid, or (B, 6).
        batch: B, the number of settings. base: the lattice's base maps.
        profile: the reference energy along ``models`` (maps at each entry energy).
        fresh: numbers (1-based) of the elements whose maps must be recomputed.
    """
    n = len(models)
    rows = n + 1
    maps, kicks, has_kick = base.maps, base.kicks, base.has_kick.copy()
    cum = base.cumulative
    lengths = base.lengths_mm
    ap = base.apertures
    if fresh:
        order = sorted(fresh)
        maps = np.broadcast_to(maps, (rows, batch, 6, 6)).copy()
        kicks = np.broadcast_to(kicks, (rows, batch, 6)).copy()
        lengths = np.broadcast_to(lengths, (rows, batch)).copy()
        new_cum = np.broadcast_to(cum, (rows, batch, 6, 6)).copy()
        for idx, k in enumerate(order):
            model = models[k - 1]
            kin = profile.entry(k)
            maps[k] = model.matrix(kin)
            d = model.kick(kin)
            kicks[k] = 0.0 if d is None else d
            has_kick[k] = d is not None
            lengths[k] = model.length_m * 1e3
            end = order[idx + 1] if idx + 1 < len(order) else rows
            # C'_m = (C_m C_k^-1) R'_k C'_{k-1} for m in [k, end)
            head = maps[k] @ new_cum[k - 1]  # (B, 6, 6)
            new_cum[k:end] = (cum[k:end] @ base.inverse[k]) @ head
        cum = new_cum
        ap = _with_fresh_apertures(base.apertures, models, order, batch)
    elif batch > 1:
        cum = np.broadcast_to(cum, (rows, batch, 6, 6))
        maps = np.broadcast_to(maps, (rows, batch, 6, 6))
        lengths = np.broadcast_to(lengths, (rows, batch))
        ap = _broadcast(ap, rows, batch)
    sigma = cum @ sigma0 @ np.swapaxes(cum, -1, -2)
    centroid = (cum @ centroid0[..., None])[..., 0]
    for j in np.flatnonzero(has_kick):
        d = np.broadcast_to(kicks[j], (batch, 6))
        local = np.linalg.solve(cum[j], d[..., None])[..., 0]  # C_j^-1 d_j, (B, 6)
        centroid[j:] += np.einsum("rbij,bj->rbi", cum[j:], local)
    return _moments_track(centroid, sigma, cum, maps, lengths, ap, npart, kicks)


def track_envelope_space_charge(
    models: list[ElementModel],
    profile: EnergyProfile,
    sigma0: np.ndarray,
    centroid0: np.ndarray,
    npart: int,
    current_ma: float,
    freq_mhz: float,
    step_m: float = SPACE_CHARGE_STEP,
) -> Track:
    """Envelope transport with linear space charge (:mod:`.spacecharge`), one setting.

    Every element longer than zero is cut into slices of at most ``step_m`` [m], each a
    half slice, the space-charge kick of the whole slice from the moments there, and
    another half slice (second order in the step). An RF map gets half its length of
    kick at each end. The centroid follows the external fields only; ``cumulative`` and
    ``element_maps`` include the linearised space charge (depressed phase advances);
    ``space_charge[n]`` is element n's map with space charge times its inverse without.
    """
    from .spacecharge import kick_matrix

    n = len(models)
    rows = n + 1
    sigma = np.empty((rows, 1, 6, 6))
    centroid = np.empty((rows, 1, 6))
    cum = np.empty((rows, 1, 6, 6))
    maps = np.empty((rows, 1, 6, 6))
    sc = np.empty((rows, 6, 6))
    kicks = np.zeros((rows, 1, 6))
    lengths = np.zeros((rows, 1))
    s, c, total = np.array(sigma0, dtype=float), np.array(centroid0, dtype=float), np.eye(6)
    sigma[0, 0], centroid[0, 0], cum[0, 0], maps[0, 0], sc[0] = s, c, total, np.eye(6), np.eye(6)
    for i, model in enumerate(models, start=1):
        kin = profile.entry(i)
        length = float(np.asarray(model.length_m).reshape(-1)[0])
        external = model.matrix(kin)[0]
        if length > 0 and not model.accelerating and model.cuttable:
            slices = max(1, int(np.ceil(length / step_m - 1e-9)))
            half = model.matrix(kin, 0.5 / slices)[0]
            element = np.eye(6)
            for _ in range(slices):
                mid = half @ s @ half.T
                step = half @ kick_matrix(mid, kin, current_ma, freq_mhz, length / slices) @ half
                s = step @ s @ step.T
                element = step @ element
        elif length > 0:
            first = kick_matrix(s, kin, current_ma, freq_mhz, length / 2)
            inner = external @ first
            after = inner @ s @ inner.T
            exit_kin = profile.kinematics[i]
            element = kick_matrix(after, exit_kin, current_ma, freq_mhz, length / 2) @ inner
            s = element @ s @ element.T
        else:
            element = external
            s = element @ s @ element.T
        d = model.kick(kin)
        c = external @ c + (0.0 if d is None else d[0])
        if d is not None:
            kicks[i, 0] = d[0]
        total = element @ total
        sigma[i, 0], centroid[i, 0], cum[i, 0], maps[i, 0] = s, c, total, element
        sc[i] = element @ np.linalg.inv(external)
        lengths[i, 0] = length * 1e3
    ap = aperture_rows(models, 1)
    return _moments_track(centroid, sigma, cum, maps, lengths, ap, npart, kicks, sc)


def _moments_track(
    centroid: np.ndarray,
    sigma: np.ndarray,
    cum: np.ndarray,
    maps: np.ndarray,
    lengths: np.ndarray,
    ap: Apertures,
    npart: int,
    kicks: np.ndarray,
    space_charge: np.ndarray | None = None,
) -> Track:
    """The Track of envelope moments (rows, B, ...) with positions, transmission, npart."""
    rows, batch = centroid.shape[:2]
    transmission = gaussian_transmission(ap, centroid, sigma)
    return Track(
        numbers=np.arange(rows),
        z=np.cumsum(lengths, axis=0) * 1e-3,
        centroid=centroid,
        sigma=sigma,
        cumulative=cum,
        element_maps=maps,
        lengths_mm=lengths,
        aperture=ap.radius_mm,
        transmission=transmission,
        npart=float(npart) * transmission,  # the estimated survivors, as tracewin.out's npart
        kicks=kicks,
        space_charge=space_charge,
    )
