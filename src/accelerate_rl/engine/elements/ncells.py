"""NCELLS m N betag E0T phi R p kE0Ti kE0To dzi dzo betas Ts kTs k2Ts Ti kTi k2Ti To kTo
k2To: an N-cell standing-wave cavity as N thin gaps (:mod:`.gap`) with drifts between.

TraceWin's conventions as ESS's OpenXAL "jels" builds this cavity (its ``NCellsTest``;
checked here against TraceWin's energies and output beam matrices of that suite,
``tests/test_rf_ncells.py``). Cell lengths [m], lambda the RF wavelength: m = 0 (0 mode)
betag lambda; m = 1 (pi mode) betag lambda / 2; m = 2 inner cells betag lambda and end
cells 0.75 betag lambda, the end gaps 0.25 betag lambda from the cavity's ends, no sign
change between cells. Each gap sits at its cell's centre (m = 2: as said), the first
shifted by dzi [mm], the last by dzo [mm]. A cell of length Lc has the effective voltage
E0T Lc [E0T in V/m]; the first and last cells' voltages are scaled by (1 + kE0Ti) and
(1 + kE0To) and, with a transit-time factor (betas > 0), by Ti / Ts and To / Ts. Their
transit-time-factor expansions (:class:`~.gap.TransitTime`, no S terms) are (betas, Ts,
kTs, k2Ts) for the inner cells, (betas, Ti, kTi, k2Ti) and (betas, To, kTo, k2To) for the
first and last.

Phases: phi [deg] is the RF phase the synchronous particle sees at the first gap (p = 0;
with p = 1 the phase at t = 0, plus omega t at that gap; after SET_SYNC_PHASE taken as
the first gap's synchronous phase too). In the pi mode the field changes sign from cell
to cell: gap j sees phi + j pi + omega (t_j - t_0), t_j the reference particle's arrival
at gap j (including each gap's time-of-flight term), so a particle at betag sees phi in
every cell. The cavity's voltage and synchronous phase (``Cav_set_point_res``) are those
of the sum of the gaps' phasors. Not modelled: fields between cells beyond the thin-gap
kicks.
"""

from __future__ import annotations

import numpy as np

from ..rf import Crossing
from ..species import C_LIGHT, Kinematics
from .base import ElementModel
from .drift import Drift
from .gap import Gap, TransitTime, transit_time_notes
from .rf_base import RFElement


