"""Batched settings of a few knobs: the lattice between the knobs multiplied once.

A batch of B settings overrides a few elements, the knobs k_1 < ... < k_j; every other
element keeps its base map. The affine maps (R, d) (6x6 map, steering kick) of the
stretches before, between and after the knobs are multiplied once per reference particle
and set of knobs (:class:`Stretches`, cached by the engine), so a batch costs 2 j + 1
products of (B, 6, 6) arrays (numpy matmul over the leading batch axis) instead of one
per element. Observed elements (``exits``: the beam wanted at their exit, e.g. an RL
task's metrics) cut the lattice too: an observed element that is not a knob is applied
with its base map, and the moments after it are recorded.

Transmission (:mod:`.envelope`'s Gaussian estimate, the minimum along the line) needs the
beam at every aperture. Inside a stretch the beam at aperture row m is the fixed linear
image P_m of the beam (S_b, c_b) at the stretch's start, so every setting's sigma_xx,
sigma_yy at every aperture is one (B, 21) x (21, 2M) matrix product of S_b's upper
triangle with P_m's coefficients (and the centroids a (B, 6) x (6, 2M) one). Where the
beam is more than 6 sqrt(2) sigma inside the aperture on both sides its fraction inside
is exactly 1 (erf(x) rounds to 1 for x > 5.93 in double precision); the error function
is evaluated only elsewhere. Results equal :func:`.envelope.track_envelope`'s to
rounding (~1e-15 relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .envelope import Apertures, BaseMaps, aperture_fraction, fraction_inside

#: Gaussian argument beyond which erf is exactly +-1 in double precision (5.93), with margin.
ERF_SATURATES = 6.0
#: Upper-triangle entries (i <= j) of a 6x6 matrix, as flat indices.
_UPPER = np.array([6 * i + j for i in range(6) for j in range(i, 6)])
#: Settings x aperture planes evaluated at once (bounds the temporary arrays, 8 MB each).
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Stretch:
    """Base elements after row ``start`` up to the next knob (or the end).

    Columns 0..M-1 of the arrays are the x plane at the stretch's M aperture rows,
    columns M..2M-1 the y plane.

    Attributes:
        start: the row whose beam the stretch carries (0, the input, or a knob's exit).
        quad: (21, 2M) coefficients of sigma_xx, sigma_yy [m^2] at each aperture in the
            upper triangle of the beam's sigma at ``start``.
        lin: (6, 2M) x, y [m] at each aperture from the centroid at ``start``; offset:
            (2M,) the kicks' share.
        half: (2M,) the apertures' half widths [m] (circular: of the square of equal
            area); centre: (2M,) their offsets [m].
        map, shift: the (6, 6) map and (6,) kick image from ``start`` to the stretch's end.
    """

    start: int
    quad: np.ndarray
    lin: np.ndarray
    offset: np.ndarray
    half: np.ndarray
    centre: np.ndarray
    map: np.ndarray
    shift: np.ndarray

    @property
    def apertures(self) -> int:
        return self.quad.shape[1] // 2


class Stretches:
    """The base lattice (``base``) cut at ``knobs`` (1-based element numbers, ascending)
    and at the exits of the elements in ``exits`` (0, the input beam, .. n)."""

    def __init__(self, base: BaseMaps, knobs: tuple[int, ...], exits: tuple[int, ...] = ()) -> None:
        rows = base.maps.shape[0]
        cuts = sorted(set(knobs) | {e for e in exits if e > 0})
        bounds = (0, *cuts, rows)
        ap = base.apertures
        self.base = base
        self.knobs = knobs
        self.exits = exits
        #: per stretch after the first, the knob index of its start element, or None
        #: (a base element cut for its exit)
        self.knob_at = [knobs.index(c) if c in knobs else None for c in cuts]
        self.stretches: list[_Stretch] = []
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            r, d = np.eye(6), np.zeros(6)
            at, proj, offset = [], [], []
            for m in range(start + 1, stop):
                r = base.maps[m, 0] @ r
                d = base.maps[m, 0] @ d + base.kicks[m, 0]
                if ap.rx[m, 0] > 0:
                    at.append(m)
                    proj.append(r[[0, 2]])
                    offset.append(d[[0, 2]])
            p = np.array(proj).reshape(-1, 2, 6).transpose(1, 0, 2).reshape(-1, 6)  # (2M, 6)
            weight = np.where(_UPPER // 6 == _UPPER % 6, 1.0, 2.0)
            quad = (p[:, :, None] * p[:, None, :]).reshape(-1, 36)[:, _UPPER] * weight
            sub = ap.rows(np.array(at, dtype=np.intp))
            square = np.sqrt(np.pi) / 2
            rx = np.where(sub.circular, sub.rx * square, sub.rx)[:, 0]
            ry = np.where(sub.circular, sub.rx * square, sub.ry)[:, 0]
            self.stretches.append(
                _Stretch(
                    start,
                    quad.T.copy(),
                    p.T.copy(),
                    np.array(offset).reshape(-1, 2).T.reshape(-1),
                    np.concatenate([rx, ry]),
                    np.concatenate([sub.dx[:, 0], sub.dy[:, 0]]),
                    r,
                    d,
                )
            )


def track_knobs(
    stretches: Stretches,
    knob_maps: list[tuple[np.ndarray, np.ndarray | None]],
    knob_apertures: list[Apertures],
    sigma0: np.ndarray,
    centroid0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The final moments and transmission of a batch, and the moments at the exits of
    ``stretches.exits``.

    Args:
        stretches: the base lattice cut at the knobs.
        knob_maps: per knob, its (B, 6, 6) map and (B, 6) kick (or None) at its entry
            energy.
        knob_apertures: per knob, its aperture with arrays of shape (B,).
        sigma0: (6, 6) input second moments, or (B, 6, 6) one per setting (the stretches'
            maps depend on the reference particle only, not on the beam's moments);
            centroid0: (6,) input centroid, or (B, 6).

    Returns:
        sigma (B, 6, 6), centroid (B, 6) at the end, transmission (B,) [0..1]; sigma
        (E, B, 6, 6) and centroid (E, B, 6) at the E exits (B is 1 when neither the
        input beam nor the knobs vary).
    """
    s = np.asarray(sigma0, dtype=float).reshape(-1, 6, 6)
    c = np.asarray(centroid0, dtype=float).reshape(-1, 6)
    trans = np.ones(1)
    seen = {0: (s, c)}
    base = stretches.base
    for i, stretch in enumerate(stretches.stretches):
        if i:
            j = stretches.knob_at[i - 1]
            if j is None:  # a base element cut for its exit: its (6, 6) map, arrays (1,)
                m = stretch.start
                r, d, ap = base.maps[m, 0], base.kicks[m, 0], base.apertures.rows(m)
            else:
                (r, d), ap = knob_maps[j], knob_apertures[j]
            s = r @ s @ np.swapaxes(r, -1, -2)
            c = (r @ c[..., None])[..., 0]
            if d is not None:
                c = c + d
            frac = aperture_fraction(ap, c[:, 0], c[:, 2], s[:, 0, 0], s[:, 2, 2])
            trans = np.minimum(trans, frac)
            seen[stretch.start] = (s, c)
        if stretch.apertures:
            trans = np.minimum(trans, _stretch_fraction(stretch, s, c))
        s = _congruence(stretch.map, s)
        c = c @ stretch.map.T + stretch.shift
    seen[base.maps.shape[0] - 1] = (s, c)
    width = max(len(s), len(c))  # the beams before are as wide or (1,)
    sig_at = np.empty((len(stretches.exits), width, 6, 6))
    cen_at = np.empty((len(stretches.exits), width, 6))
    for k, e in enumerate(stretches.exits):
        sig_at[k], cen_at[k] = seen[e]
    return s, c, trans, sig_at, cen_at


