"""Multiparticle space charge: a 3D particle-in-cell Poisson solver with open boundaries.

The field of the macroparticles themselves (not of an equivalent ellipsoid, as in
:mod:`.spacecharge`), so non-linear forces, halo formation and emittance growth are
modelled. Method (Hockney's convolution with an integrated Green's function, as IMPACT
and OPAL do):

1. In the bunch rest frame (z' = gamma z) the surviving particles' extent is covered by a
   rectangular mesh of ``shape`` nodes per axis (32 x 32 x 32 by default), centred on
   the beam at every kick; one empty cell of margin on each side. Its cell sizes are
   kept from kick to kick while the beam's extent stays within a band ``reuse`` wide
   (default 10 %: cells at most ~5 % coarser than the tightest fit), so the Green's
   function below is computed again only when the beam has grown or shrunk by that
   much (``reuse=0``: new cells at every kick, the tightest fit).
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
Lorentz transformation of every particle.

Cost per kick: O(N) for deposition and interpolation (compiled loops, numba: numpy's
scattered ``bincount`` and gathers were a tenth of the time), two FFTs of the doubled mesh
(M = 8 prod(shape) points, pruned to the quarter that holds charge and the octant that
is read back; ``threads`` FFT threads), and, when the cells change, the Green's function
on one octant of offsets (it is even in each) and its spectrum, real, as the type-1 DCT
of that octant (see ``experiments/bench_engine.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .spacecharge import EPSILON_0
from .species import C_LIGHT, Kinematics, Species, relativistic

#: Default mesh: nodes along x, y, z.
DEFAULT_SHAPE = (32, 32, 32)
#: Default band of beam extents over which the mesh keeps its cells (relative).
MESH_REUSE = 0.1


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


def _octant_green(shape: tuple[int, int, int], h: tuple[float, float, float]) -> np.ndarray:
    """int over the cell centred at offset (i hx, j hy, k hz) of 1 / r dV [m^2] for the
    offsets 0 .. n of each axis. The antiderivative is evaluated once on the lattice of
    cell corners (offset -+ 1/2, never 0, so finite everywhere); the cell integrals are
    its third differences."""
    corners = [(np.arange(n + 2) - 0.5) * step for n, step in zip(shape, h, strict=True)]
    f = _antiderivative(
        corners[0][:, None, None], corners[1][None, :, None], corners[2][None, None, :]
    )
    return np.diff(np.diff(np.diff(f, axis=0), axis=1), axis=2)


def _mirrored(a: np.ndarray, axis: int, n: int) -> np.ndarray:
    """``a`` (offsets 0 .. n along ``axis``) extended to 2 n entries, even about 0 and
    wrapped (index i > n holds offset 2 n - i)."""
    idx = np.arange(2 * n)
    return np.take(a, np.where(idx <= n, idx, 2 * n - idx), axis=axis)


def integrated_green(shape: tuple[int, int, int], h: tuple[float, float, float]) -> np.ndarray:
    """int over the cell centred at offset (i hx, j hy, k hz) of 1 / r dV [m^2], on the
    doubled mesh (2 nx, 2 ny, 2 nz) with offsets wrapped (index i > n means i - 2n).

    The kernel is even in each offset, so it is computed on one octant (offsets 0 .. n)
    and mirrored."""
    g = _octant_green(shape, h)
    for axis, n in enumerate(shape):
        g = _mirrored(g, axis, n)
    return g


def green_spectrum(shape: tuple[int, int, int], h: tuple[float, float, float]) -> np.ndarray:
    """The real FFT (2 nx, 2 ny, nz + 1) of :func:`integrated_green` [m^2], real since
    the kernel is even: the type-1 DCT of the octant (the DFT of an even sequence of
    2 n points is the DCT-I of its n + 1 first), mirrored along x and y; the same as
    ``scipy.fft.rfftn(integrated_green(shape, h)).real`` to rounding, from a transform
    of an eighth of the points."""
    from scipy import fft as sfft  # imported when first needed (start-up cost)

    spectrum = sfft.dctn(_octant_green(shape, h), type=1)
    for axis in (0, 1):
        spectrum = _mirrored(spectrum, axis, shape[axis])
    return spectrum


def default_threads() -> int:
    """Threads for the mesh's FFTs: ``OMP_NUM_THREADS`` when set (Ray's
    workers set it to their CPUs), else the CPUs this process may run on."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


