"""SUPERPOSE_MAP blocks: field maps placed in one frame, their fields summed, and the
block's exit frame from SUPERPOSE_MAP_OUT (a bending block turns the reference).

Reading of the commands (confidence: see the README's field-map section):

* ``SUPERPOSE_MAP z0 [x0 y0 ...]`` before a FIELD_MAP: that map starts z0 [mm] after the
  block's entry. A block is a run of FIELD_MAPs each preceded by SUPERPOSE_MAP (or the
  first by SUPERPOSE_MAP_OUT); any other element ends it. The block spans
  max(z0 + L); every map keeps its element number (the first one carries the block, the
  others are zero-length rows at its exit). x0, y0 and angles without SUPERPOSE_MAP_OUT
  are ignored, as HELIX reports TraceWin does (a note says so when they are not 0).
* ``SUPERPOSE_MAP_OUT z x y z' theta_x theta_y [theta_z]`` [mm, deg]: the exit plane of
  the block, its origin at (x, y, z) in the entry frame and its axis turned by theta_y
  about y (and theta_x about x). The sign is read from ADIGE's dipole
  (``SUPERPOSE_MAP_OUT 1050 1050 0 0 0 -90`` after a bend towards +x): theta_y = -90
  turns the axis from +z to +x. z' and theta_z must be 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .field_sampler import FieldSum
from .species import C_LIGHT


@dataclass(frozen=True)
class ExitFrame:
    """The exit plane of a bending block: origin [m] and the exit frame's axes (columns
    x', y', z' in the entry frame)."""

    origin: tuple[float, float, float]
    theta_x: float = 0.0
    theta_y: float = 0.0

    @property
    def axes(self) -> np.ndarray:
        ty, tx = np.deg2rad(self.theta_y), np.deg2rad(self.theta_x)
        # about y: z -> (-sin ty, 0, cos ty), x -> (cos ty, 0, sin ty); then about x
        ry = np.array([[np.cos(ty), 0, -np.sin(ty)], [0, 1, 0], [np.sin(ty), 0, np.cos(ty)]])
        rx = np.array([[1, 0, 0], [0, np.cos(tx), np.sin(tx)], [0, -np.sin(tx), np.cos(tx)]])
        return ry @ rx

    @classmethod
    def parse(cls, values: list[float], where: str) -> ExitFrame:
        v = list(values) + [0.0] * (7 - len(values))
        if v[3] or v[6]:
            raise ValueError(
                f"SUPERPOSE_MAP_OUT ({where}): only (z, x, y, 0, theta_x, theta_y) is "
                "supported (the 4th and 7th values must be 0)"
            )
        return cls((v[1] * 1e-3, v[2] * 1e-3, v[0] * 1e-3), v[4], v[5])


@dataclass
class SuperposeBlock:
    """Element numbers of one block, each map's z0 [m], and the exit frame (None: the
    block is straight, its exit plane z = span)."""

    numbers: list[int] = field(default_factory=list)
    offsets: dict[int, float] = field(default_factory=dict)
    exit: ExitFrame | None = None

    @property
    def carrier(self) -> int:
        return self.numbers[0]

    @property
    def trivial(self) -> bool:
        """One map at z0 = 0 and no exit frame: the map alone."""
        return (
            len(self.numbers) == 1
            and self.exit is None
            and not self.offsets.get(self.numbers[0], 0.0)
        )


def _rates_t(fields: FieldSum, s: np.ndarray, q: float, mass: float) -> np.ndarray:
    """d/dt of (x, y, z [m], px, py, pz [MeV/c]) in static fields."""
    x, y, z, px, py, pz = s
    e, b, _ = fields.fields(x, y, z)
    energy = np.sqrt(px * px + py * py + pz * pz + mass * mass)
    vx, vy, vz = C_LIGHT * px / energy, C_LIGHT * py / energy, C_LIGHT * pz / energy
    out = np.empty_like(s)
    out[0], out[1], out[2] = vx, vy, vz
    k = q * C_LIGHT
    out[3] = k * (e[0] + 1e-6 * (vy * b[2] - vz * b[1]))
    out[4] = k * (e[1] + 1e-6 * (vz * b[0] - vx * b[2]))
    out[5] = k * (e[2] + 1e-6 * (vx * b[1] - vy * b[0]))
    return out


def _rk4(fields, s, h, q, mass):
    k1 = _rates_t(fields, s, q, mass)
    k2 = _rates_t(fields, s + 0.5 * h * k1, q, mass)
    k3 = _rates_t(fields, s + 0.5 * h * k2, q, mass)
    k4 = _rates_t(fields, s + h * k3, q, mass)
    return s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def integrate_to_plane(
    fields: FieldSum,
    state: np.ndarray,
    frame: ExitFrame,
    step_m: float,
    charge: float,
    mass: float,
    max_length: float,
) -> np.ndarray:
    """Integrate particles through static fields in time (RK4, steps of ``step_m`` of
    path) from the entry plane z = 0 to the exit plane of ``frame``.

    ``state`` (6, N): x, y, px, py, pz [MeV/c], t [s] at the entry plane (the integrator
    module's layout). Returns the same layout in the exit frame at its plane: x', y',
    px', py', pz', t; particles that do not reach the plane within ``max_length`` [m] of
    path are NaN.
    """
    x, y, px, py, pz, t0 = state
    s = np.stack([x, y, np.zeros_like(x), px, py, pz])
    p = np.sqrt(px * px + py * py + pz * pz)
    speed = C_LIGHT * float(np.nanmax(p / np.sqrt(p * p + mass * mass)))
    h = step_m / speed
    axes = frame.axes
    normal = axes[:, 2]
    origin = np.asarray(frame.origin)[:, None]

    def distance(st):
        return normal @ (st[:3] - origin)

    elapsed = np.zeros_like(x)
    done = np.zeros(x.shape, dtype=bool)
    before = s.copy()
    before_t = np.zeros_like(x)
    steps = int(np.ceil(max_length / step_m)) + 1
    clock = 0.0
    for _ in range(steps):
        new = _rk4(fields, s, h, charge, mass)
        crossed = (~done) & (distance(new) >= 0)
        before[:, crossed], before_t[crossed] = s[:, crossed], clock
        done |= crossed
        s, clock = new, clock + h
        if done.all():
            break
    # the last partial step of each particle, solved by two Newton steps in time
    out, dt_total = before.copy(), before_t.copy()
    for _ in range(3):
        velocity = _rates_t(fields, out, charge, mass)[:3]
        dt = -distance(out) / (normal @ velocity)
        dt = np.where(np.isfinite(dt), dt, 0.0)
        out = _rk4(fields, out, dt, charge, mass)
        dt_total = dt_total + dt
    elapsed = dt_total
    rel = axes.T @ (out[:3] - origin)
    mom = axes.T @ out[3:]
    result = np.stack([rel[0], rel[1], mom[0], mom[1], mom[2], t0 + elapsed])
    result[:, ~done] = np.nan
    return result