def _congruence(m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """m s_b m^T for a fixed (6, 6) ``m`` and symmetric (B, 6, 6) ``s``, as two plain
    matrix products (m s_b is (s_b m^T)^T)."""
    y = s.reshape(-1, 6) @ m.T  # rows of s_b m^T
    z = np.swapaxes(y.reshape(-1, 6, 6), 1, 2).reshape(-1, 6) @ m.T
    return z.reshape(-1, 6, 6)


def _stretch_fraction(stretch: _Stretch, s: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(B,) the smallest Gaussian fraction inside the stretch's apertures, from the beam
    (B, 6, 6), (B, 6) at its start."""
    nb, planes = s.shape[0], stretch.quad.shape[1]
    step = max(1, _CHUNK // planes)
    if nb > step:
        return np.concatenate(
            [
                _stretch_fraction(stretch, s[i : i + step], c[i : i + step])
                for i in range(0, nb, step)
            ]
        )
    var = s.reshape(nb, 36)[:, _UPPER] @ stretch.quad  # (B, 2M) sigma_xx, sigma_yy
    if c.any() or stretch.offset.any():
        mu = np.broadcast_to(c, (nb, 6)) @ stretch.lin + stretch.offset
        margin = stretch.half - np.abs(mu - stretch.centre)
    else:
        mu = None
        margin = stretch.half - np.abs(stretch.centre)
    # erf saturates where margin > ERF_SATURATES * sqrt(2) * sigma on both sides
    limit = np.where(margin > 0, margin * margin / (2 * ERF_SATURATES**2), -np.inf)
    doubt = np.nonzero(var >= limit)
    if not len(doubt[0]):
        return np.ones(nb)
    col = doubt[1]
    inside = fraction_inside(
        stretch.centre[col] - stretch.half[col],
        stretch.centre[col] + stretch.half[col],
        0.0 if mu is None else mu[doubt],
        np.sqrt(np.maximum(var[doubt], 0)),
    )
    frac = var  # reused: a fresh (B, 2M) array costs more in page faults than the maths
    frac.fill(1.0)
    frac[doubt] = inside
    m = stretch.apertures
    np.multiply(frac[:, :m], frac[:, m:], out=frac[:, :m])
    return frac[:, :m].min(axis=1)
