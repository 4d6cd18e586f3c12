"""DTL_CEL L Lq1 Lq2 gc B1 B2 E0TL phi R p betas T kT kkT [kS kkS]: a drift-tube-linac
cell of length L [mm]: a quadrupole of length Lq1 [mm] and gradient B1 [T/m] at its start,
a thin RF gap (E0TL [V], phi [deg], as :class:`~.gap.Gap`) at L/2 - gc [mm], a
quadrupole Lq2, B2 at its end (TraceWin's half drift-tube quadrupoles); drifts between.
The quadrupole and the drift before the gap see the entry energy, those after it the
exit energy. The transit-time-factor expansion (betas T kT kkT kS kkS) is the gap's
(:class:`~.gap.TransitTime`); the gap adds its time-of-flight term to the cell's. Checked
against TraceWin's own DTL_CEL matrices (``tests/test_rf_gap.py``)."""

from __future__ import annotations

import numpy as np

from ..rf import Crossing
from ..species import C_LIGHT, Kinematics
from .base import ElementModel
from .drift import Drift
from .gap import Gap, TransitTime, thin_gap_crossing, transit_time_notes
from .quad import Quad
from .rf_base import RFElement


class DtlCell(RFElement):
    keyword = "DTL_CEL"
    length_param = 1
    aperture_param = 9
    MODE_PARAM = 10

    def validate(self) -> None:
        length, lq1, lq2, gc = (self.p(v) for v in (1, 2, 3, 4))
        if np.any(length / 2 - gc - lq1 < 0) or np.any(length / 2 + gc - lq2 < 0):
            raise self.unsupported(
                "quadrupoles overlapping the gap (need Lq1 <= L/2 - gc and Lq2 <= L/2 + gc)"
            )

    @property
    def transit_time(self) -> TransitTime | None:
        return TransitTime.from_params(np.array([self.p(v)[0] for v in range(11, 17)]))

    def notes(self) -> list[str]:
        return transit_time_notes(self, [self.transit_time])

    def _parts(self) -> list[ElementModel]:
        """Quad 1, drift 1, gap, drift 2, quad 2 (batch entry 0)."""
        length, lq1, lq2, gc, b1, b2 = (float(self.p(v)[0]) for v in range(1, 7))
        r = float(self.p(9)[0])
        src = self.source
        ttf = [self.p(v)[0] for v in range(11, 17)]
        gap = Gap(src, np.array([[self.p(7)[0], self.p(8)[0], r, 0.0, *ttf]]))
        gap.bind(self.folder, self.freq, self.sync_phase)
        return [
            Quad(src, np.array([[lq1, b1, r]])),
            Drift(src, np.array([[length / 2 - gc - lq1, r]])),
            gap,
            Drift(src, np.array([[length / 2 + gc - lq2, r]])),
            Quad(src, np.array([[lq2, b2, r]])),
        ]

    def _cross(self, kin: Kinematics, time: float | None) -> Crossing:
        parts = self._parts()
        phi = np.deg2rad(float(self.p(8)[0]))
        if self.absolute and not self.sync_phase:  # the gap's time: after quad and drift
            to_gap = float(parts[0].length_m[0] + parts[1].length_m[0])
            phi += self.omega * (float(time) + to_gap / (float(kin.beta) * C_LIGHT))
        gap = thin_gap_crossing(float(self.p(7)[0]), phi, self.freq, kin, self.transit_time)
        exit_kin = Kinematics(gap.w_out, kin.species)
        m = np.eye(6)
        for i, part in enumerate(parts):
            m = part.matrix(kin if i < 3 else exit_kin)[0] @ m  # the gap sees the entry
        omega = self.omega
        before = float(parts[0].length_m[0] + parts[1].length_m[0])
        after = float(parts[3].length_m[0] + parts[4].length_m[0])
        advance = gap.phase_advance + omega * (
            before / (float(kin.beta) * C_LIGHT) + after / (float(exit_kin.beta) * C_LIGHT)
        )
        return Crossing(gap.w_out, advance, gap.voltage, gap.phi_in, m)

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        if fraction != 1.0:
            raise self.unsupported("a partial DTL cell")
        return self.crossing(kin).matrix[None].copy()

    @property
    def nonlinear(self) -> bool:
        return True

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        """The parts in turn: chromatic quadrupoles, drifts, the gap per particle."""
        exit_kin = Kinematics(self.crossing(kin).w_out, kin.species)
        out = coords
        for i, part in enumerate(self._parts()):
            out = part.track(out, kin if i < 3 else exit_kin)
        return out
