"""FIELD_MAP geom L phi R kb ke Ki Ka file p: a 1D on-axis field map under
FIELD_MAP_PATH: an RF cavity (geometry 100, ``file.edz``, scaled by ke) or a static
magnetic field (geometry 10, ``file.bsz``, Bz scaled by kb [T]: a solenoid with its
fringes, linear map, no energy change, achromatic in multiparticle mode).

For an RF cavity: L [mm], phi [deg] (the entry phase
with p = 0; with p = 1 the RF phase at the time origin, the entry phase being phi +
omega t_entry; the synchronous phase after SET_SYNC_PHASE), R aperture [mm], ke field
scale, Ka TraceWin's aperture flag (0, 1 or 2: the map is the same; the engine applies R
and says so in the run's notes), Ki (space-charge compensation) must be 0; see
:mod:`accelerate_rl.engine.rf` for the physics and conventions.

The reference energy changes across it: its map relates coordinates about the entry and
exit reference particles. In multiparticle mode every particle is integrated through the
field with its own phase and energy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...tracewin.fieldmaps import FieldMap1D, check_length, field_map_path, read_field_map_1d
from ..rf import RF_E_1D, STATIC_B_1D, Crossing, cross_field_map, solve_entry_phase, track_field_map
from ..spacecharge_mesh import MeshSpaceCharge
from ..species import Kinematics
from ..static_field_1d import static_solenoid_map
from .rf_base import RFElement


class FieldMap(RFElement):
    keyword = "FIELD_MAP"
    length_param = 2
    aperture_param = 4
    MODE_PARAM = 10
    cuttable = False  # the static map's matrix is of the whole map

    def __init__(self, source, params) -> None:
        super().__init__(source, params)
        self._static: dict[float, np.ndarray] = {}

    @property
    def geometry(self) -> int:
        return int(self.p(1)[0])

    @property
    def accelerating(self) -> bool:  # type: ignore[override]
        return self.geometry == RF_E_1D

    def validate(self) -> None:
        if self.geometry not in (RF_E_1D, STATIC_B_1D):
            raise self.unsupported(
                f"FIELD_MAP geometry {self.geometry} (only 100, RF E 1D, and 10, static B 1D)"
            )
        if np.any(self.p(7)):
            raise self.unsupported("Ki (space-charge compensation along the map, a .scc table)")
        if np.any((self.p(8) != 0) & (self.p(8) != 1) & (self.p(8) != 2)):
            raise self.unsupported("an aperture flag Ka other than 0, 1 or 2")

    def notes(self) -> list[str]:
        ka = int(self.p(8)[0])
        if not ka:
            return []
        return [
            f"{self.source.describe()}: Ka = {ka}, TraceWin's aperture flag (LightWin and "
            "HELIX read it so; HELIX: 1 = the aperture profile of a .ouv file, 2 = no R "
            "check): the engine keeps the circular aperture R and the same field; the "
            "transfer map is TraceWin's with Ka = 1 (checked), the losses are not"
        ]

    @property
    def file(self) -> Path:
        return field_map_path(self.folder, self.source.statement.args[8], self.geometry)

    def field_map(self) -> FieldMap1D:
        fmap = read_field_map_1d(self.file)
        check_length(self.source.describe(), float(self.length_m[0]), self.file.name, fmap.length)
        return fmap

    def _cross(self, kin: Kinematics, time: float | None) -> Crossing:
        fmap = self.field_map()
        w_in = float(np.asarray(kin.energy).reshape(-1)[0])
        ke = float(self.p(6)[0])
        phi = np.deg2rad(float(self.p(3)[0]))
        if self.sync_phase:
            phi = solve_entry_phase(fmap, ke, self.freq, w_in, phi, kin.species)
        elif self.absolute:
            phi = phi + self.omega * float(time)
        return cross_field_map(fmap, ke, self.freq, w_in, phi, kin.species)

    @property
    def nonlinear(self) -> bool:
        """RF: particles are integrated through the field, each with its phase and energy."""
        return self.accelerating

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        w_in = float(np.asarray(kin.energy).reshape(-1)[0])
        crossing = self.crossing(kin)
        ke = float(self.p(6)[0])
        return track_field_map(self.field_map(), ke, self.freq, crossing, w_in, coords, kin.species)

    def track_space_charge(
        self, coords: np.ndarray, kin: Kinematics, mesh: MeshSpaceCharge
    ) -> np.ndarray | None:
        """RF maps: space-charge kicks between the integration steps, every ``mesh.step_m``."""
        if not self.accelerating:
            return None
        w_in = float(np.asarray(kin.energy).reshape(-1)[0])
        species = kin.species

        def kick(state: np.ndarray, length: float) -> None:
            mesh.kick_rf_state(state, length, species, self.omega)

        ke = float(self.p(6)[0])
        return track_field_map(
            self.field_map(),
            ke,
            self.freq,
            self.crossing(kin),
            w_in,
            coords,
            species,
            kick,
            mesh.step_m,
        )

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        if not self.accelerating:
            if fraction != 1.0:
                raise self.unsupported("a partial static field map")
            w = float(np.asarray(kin.energy).reshape(-1)[0])
            hit = self._static.get(w)
            if hit is None:
                brho, gamma = float(np.asarray(kin.brho)), float(np.asarray(kin.gamma))
                kb = float(self.p(5)[0])
                hit = self._static[w] = static_solenoid_map(self.field_map(), kb, brho, gamma)
            return hit[None].copy()
        if fraction != 1.0:
            raise self.unsupported("a partial RF map (a STEERER field in a FIELD_MAP)")
        return self.crossing(kin).matrix[None].copy()
