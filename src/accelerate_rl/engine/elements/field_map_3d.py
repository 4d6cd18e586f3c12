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

from ...tracewin.fieldmaps import FieldMapFiles, Geometry, check_length, read_field_map
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
from ..superpose import SuperposeBlock, integrate_to_plane
from .base import Aperture, identity, pipe_aperture
from .rf_base import RFElement

#: Geometries the 1D model (:class:`.field_map.FieldMap`) takes.
ONE_D = frozenset({100, 10})


class FieldMapTable(RFElement):
    """A FIELD_MAP integrated through its tables (see the module docstring); in a
    SUPERPOSE block (``block`` set by CompiledLattice) the first map carries the summed
    fields of all of them (``members``), the others are zero-length rows."""

    keyword = "FIELD_MAP"
    MODE_PARAM = 10
    cuttable = False
    #: Integration steps per table grid interval (the step-size study changes it).
    step_scale: float = 1.0

    def __init__(self, source, params) -> None:
        super().__init__(source, params)
        self._linear: dict[tuple, tuple] = {}
        self._sums: dict[tuple, FieldSum] = {}
        self.block: SuperposeBlock | None = None
        self.members: list[FieldMapTable] = []
        self._drives: dict[float, Drive] = {}

    # -- settings ------------------------------------------------------------------------
    @cached_property
    def geometry(self) -> Geometry:
        return Geometry.parse(float(self.p(1)[0]))

    @property
    def member(self) -> bool:
        """A superposed map other than its block's first: no transport of its own."""
        return self.block is not None and self.number != self.block.carrier

    def placed(self) -> list[tuple[FieldMapTable, float]]:
        """The maps this element integrates and their z0 [m]."""
        if self.block is None or not self.members:
            return [(self, 0.0)]
        return [(m, self.block.offsets[m.number]) for m in self.members]

    @property
    def accelerating(self) -> bool:  # type: ignore[override]
        return not self.member and any(m.geometry.rf for m, _ in self.placed())

    @property
    def cavity(self) -> bool:  # type: ignore[override]
        return self.accelerating

    @property
    def nonlinear(self) -> bool:
        return not self.member

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
        where = self.source.describe()
        if self.member:
            assert self.block is not None
            return [
                f"{where}: superposed at z0 = {self.block.offsets[self.number] * 1e3:g} mm in "
                f"the block of element {self.block.carrier} (a zero-length row after it)"
            ]
        out = [
            f"{where}: FIELD_MAP {self.geometry.code} integrated through its interpolated "
            "tables (Lorentz force, RK4); the field is 0 outside a table's box"
        ]
        if np.any(self.p(8)):
            out.append(f"{where}: ka (aperture flag) has no effect here")
        if self.geometry.rf_b or (self.geometry.rf_e and self.geometry.dimensions < 3):
            out.append(
                f"{where}: RF magnetic fields on the phasor sin(omega t + phi) (TraceWin's "
                "convention as HELIX quotes it; unverified)"
            )
        if self.block is not None and self.block.exit is not None:
            out.append(
                f"{where}: a bending block, integrated in time to its SUPERPOSE_MAP_OUT plane; "
                "its length in the layout is the block's z span, not the path length"
            )
        return out

    @property
    def file_name(self) -> str:
        return self.source.statement.args[8]

    def files(self) -> FieldMapFiles:
        files = read_field_map(self.folder, self.file_name, self.geometry.code)
        length = float(self.p(2)[0]) * 1e-3
        check_length(self.source.describe(), length, Path(files.prefix).name, files.length)
        return files

    @property
    def length_m(self) -> np.ndarray:
        if self.member:
            return np.zeros(self.batch)
        own = self.p(2) * 1e-3
        others = [z0 + float(m.p(2)[0]) * 1e-3 for m, z0 in self.placed() if m is not self]
        return np.maximum(own, max(others, default=0.0))

    def aperture(self) -> Aperture | None:
        return None if self.member else pipe_aperture(self.p(4))

    def field_sum(self, b: int = 0) -> FieldSum:
        """The scaled fields of batch entry ``b`` (cached per ke, kb of every map)."""
        settings = tuple(
            (float(m.p(5)[b if m is self else 0]), float(m.p(6)[b if m is self else 0]))
            for m, _ in self.placed()
        )
        hit = self._sums.get(settings)
        if hit is None:
            maps = [
                placed_map(m.files(), ke, kb, self.omega, offset=(0.0, 0.0, z0))
                for (m, z0), (kb, ke) in zip(self.placed(), settings, strict=True)
            ]
            hit = self._sums[settings] = FieldSum(maps)
        return hit

    def grid_step(self) -> float:
        """The finest table step along z [m] of the maps integrated here."""
        return min(
            t.length / (t.values.shape[0] - 1)
            for m, _ in self.placed()
            for p in m.files().tables.values()
            for t in p.values()
        )

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
        state = to_state(coords, p0, beta)
        step = self.grid_step()
        if self.block is not None and self.block.exit is not None:
            if self.accelerating:
                raise self.unsupported("an RF map in a bending (SUPERPOSE_MAP_OUT) block")
            out = integrate_to_plane(
                self.field_sum(b),
                state,
                self.block.exit,
                step / self.step_scale,
                species.charge,
                species.mass,
                3.0 * length,
            )
            return out, 0j, 0
        grid = int(round(length / step))
        steps = steps_for(length, grid, drive.omega, beta, self.step_scale)
        passage = integrate(
            self.field_sum(b), state, (0.0, length), steps, species.charge, species.mass, drive
        )
        out = passage.state
        out[:, passage.lost] = np.nan
        return out, passage.voltage, steps

    def _exit(self, state: np.ndarray, kin: Kinematics) -> np.ndarray:
        """Engine coordinates about the reference (column 0) at the exit."""
        ref = state[:, 0]
        if not self.accelerating:  # static: the exit reference is the entry one
            p_ref = float(np.asarray(kin.momentum).reshape(-1)[0])
            beta_ref = float(np.asarray(kin.beta).reshape(-1)[0])
        else:
            p_ref = float(np.sqrt(ref[2] ** 2 + ref[3] ** 2 + ref[4] ** 2))
            beta_ref = p_ref / np.hypot(p_ref, kin.species.mass)
        return to_coords(state, p_ref, beta_ref, float(ref[5]))

    def _drive(self, kin: Kinematics) -> Drive:
        if not self.accelerating:
            return Drive()
        w = float(np.asarray(kin.energy).reshape(-1)[0])
        if w not in self._drives:
            self.crossing(kin)
        return self._drives[w]

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
        if self.member:
            return identity(self.batch)
        if fraction != 1.0:
            raise self.unsupported("a partial tabulated field map (envelope space charge)")
        return np.stack([self._linear_map(kin, b)[0] for b in range(self.batch)])

    def kick(self, kin: Kinematics) -> np.ndarray | None:
        if self.member:
            return None
        return np.stack([self._linear_map(kin, b)[1] for b in range(self.batch)])

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        if self.member:
            return coords
        full = np.concatenate([np.zeros((6, 1)), coords], axis=1)
        state, _, _ = self._pass(full, kin, self._drive(kin))
        return self._exit(state, kin)[:, 1:]

    # -- RF: the synchronous particle --------------------------------------------------
    def _phases(self, kin: Kinematics, time: float | None, first: float) -> tuple[float, ...]:
        """Each map's RF phase at t = 0 [rad]: ``first`` for this map; a superposed map's
        phi is the phase the reference sees at its z0 (relative) or at t = 0 (absolute)."""
        placed = self.placed()
        if len(placed) == 1:
            return (first,)
        if self.sync_phase:
            raise self.unsupported("SET_SYNC_PHASE in a SUPERPOSE block")
        phases = [0.0] * len(placed)
        species = kin.species
        w = float(np.asarray(kin.energy).reshape(-1)[0])
        beta, _, bg = relativistic(w, species.mass)
        state = to_state(np.zeros((6, 1)), bg * species.mass, beta)
        z_at, step = 0.0, self.grid_step()
        for i in sorted(range(len(placed)), key=lambda i: placed[i][1]):
            m, z0 = placed[i]
            if z0 > z_at:
                steps = max(1, int(np.ceil((z0 - z_at) / step)))
                state = integrate(
                    self.field_sum(),
                    state,
                    (z_at, z0),
                    steps,
                    species.charge,
                    species.mass,
                    Drive(self.omega, tuple(phases)),
                ).state
                z_at = z0
            phi = np.deg2rad(float(m.p(3)[0]))
            if m.absolute:
                phases[i] = phi + self.omega * float(time)
            else:
                phases[i] = phi - self.omega * float(state[5, 0])
        return tuple(phases)

    def _reference(self, kin: Kinematics, phi: float) -> complex:
        """The voltage along the reference entering at RF phase ``phi`` [rad]."""
        _, voltage, _ = self._pass(np.zeros((6, 1)), kin, Drive(self.omega, (phi,)))
        return voltage

    def _solve_entry_phase(self, kin: Kinematics, target: float) -> float:
        """The entry phase [rad] whose synchronous phase (the angle of the voltage) is
        ``target`` (SET_SYNC_PHASE): secant iterations on the phase error."""

        def error(phi_in: float) -> float:
            return float(np.angle(self._reference(kin, phi_in) * np.exp(-1j * target)))

        x0, e0 = target, error(target)
        x1 = x0 - e0
        for _ in range(30):
            e1 = error(x1)
            if abs(e1) < 1e-9:
                return x1
            slope = (e1 - e0) / (x1 - x0) if x1 != x0 else 1.0
            x0, e0, x1 = x1, e1, x1 - e1 / (slope if abs(slope) > 1e-3 else 1.0)
        raise ValueError(
            f"{self.source.describe()}: SET_SYNC_PHASE: no entry phase gives the "
            f"synchronous phase {np.rad2deg(target):g} deg"
        )

    def _cross(self, kin: Kinematics, time: float | None) -> Crossing:
        phi = np.deg2rad(float(self.p(3)[0]))
        if self.sync_phase and len(self.placed()) == 1:
            phi = self._solve_entry_phase(kin, phi)
        elif self.absolute:
            phi = phi + self.omega * float(time)
        drive = Drive(self.omega, self._phases(kin, time, phi))
        matrix, _, ref, voltage = self._linear_map(kin, 0, drive)
        if not np.all(np.isfinite(ref)):
            raise ValueError(
                f"{self.source.describe()}: the synchronous particle never reaches the end "
                "of the field map"
            )
        self._drives[float(np.asarray(kin.energy).reshape(-1)[0])] = drive
        mass = kin.species.mass
        w_out = float(np.sqrt(ref[2] ** 2 + ref[3] ** 2 + ref[4] ** 2 + mass**2) - mass)
        return Crossing(w_out, self.omega * float(ref[5]), voltage, phi, matrix)