class MeshSolver:
    """Rest-frame electric field of a bunch of macroparticles on a 3D mesh.

    Args:
        shape: nodes along x, y, z (at least 4 each; powers of two are fastest).
        reuse: relative width of the band of beam extents over which the cell sizes
            (and the Green's function's spectrum) are kept from one call to the next;
            0 fits new cells to every call.
        threads: threads of the FFTs (scipy's ``workers``; the field does not depend on
            it); None: :func:`default_threads`. The compiled loops stay on one thread:
            numba's OpenMP threads spin while they wait, and on a loaded machine two
            made the deposition 40 times costlier in CPU (0.19 -> 8.7 ms per kick).
    """

    def __init__(
        self,
        shape: tuple[int, int, int] = DEFAULT_SHAPE,
        reuse: float = MESH_REUSE,
        threads: int | None = None,
    ) -> None:
        shape = tuple(int(n) for n in shape)
        if len(shape) != 3 or min(shape) < 4:
            raise ValueError(f"mesh shape must be three sizes of at least 4, got {shape}")
        if not 0.0 <= reuse < 1.0:
            raise ValueError(f"reuse must be in [0, 1), got {reuse}")
        threads = default_threads() if threads is None else int(threads)
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.shape: tuple[int, int, int] = shape  # type: ignore[assignment]
        self.reuse = float(reuse)
        self.threads = threads
        self._h: np.ndarray | None = None
        self._spectrum: np.ndarray | None = None
        self._padded: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def field(self, positions: np.ndarray, charge: float) -> np.ndarray:
        """(3, N) rest-frame field [V/m] at ``positions`` (3, N) [m] (rest frame), each
        particle carrying ``charge`` [C]."""
        n = positions.shape[1]
        if n < 2 or charge == 0:
            return np.zeros((3, n))
        positions = np.ascontiguousarray(positions, dtype=float)
        lo = positions.min(axis=1)
        hi = positions.max(axis=1)
        span = hi - lo
        # degenerate axes (a flat beam): give them the mean size of the others
        tiny = span <= 1e-12 * max(float(span.max()), 1e-30)
        if tiny.all():
            return np.zeros((3, n))
        span = np.where(tiny, span[~tiny].mean(), span)
        shape = np.array(self.shape)
        h = self._cells(span / (shape - 3))  # one empty cell each side plus the last node
        origin = 0.5 * (lo + hi) - 0.5 * h * (shape - 1)
        phi = self._potential(positions, origin, h, charge)
        from .mesh_kernels import gather, node_field  # numba: imported when first needed

        return gather(node_field(phi, h), positions, origin, h)

    def _cells(self, need: np.ndarray) -> np.ndarray:
        """Cell sizes [m] for a beam needing ``need``: the previous ones while ``need``
        lies in [(1 - reuse) h, h], else ``need * (1 + reuse / 2)`` (and a new kernel)."""
        h = self._h
        if h is not None and np.all(need <= h) and np.all(need >= (1.0 - self.reuse) * h):
            return h
        h = need * (1.0 + 0.5 * self.reuse)
        spectrum = green_spectrum(self.shape, tuple(h)) / float(np.prod(h))  # cell mean of 1/r
        self._h, self._spectrum = h, spectrum.astype(np.float32)
        return h

    def _potential(
        self, positions: np.ndarray, origin: np.ndarray, h: np.ndarray, charge: float
    ) -> np.ndarray:
        """phi [V] at the nodes of the particles' charge, ``charge`` [C] each (free
        space): cloud-in-cell counts convolved with the kernel on the doubled mesh, by
        single-precision FFTs (relative error ~1e-6 of the largest potential) pruned to
        the nodes that hold charge (forward) and to those read back (inverse)."""
        nx, ny, nz = self.shape
        if self._padded is None:  # zero padding, written once: only the charge changes
            self._padded = (
                np.zeros((nx, ny, 2 * nz), np.float32),
                np.zeros((nx, 2 * ny, nz + 1), np.complex64),
                np.zeros((2 * nx, 2 * ny, nz + 1), np.complex64),
            )
        from scipy import fft as sfft

        from .mesh_kernels import deposit

        real, half, full = self._padded
        w = self.threads
        deposit(positions, origin, h, self.shape, real)
        half[:, :ny] = sfft.rfft(real, axis=2, workers=w)
        full[:nx] = sfft.fft(half, axis=1, workers=w)
        a = sfft.fft(full, axis=0, workers=w)
        a *= self._spectrum
        a = sfft.ifft(a, axis=0, overwrite_x=True, workers=w)[:nx]
        a = sfft.ifft(a, axis=1, workers=w)[:, :ny]
        phi = sfft.irfft(a, n=2 * nz, axis=2, workers=w)[:, :, :nz]
        return phi * (charge / (4 * np.pi * EPSILON_0))


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
