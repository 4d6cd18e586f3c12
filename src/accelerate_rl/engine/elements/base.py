"""What every element model provides, and the linear-optics helpers they share.

Coordinates: x [m], x' [rad], y [m], y' [rad], z [m], delta = dp/p. Parameters arrive as
TraceWin writes them (lengths mm, fields T, gradients T/m, voltages V, angles deg) with a
leading batch axis B: ``params`` has shape (B, P).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ...tracewin.dat import Element
from ..species import Kinematics

if TYPE_CHECKING:
    from ..spacecharge_mesh import MeshSpaceCharge


class UnsupportedElementError(ValueError):
    """An element or command the embedded engine does not model."""


@dataclass(frozen=True)
class Aperture:
    """A beam-pipe aperture.

    Attributes:
        kind: "circular" (radius ``rx``) or "rectangular" (half-widths ``rx``, ``ry``).
        rx, ry: (B,) sizes [mm]; 0 means no aperture.
        dx, dy: (B,) aperture centre offsets [mm].
    """

    kind: str
    rx: np.ndarray
    ry: np.ndarray
    dx: np.ndarray | float = 0.0
    dy: np.ndarray | float = 0.0

    def inside(self, x_m: np.ndarray, y_m: np.ndarray, b: int = 0) -> np.ndarray:
        """Mask of particles (positions in m) inside the aperture of batch entry ``b``."""
        rx, ry = float(np.atleast_1d(self.rx)[b]), float(np.atleast_1d(self.ry)[b])
        if rx <= 0:
            return np.ones_like(x_m, dtype=bool)
        x = x_m * 1e3 - float(np.atleast_1d(self.dx)[b])
        y = y_m * 1e3 - float(np.atleast_1d(self.dy)[b])
        if self.kind == "circular":
            return x * x + y * y <= rx * rx
        return (np.abs(x) <= rx) & (np.abs(y) <= ry)


def pipe_aperture(r: np.ndarray, ry: np.ndarray | None = None, dx=0.0, dy=0.0) -> Aperture | None:
    """Aperture from TraceWin's (R, Ry) convention [mm]; None when R is 0 everywhere."""
    if not np.any(r):
        return None
    if ry is None or not np.any(ry):
        return Aperture("circular", r, r, dx, dy)
    return Aperture("rectangular", r, ry, dx, dy)


class ElementModel:
    """Base class: a zero-length identity element.

    Subclasses set ``keyword``, where their length and aperture radius sit among the
    parameters (``length_param``, ``aperture_param``), and override what they change:
    ``length_m``, ``matrix``, ``kick``, ``aperture``, ``track``.
    """

    keyword: ClassVar[str] = ""
    #: The parameter (1-based) holding the element's length L [mm], or None (length 0).
    length_param: ClassVar[int | None] = None
    #: The parameter (1-based) holding the circular aperture radius R [mm], or None.
    aperture_param: ClassVar[int | None] = None
    #: Whether a STEERER command may put a dipole field into this element.
    steerable: ClassVar[bool] = False
    #: Whether ``track`` models chromatic effects (per-particle strength) beyond the map.
    chromatic: ClassVar[bool] = False
    #: Whether ``matrix(kin, fraction)`` describes the first part of the element.
    cuttable: ClassVar[bool] = True
    #: Whether the element changes the reference energy (RF): see ``exit_energy``.
    accelerating: ClassVar[bool] = False

    def __init__(self, source: Element, params: np.ndarray) -> None:
        self.source = source
        self.params = np.atleast_2d(np.asarray(params, dtype=float))
        #: Dipole field put in by a preceding STEERER command: (Bx, By) [T], or None.
        self.steer: tuple[float, float] | None = None
        self.validate()

    # -- parameters ---------------------------------------------------------------------
    @property
    def number(self) -> int:
        return self.source.number

    @property
    def batch(self) -> int:
        return self.params.shape[0]

    def p(self, v: int) -> np.ndarray:
        """Parameter v (1-based) as a (B,) array; omitted trailing parameters are 0."""
        if v > self.params.shape[1]:
            return np.zeros(self.batch)
        return self.params[:, v - 1]

    def validate(self) -> None:
        """Raise UnsupportedElementError for settings this model does not cover."""

    def notes(self) -> list[str]:
        """What the model approximates in this element, for the run's notes."""
        return []

    def unsupported(self, what: str) -> UnsupportedElementError:
        return UnsupportedElementError(
            f"{self.source.describe()}: {what} is not supported by the embedded engine: "
            "run it with the TraceWin backend"
        )

    # -- physics ------------------------------------------------------------------------
    @property
    def length_m(self) -> np.ndarray:
        """(B,) length [m]: parameter ``length_param`` [mm], else 0."""
        if self.length_param is None:
            return np.zeros(self.batch)
        return self.p(self.length_param) * 1e-3

    def aperture(self) -> Aperture | None:
        """The beam pipe: a circle of radius parameter ``aperture_param`` [mm] (None when
        it is 0 or the element has none)."""
        if self.aperture_param is None:
            return None
        return pipe_aperture(self.p(self.aperture_param))

    def exit_energy(self, kin: Kinematics) -> float:
        """The reference particle's kinetic energy [MeV] at the exit (entry ``kin``)."""
        return float(np.asarray(kin.energy).reshape(-1)[0])

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        """(B, 6, 6) linear transfer map (of the first ``fraction`` of the element)."""
        return identity(self.batch)

    def kick(self, kin: Kinematics) -> np.ndarray | None:
        """(B, 6) centroid offset added after the linear map (steering), or None."""
        if self.steer is None:
            return None
        return steering_kick(self, kin, *self.steer)

    @property
    def nonlinear(self) -> bool:
        """Whether particles need ``track`` even without chromatic effects."""
        return False

    def needs_particles(self, chromatic: bool) -> bool:
        """Whether multiparticle tracking must call ``track`` (else the linear map is exact)."""
        return self.nonlinear or (chromatic and self.chromatic)

    def track_slice(
        self, coords: np.ndarray, kin: Kinematics, fraction: float
    ) -> np.ndarray | None:
        """Track (6, N) particles through the first ``fraction`` of the element, without
        its steering kick (space-charge slicing), or None when the element cannot be cut
        (then it is tracked whole). Default: the linear map, exact for linear elements."""
        if self.nonlinear or not self.cuttable:
            return None
        return self.matrix(kin, fraction)[0] @ coords

    def track_space_charge(
        self, coords: np.ndarray, kin: Kinematics, mesh: MeshSpaceCharge
    ) -> np.ndarray | None:
        """Track (6, N) particles with ``mesh`` space-charge kicks inside the element, or
        None when the element has no such integration (the caller then kicks at its
        ends). Default: None."""
        return None

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        """Track (6, N) particle coordinates (batch entry 0). Default: the linear map."""
        out = self.matrix(kin)[0] @ coords
        d = self.kick(kin)
        if d is not None:
            out += d[0][:, None]
        return out


