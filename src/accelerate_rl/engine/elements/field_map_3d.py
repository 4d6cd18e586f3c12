"""FIELD_MAP geom L phi R kb ke ki ka file p with tabulated fields beyond the 1D on-axis
maps of :mod:`.field_map`: 2D cylindrical (r, z) and 3D Cartesian tables of any channel
(static E and B, RF E and B), and 1D tables of the channels that model does not take
(static E, RF B, or several channels together).

Every particle is integrated through the interpolated fields (Lorentz force, RK4, see
:mod:`accelerate_rl.engine.fieldmap_integrator`); the envelope's linear map is the
central-difference Jacobian of the same integration about the reference particle, which
starts on the axis and may leave it (a dipole map bends it): its exit position and angle
are the element's centroid kick, the frame stays straight (a SUPERPOSE_MAP_OUT block
turns it, see :mod:`accelerate_rl.engine.superpose`). L [mm] must equal the tables'
zmax. RF maps: phi [deg] the RF phase at the entry (p = 0), or at t = 0 (p = 1), or the
synchronous phase after SET_SYNC_PHASE (solved for), as in the 1D maps; the reference
energy changes. Static maps conserve the reference energy (fields vanish at the ends).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from ...tracewin.fieldmaps import FieldMapFiles, Geometry, read_field_map
from ..field_sampler import FieldSum, placed_map
from ..fieldmap_integrator import (
    Drive,
    fd_columns,
    fd_matrix,
    integrate,
    steps_for,
    to_coords,
    to_state,
)
from ..rf import Crossing
from ..species import Kinematics, relativistic
from .base import Aperture
from .drift import pipe_aperture
from .rf_base import RFElement

#: Geometries the 1D model (:class:`.field_map.FieldMap`) takes.
ONE_D = frozenset({100, 10})


class FieldMapTable(RFElement):
    """A FIELD_MAP integrated through its tables (see the module docstring)."""

    keyword = "FIELD_MAP"
    MODE_PARAM = 10
    cuttable = False
    #: Integration steps per table grid interval (the step-size study changes it).
    step_scale: float = 1.0

    def __init__(self, source, params) -> None:
        super().__init__(source, params)
        self._linear: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._sums: dict[tuple, FieldSum] = {}

    # -- settings ------------------------------------------------------------------------
    @cached_property
    def geometry(self) -> Geometry:
        return Geometry.parse(float(self.p(1)[0]))

    @property
    def accelerating(self) -> bool:  # type: ignore[override]
        return self.geometry.rf

    @property
    def cavity(self) -> bool:  # type: ignore[override]
        return self.geometry.rf

    @property
    def nonlinear(self) -> bool:
        return True

    def validate(self) -> None:
        try:
            geo = self.geometry
        except ValueError as exc:
            raise self.unsupported(str(exc)) from None
        if geo.aperture:
            raise self.unsupported(f"FIELD_MAP geometry {geo.code}: an aperture profile (.ouv)")
        if np.any(self.p(7)):
            raise self.unsupported("ki (space-charge compensation of a field map)")
        if self.batch != 1 and geo.rf:
            raise self.unsupported("a batch of settings of an RF field map")

    def notes(self) -> list[str]:
        out = [
            f"{self.source.describe()}: FIELD_MAP {self.geometry.code} integrated through its "
            "interpolated tables (Lorentz force, RK4); the field is 0 outside a table's box"
        ]
        if np.any(self.p(8)):
            out.append(f"{self.source.describe()}: ka (aperture flag) has no effect here")
        if self.geometry.rf_b or (self.geometry.rf_e and self.geometry.dimensions < 3):
            out.append(
                f"{self.source.describe()}: RF magnetic fields on the phasor "
                "sin(omega t + phi) (TraceWin's convention as HELIX quotes it; unverified)"
            )
        return out

    @property
    def file_name(self) -> str:
        return self.source.statement.args[8]

    def files(self) -> FieldMapFiles:
        files = read_field_map(self.folder, self.file_name, self.geometry.code)
        length = float(self.length_m[0])
        if abs(files.length - length) > 1e-6 * max(1.0, length):
            raise ValueError(
                f"{self.source.describe()}: FIELD_MAP length {length * 1e3:g} mm but "
                f"{Path(files.prefix).name} spans {files.length * 1e3:g} mm: fix L or the map"
            )
        return files

    @property
    def length_m(self) -> np.ndarray:
        return self.p(2) * 1e-3

    def aperture(self) -> Aperture | None:
        return pipe_aperture(self.p(4))

    def field_sum(self, b: int = 0) -> FieldSum:
        """The scaled fields of batch entry ``b`` (cached per ke, kb)."""
        key = (float(self.p(5)[b]), float(self.p(6)[b]))
        hit = self._sums.get(key)
        if hit is None:
            hit = self._sums[key] = FieldSum([placed_map(self.files(), key[1], key[0], self.omega)])
        return hit

    def grid_steps(self) -> int:
        files = self.files()
        return max(t.values.shape[0] - 1 for p in files.tables.values() for t in p.values())

    # -- integration ---------------------------------------------------------------------
    def _pass(
        self, coords: np.ndarray, kin: Kinematics, drive: Drive, b: int = 0
    ) -> tuple[np.ndarray, complex, float]:
        """Exit state of particles (6, N) whose column 0 is the reference, the voltage
        along it and the step count."""
        species = kin.species
        w = float(np.asarray(kin.energy).reshape(-1)[0])
        beta, _, bg = relativistic(w, species.mass)
        p0 = bg * species.mass
        length = float(self.length_m[b])
        steps = steps_for(length, self.grid_steps(), drive.omega, beta, self.step_scale)
        state = to_state(coords, p0, beta)
        passage = integrate(
            self.field_sum(b), state, (0.0, length), steps, species.charge, species.mass, drive
        )
        out = passage.state
        out[:, passage.lost] = np.nan
        return out, passage.voltage, steps

    def _exit(self, state: np.ndarray, kin: Kinematics) -> np.ndarray:
        """Engine coordinates about the reference (column 0) at the exit."""
        ref = state[:, 0]
        p_ref = float(np.sqrt(ref[2] ** 2 + ref[3] ** 2 + ref[4] ** 2))
        mass = kin.species.mass
        beta_ref = p_ref / np.hypot(p_ref, mass)
        if not self.geometry.rf:  # static: the exit reference is the entry one
            p_ref = float(np.asarray(kin.momentum).reshape(-1)[0])
            beta_ref = float(np.asarray(kin.beta).reshape(-1)[0])
        return to_coords(state, p_ref, beta_ref, float(ref[5]))

    def _drive(self, kin: Kinematics) -> Drive:
        if not self.geometry.rf:
            return Drive()
        return Drive(self.omega, self.crossing(kin).phi_in)

    def _linear_map(
        self, kin: Kinematics, b: int, drive: Drive | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, complex]:
        """The Jacobian, the reference's exit coordinates, its exit state and voltage
        (one integration of 13 particles, cached per entry energy, phase and settings:
        a knob elsewhere leaves them)."""
        w = float(np.asarray(kin.energy).reshape(-1)[0])
        drive = self._drive(kin) if drive is None else drive
        key = (w, kin.species.mass, kin.species.charge, drive, self.params[b].tobytes())
        hit = self._linear.get(key)
        if hit is None:
            state, voltage, _ = self._pass(fd_columns(), kin, drive, b)
            matrix, ref = fd_matrix(self._exit(state, kin))
            if len(self._linear) > 32:
                self._linear.clear()
            hit = self._linear[key] = (matrix, ref, state[:, 0].copy(), voltage)
        return hit

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        if fraction != 1.0:
            raise self.unsupported("a partial tabulated field map (envelope space charge)")
        return np.stack([self._linear_map(kin, b)[0] for b in range(self.batch)])

    def kick(self, kin: Kinematics) -> np.ndarray | None:
        return np.stack([self._linear_map(kin, b)[1] for b in range(self.batch)])

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        full = np.concatenate([np.zeros((6, 1)), coords], axis=1)
        state, _, _ = self._pass(full, kin, self._drive(kin))
        return self._exit(state, kin)[:, 1:]

    # -- RF: the synchronous particle --------------------------------------------------
    def _reference(self, kin: Kinematics, phi: float) -> complex:
        """The voltage along the reference entering at RF phase ``phi`` [rad]."""
        _, voltage, _ = self._pass(np.zeros((6, 1)), kin, Drive(self.omega, phi))
        return voltage

    def _cross(self, kin: Kinematics, time: float | None) -> Crossing:
        phi = np.deg2rad(float(self.p(3)[0]))
        if self.sync_phase:
            target, phi_in = phi, phi
            for _ in range(30):
                error = float(np.angle(self._reference(kin, phi_in) * np.exp(-1j * target)))
                phi_in -= error
                if abs(error) < 1e-10:
                    break
            else:
                raise ValueError(
                    f"{self.source.describe()}: SET_SYNC_PHASE: no entry phase gives the "
                    f"synchronous phase {np.rad2deg(target):g} deg"
                )
            phi = phi_in
        elif self.absolute:
            phi = phi + self.omega * float(time)
        matrix, _, ref, voltage = self._linear_map(kin, 0, Drive(self.omega, phi))
        if not np.all(np.isfinite(ref)):
            raise ValueError(
                f"{self.source.describe()}: the synchronous particle never reaches the end "
                "of the field map"
            )
        mass = kin.species.mass
        w_out = float(np.sqrt(ref[2] ** 2 + ref[3] ** 2 + ref[4] ** 2 + mass**2) - mass)
        return Crossing(w_out, self.omega * float(ref[5]), voltage, phi, matrix)