class NCells(RFElement):
    keyword = "NCELLS"
    aperture_param = 6
    MODE_PARAM = 7

    def validate(self) -> None:
        mode, cells, betag = self.p(1), self.p(2), self.p(3)
        if np.any((mode != 0) & (mode != 1) & (mode != 2)):
            raise self.unsupported("a mode m other than 0, 1 or 2")
        if np.any(cells < 1) or np.any(cells != np.round(cells)):
            raise self.unsupported("a number of cells N that is not a positive integer")
        if np.any(betag <= 0):
            raise self.unsupported("betag <= 0 (the cells' geometric velocity)")

    @property
    def wavelength(self) -> float:
        """RF wavelength [m]."""
        return C_LIGHT / (self.freq * 1e6)

    def cell_lengths(self) -> np.ndarray:
        """(N,) cell lengths [m] (batch entry 0)."""
        mode, cells = int(self.p(1)[0]), int(self.p(2)[0])
        unit = float(self.p(3)[0]) * self.wavelength
        lengths = np.full(cells, unit / 2 if mode == 1 else unit)
        if mode == 2:
            lengths[[0, -1]] = 0.75 * unit
        return lengths

    @property
    def pi_mode(self) -> bool:
        """Whether the field changes sign from cell to cell (m = 1)."""
        return int(self.p(1)[0]) == 1

    @property
    def length_m(self) -> np.ndarray:
        if self.freq <= 0:  # before the lattice context is bound
            return np.zeros(self.batch)
        return np.full(self.batch, float(self.cell_lengths().sum()))

    def notes(self) -> list[str]:
        if self.freq <= 0:  # before the lattice context is bound
            return []
        return transit_time_notes(self, [TransitTime.from_params(t) for t in self._layout()[2]])

    def _layout(self) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Drift lengths before each gap and after the last [m], gap voltages [V] and
        transit-time parameters (betas, T, kT, kkT) per gap."""
        lengths = self.cell_lengths()
        n = len(lengths)
        centres = np.cumsum(lengths) - lengths / 2
        if int(self.p(1)[0]) == 2:  # end gaps a quarter betag lambda from the ends
            quarter = 0.25 * float(self.p(3)[0]) * self.wavelength
            centres[0] = quarter
            if n > 1:
                centres[-1] = lengths.sum() - quarter
        centres[0] += float(self.p(10)[0]) * 1e-3
        centres[-1] += float(self.p(11)[0]) * 1e-3 if n > 1 else 0.0
        edges = np.diff(np.concatenate([[0.0], centres, [lengths.sum()]]))
        if np.any(edges < 0):
            raise self.unsupported("dzi/dzo moving an end gap out of its cavity")
        volts = float(self.p(4)[0]) * lengths
        with_ttf = float(self.p(12)[0]) > 0 and float(self.p(13)[0]) > 0
        ts = float(self.p(13)[0])
        ti, to = float(self.p(16)[0]), float(self.p(19)[0])
        volts[0] *= (1.0 + float(self.p(8)[0])) * (ti / ts if with_ttf and ti > 0 else 1.0)
        if n > 1:
            volts[-1] *= (1.0 + float(self.p(9)[0])) * (to / ts if with_ttf and to > 0 else 1.0)
        betas = float(self.p(12)[0])
        inner = [betas, *(float(self.p(v)[0]) for v in (13, 14, 15))]
        first = [betas, *(float(self.p(v)[0]) for v in (16, 17, 18))]
        last = [betas, *(float(self.p(v)[0]) for v in (19, 20, 21))]
        ttf = [np.array(inner) for _ in range(n)]
        if first[1] > 0:
            ttf[0] = np.array(first)
        if n > 1 and last[1] > 0:
            ttf[-1] = np.array(last)
        return edges, volts, ttf

    def _parts(self, kin: Kinematics, phi_first: float) -> tuple[list[ElementModel], Crossing]:
        """Drift, gap, drift, gap, ..., drift with each gap's phase from the reference
        particle's arrival (``phi_first`` [rad] at the first gap), and the whole cavity's
        crossing (batch entry 0)."""
        edges, volts, ttf = self._layout()
        r = float(self.p(6)[0])
        src = self.source
        species = kin.species
        w = float(np.asarray(kin.energy).reshape(-1)[0])
        elapsed = 0.0  # reference time since the first gap [s]
        parts: list[ElementModel] = []
        m = np.eye(6)
        voltage = 0j
        for j, (drift, volt) in enumerate(zip(edges[:-1], volts, strict=True)):
            here = Kinematics(w, species)
            if j:
                elapsed += drift / (float(here.beta) * C_LIGHT)
            d = Drift(src, np.array([[drift * 1e3, r]]))
            phase = phi_first + (np.pi * j if self.pi_mode else 0.0) + self.omega * elapsed
            gap = Gap(src, np.array([[volt, np.rad2deg(phase), r, 0.0, *ttf[j]]]))
            gap.bind(self.folder, self.freq, False)
            crossing = gap.crossing(here)
            m = crossing.matrix @ d.matrix(here)[0] @ m
            elapsed += crossing.phase_advance / self.omega
            voltage += crossing.voltage
            w = crossing.w_out
            parts += [d, gap]
        tail = Drift(src, np.array([[edges[-1] * 1e3, r]]))
        out = Kinematics(w, species)
        m = tail.matrix(out)[0] @ m
        to_first = edges[0] / (float(kin.beta) * C_LIGHT)
        elapsed += to_first + edges[-1] / (float(out.beta) * C_LIGHT)
        parts.append(tail)
        return parts, Crossing(w, self.omega * elapsed, complex(voltage), phi_first, m)

    def _cross(self, kin: Kinematics, time: float | None) -> Crossing:
        phi = np.deg2rad(float(self.p(5)[0]))
        if self.absolute and not self.sync_phase:  # the first gap's time
            to_first = self._layout()[0][0] / (float(kin.beta) * C_LIGHT)
            phi += self.omega * (float(time) + to_first)
        return self._parts(kin, float(phi))[1]

    def matrix(self, kin: Kinematics, fraction: float = 1.0) -> np.ndarray:
        if fraction != 1.0:
            raise self.unsupported("a partial NCELLS cavity")
        return self.crossing(kin).matrix[None].copy()

    @property
    def nonlinear(self) -> bool:
        return True

    def track(self, coords: np.ndarray, kin: Kinematics) -> np.ndarray:
        """Drifts and gaps in turn, each gap per particle (its phase and velocity)."""
        parts, _ = self._parts(kin, self.crossing(kin).phi_in)
        here = kin
        out = coords
        for part in parts:
            out = part.track(out, here)
            if isinstance(part, Gap):
                here = Kinematics(part.crossing(here).w_out, kin.species)
        return out