def identity(batch: int) -> np.ndarray:
    return np.broadcast_to(np.eye(6), (batch, 6, 6)).copy()


def plane_functions(k: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C and S of a focusing plane with strength ``k`` [1/m^2] (any sign) over ``length`` [m].

    C = cos(sqrt(k) L), S = sin(sqrt(k) L) / sqrt(k); smooth through k = 0 (C=1, S=L).
    """
    root = np.sqrt(np.asarray(k, dtype=complex))
    phase = root * length
    c = np.cos(phase).real
    s = (length * np.sinc(phase / np.pi)).real
    return c, s


def focusing_matrix(kx: np.ndarray, ky: np.ndarray, length: np.ndarray, gamma) -> np.ndarray:
    """(B, 6, 6) map of an uncoupled focusing channel: kx, ky [1/m^2], length [m]."""
    cx, sx = plane_functions(kx, length)
    cy, sy = plane_functions(ky, length)
    m = identity(len(np.atleast_1d(length)))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cx, sx, -kx * sx, cx
    m[:, 2, 2], m[:, 2, 3], m[:, 3, 2], m[:, 3, 3] = cy, sy, -ky * sy, cy
    m[:, 4, 5] = length / np.asarray(gamma) ** 2
    return m


def rotation(theta_rad: np.ndarray) -> np.ndarray:
    """(B, 6, 6) rotation of the transverse frame by ``theta_rad`` about the beam axis."""
    c, s = np.cos(theta_rad), np.sin(theta_rad)
    r = identity(len(np.atleast_1d(theta_rad)))
    for i in (0, 1):
        r[:, i, i] = r[:, i + 2, i + 2] = c
        r[:, i, i + 2] = s
        r[:, i + 2, i] = -s
    return r


def rotated(m: np.ndarray, theta_rad: np.ndarray) -> np.ndarray:
    """``m`` seen in a frame rolled by theta (skew elements): R(-theta) m R(theta)."""
    if not np.any(theta_rad):
        return m
    r = rotation(theta_rad)
    return np.swapaxes(r, -1, -2) @ m @ r


def steering_kick(element: ElementModel, kin: Kinematics, bx: float, by: float) -> np.ndarray:
    """(B, 6) centroid change from a uniform dipole field (Bx, By) [T] over the element.

    Lorentz force in right-handed (x, y, s): dx' = -By L / Brho, dy' = +Bx L / Brho, applied
    as a kick at mid-element and carried through the second half.
    """
    length = element.length_m
    if not np.all(length > 0):
        raise element.unsupported("a STEERER field on a zero-length element")
    brho = np.asarray(kin.brho, dtype=float)
    kick = np.zeros((element.batch, 6))
    kick[:, 1] = -by * length / brho
    kick[:, 3] = bx * length / brho
    second_half = element.matrix(kin, 0.5)
    return np.einsum("bij,bj->bi", second_half, kick)
