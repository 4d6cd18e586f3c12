"""Multiparticle space charge: a 3D particle-in-cell Poisson solver with open boundaries.

The field of the macroparticles themselves (not of an equivalent ellipsoid, as in
:mod:`.spacecharge`), so non-linear forces, halo formation and emittance growth are
modelled. Method (Hockney's convolution with an integrated Green's function, as IMPACT
and OPAL do):

1. In the bunch rest frame (z' = gamma z) the surviving particles' extent is covered by a
   rectangular mesh of ``shape`` nodes per axis (32 x 32 x 32 by default), rebuilt at
   every kick so it follows the beam; one empty cell of margin on each side.
2. Cloud-in-cell (trilinear) charge deposition, each macroparticle carrying Q / N0 (Q the
   bunch charge I / f, N0 the particles at the start: losses take their charge away).
3. The potential is the convolution of the charge density with 1 / (4 pi eps0 r), each
   cell's kernel integrated exactly over the cell (accurate for cells of any aspect
   ratio), done with FFTs on the doubled mesh: free space, no image charges.
4. E = -grad phi by central differences, interpolated back with the same trilinear
   weights (no self-force).

Laboratory kicks over a length ds, for particles of charge q and the reference's beta,
gamma: dx' = q E'_x ds / (mc2 beta^2 gamma^2), likewise y', and
d(dp/p) = q E'_z ds / (mc2 beta^2 gamma) (the rest-frame field E'; magnetic and
electric parts combined), the same expressions as :mod:`.spacecharge`'s linear kicks.

Limits: no image charges from the beam pipe; the mesh covers every particle, so a few far
outliers coarsen it (the field's resolution is extent / shape); the bunch is one bunch
(neighbouring bunches are ignored); the reference's beta and gamma are used for the
Lorentz transformation of every particle. Cost per kick: O(N) for deposition and
interpolation, O(M log M) with M = 8 * prod(shape) for the FFTs (see
``experiments/bench_engine.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spacecharge import EPSILON_0
from .species import C_LIGHT, Kinematics, Species, relativistic

#: Default mesh: nodes along x, y, z.
DEFAULT_SHAPE = (32, 32, 32)


def _antiderivative(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """F with d3F / dx dy dz = 1 / r (r = |(x, y, z)|), finite where no coordinate is 0."""
    r = np.sqrt(x * x + y * y + z * z)
    return (
        y * z * np.log(x + r)
        + x * z * np.log(y + r)
        + x * y * np.log(z + r)
        - 0.5 * x * x * np.arctan(y * z / (x * r))
        - 0.5 * y * y * np.arctan(x * z / (y * r))
        - 0.5 * z * z * np.arctan(x * y / (z * r))
    )


def integrated_green(shape: tuple[int, int, int], h: tuple[float, float, float]) -> np.ndarray:
    """int over the cell centred at offset (i hx, j hy, k hz) of 1 / r dV [m^2], on the
    doubled mesh (2 nx, 2 ny, 2 nz) with offsets wrapped (index i > n means i - 2n).

    The antiderivative is evaluated once on the lattice of cell corners (offset -+ 1/2,
    never 0, so finite everywhere); the cell integrals are its third differences."""
    corners = [(np.arange(-n, n + 2) - 0.5) * step for n, step in zip(shape, h, strict=True)]
    f = _antiderivative(
        corners[0][:, None, None], corners[1][None, :, None], corners[2][None, None, :]
    )
    g = np.diff(np.diff(np.diff(f, axis=0), axis=1), axis=2)  # offsets -n .. n
    for axis, n in enumerate(shape):  # index j of g is offset j - n
        idx = np.arange(2 * n)
        g = np.take(g, np.where(idx <= n, idx, idx - 2 * n) + n, axis=axis)
    return g


@dataclass
class _Deposit:
    """Trilinear weights of every particle on the mesh: corner indices and weights."""

    flat: list[np.ndarray]
    weights: list[np.ndarray]


class MeshSolver:
    """Rest-frame electric field of a bunch of macroparticles on a 3D mesh.

    Args:
        shape: nodes along x, y, z (at least 4 each; powers of two are fastest).
    """

    def __init__(self, shape: tuple[int, int, int] = DEFAULT_SHAPE) -> None:
        shape = tuple(int(n) for n in shape)
        if len(shape) != 3 or min(shape) < 4:
            raise ValueError(f"mesh shape must be three sizes of at least 4, got {shape}")
        self.shape: tuple[int, int, int] = shape  # type: ignore[assignment]

    def field(self, positions: np.ndarray, charge: float) -> np.ndarray:
        """(3, N) rest-frame field [V/m] at ``positions`` (3, N) [m] (rest frame), each
        particle carrying ``charge`` [C]."""
        n = positions.shape[1]
        if n < 2 or charge == 0:
            return np.zeros((3, n))
        lo = positions.min(axis=1)
        hi = positions.max(axis=1)
        span = hi - lo
        # degenerate axes (a flat beam): give them the mean size of the others
        tiny = span <= 1e-12 * max(float(span.max()), 1e-30)
        if tiny.all():
            return np.zeros((3, n))
        span = np.where(tiny, span[~tiny].mean(), span)
        shape = np.array(self.shape)
        h = span / (shape - 3)  # one empty cell each side plus the last node
        origin = 0.5 * (lo + hi) - 0.5 * h * (shape - 1)
        dep = self._weights(positions, origin, h)
        rho = np.zeros(int(np.prod(shape)))
        for flat, w in zip(dep.flat, dep.weights, strict=True):
            rho += np.bincount(flat, weights=w, minlength=rho.size)
        rho = rho.reshape(self.shape) * charge  # charge per node [C]
        phi = self._potential(rho, tuple(h))
        grads = np.gradient(phi, *h)
        e = np.empty((3, n))
        for axis in range(3):
            node_field = -grads[axis].reshape(-1)
            acc = np.zeros(n)
            for flat, w in zip(dep.flat, dep.weights, strict=True):
                acc += node_field[flat] * w
            e[axis] = acc
        return e

    def _weights(self, positions: np.ndarray, origin: np.ndarray, h: np.ndarray) -> _Deposit:
        nx, ny, nz = self.shape
        u = (positions - origin[:, None]) / h[:, None]
        i = np.clip(np.floor(u).astype(np.intp), 0, np.array(self.shape)[:, None] - 2)
        f = u - i
        flat, weights = [], []
        for dx in (0, 1):
            wx = f[0] if dx else 1.0 - f[0]
            for dy in (0, 1):
                wy = f[1] if dy else 1.0 - f[1]
                for dz in (0, 1):
                    wz = f[2] if dz else 1.0 - f[2]
                    flat.append(((i[0] + dx) * ny + (i[1] + dy)) * nz + (i[2] + dz))
                    weights.append(wx * wy * wz)
        return _Deposit(flat, weights)

    def _potential(self, charge_nodes: np.ndarray, h: tuple[float, float, float]) -> np.ndarray:
        """phi [V] at the nodes from the charge [C] at the nodes (free space)."""
        green = integrated_green(self.shape, h) / float(np.prod(h))  # cell average of 1/r
        doubled = tuple(2 * n for n in self.shape)
        spectrum = np.fft.rfftn(charge_nodes, doubled, axes=(0, 1, 2)) * np.fft.rfftn(green)
        phi = np.fft.irfftn(spectrum, doubled, axes=(0, 1, 2))
        nx, ny, nz = self.shape
        return phi[:nx, :ny, :nz] / (4 * np.pi * EPSILON_0)


@dataclass
class MeshSpaceCharge:
    """Space-charge kicks from a :class:`MeshSolver` for multiparticle tracking.

    Attributes:
        current_ma: beam current [mA]. freq_mhz: bunch frequency [MHz]. n0: the number
        of macroparticles at the start (each carries Q / n0). solver: the mesh.
        step_m: the longest stretch [m] between two kicks.
    """

    current_ma: float
    freq_mhz: float
    n0: int
    solver: MeshSolver
    step_m: float

    @property
    def macro_charge(self) -> float:
        """Charge of one macroparticle [C]."""
        return abs(self.current_ma) * 1e-3 / (self.freq_mhz * 1e6) / self.n0

    def kick(self, coords: np.ndarray, kin: Kinematics, length: float) -> None:
        """Apply the kick of ``length`` [m] of space charge to ``coords`` (6, N) in place
        (internal units, about the reference ``kin``)."""
        if length <= 0 or coords.shape[1] < 2:
            return
        gamma, beta = float(kin.gamma), float(kin.beta)
        rest = np.vstack([coords[0], coords[2], gamma * coords[4]])
        e = self.solver.field(rest, self.macro_charge)
        species = kin.species
        mc2_volts = species.mass * 1e6 / abs(species.charge)  # same-sign charges repel
        scale = length / (mc2_volts * beta * beta)
        coords[1] += e[0] * (scale / gamma**2)
        coords[3] += e[1] * (scale / gamma**2)
        coords[5] += e[2] * (scale / gamma)

    def kick_rf_state(
        self, state: np.ndarray, length: float, species: Species, omega: float
    ) -> None:
        """The kick of ``length`` [m] inside an RF field map, on the integration state
        (x [m], P x', y [m], P y', phi [rad], W [MeV]) of :func:`.rf.track_field_map`, in
        place: positions along the bunch from the phases (z = -dphi beta c / omega about
        the mean), beta and gamma of the mean energy, kicks on P x' = p_x / mc and W."""
        if length <= 0 or state.shape[1] < 2:
            return
        beta, gamma, _ = relativistic(float(state[5].mean()), species.mass)
        z = -(state[4] - state[4].mean()) * (beta * C_LIGHT / omega)
        e = self.solver.field(np.vstack([state[0], state[2], gamma * z]), self.macro_charge)
        mc2_volts = species.mass * 1e6 / abs(species.charge)
        transverse = length / (mc2_volts * beta * gamma)
        state[1] += e[0] * transverse
        state[3] += e[1] * transverse
        state[5] += abs(species.charge) * e[2] * length * 1e-6
