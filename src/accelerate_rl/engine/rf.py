"""The synchronous (reference) particle through RF field maps: energy gain, phases and
cavity set points (``Cav_set_point_res.dat``), as TraceWin defines them.

Conventions (checked on TraceWin's spoke run, see the tests):

* On axis the field is ``Ez(z, t) = ke * E(z) / norm * cos(omega t + phi0)``; ``E`` in
  MV/m, omega = 2 pi FREQ (the RF frequency of the section, set by ``FREQ``).
* ``FIELD_MAP ... phi ... p``: with p = 0 (relative) phi is the RF phase the synchronous
  particle sees when it enters the map; with p = 1 (absolute) phi is phi0 and the phase
  seen is phi0 + omega t_entry, t counted from the start of the line; after the command
  ``SET_SYNC_PHASE`` phi is the synchronous phase and the entry phase is solved for.
* Along the map: dW/dz = q Ez(z) cos(phi) [MeV/m per unit charge], dphi/dz = omega / (beta c);
  integrated with RK4 on the map's own grid, the field linearly interpolated between nodes.
* The cavity's voltage and synchronous phase: ``V exp(i phi_s) = int Ez(z) exp(i phi(z)) dz``
  along the synchronous particle's trajectory; V [MV], phi_s [deg]; the energy gain is
  q V cos(phi_s) only when phi(z) does not depend on W (short maps); W is integrated.

Not verified against TraceWin: the absolute phase mode (p = 1) and SET_SYNC_PHASE (no
sample run uses them); static magnetic maps (geometry 10) leave the energy unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..tracewin.dat import Lattice, parse_number
from .fieldmap import FieldMap1D, field_map_path, read_field_map_1d
from .species import C_LIGHT, Kinematics, Species

#: Geometry of an RF electric 1D map on axis.
RF_E_1D = 100
#: Geometry of a static magnetic 1D map on axis.
STATIC_B_1D = 10


@dataclass(frozen=True)
class CavitySetPoint:
    """One RF field map as the synchronous particle crossed it.

    Attributes:
        number: element number (TraceWin's Cav#). phi_s: synchronous phase [deg].
        voltage: |int Ez exp(i phi) dz| [MV]. w_in, w_out: kinetic energy [MeV].
        phi_in: RF phase at the entry [deg]. freq: RF frequency [MHz].
    """

    number: int
    phi_s: float
    voltage: float
    w_in: float
    w_out: float
    phi_in: float
    freq: float


@dataclass
class ReferenceTrack:
    """The synchronous particle along the line.

    Attributes:
        numbers: element numbers 1..n. energy: (n + 1,) kinetic energy [MeV] at the input
        (index 0) and at every element exit. time: (n + 1,) time of flight [s] from the
        input. cavities: the RF field maps crossed, in order.
    """

    numbers: np.ndarray
    energy: np.ndarray
    time: np.ndarray
    cavities: list[CavitySetPoint] = field(default_factory=list)

    def abs_phase(self, freq_mhz: float) -> np.ndarray:
        """(n + 1,) phase of the synchronous particle [deg] at ``freq_mhz`` (TraceWin's
        Abs_Phase)."""
        return np.rad2deg(2 * np.pi * freq_mhz * 1e6 * self.time)


@dataclass(frozen=True)
class _Crossing:
    w_out: float
    phase_advance: float  # [rad]
    voltage: complex  # [MV], phase relative to the entry phase convention


def cross_field_map(
    fmap: FieldMap1D,
    ke: float,
    freq_mhz: float,
    w_in: float,
    phi_in: float,
    species: Species,
) -> _Crossing:
    """RK4 through an RF map from entry phase ``phi_in`` [rad] and energy ``w_in`` [MeV]."""
    omega = 2 * np.pi * freq_mhz * 1e6
    q = species.charge
    mass = species.mass
    values = ke * fmap.values
    dz = fmap.dz
    mid = 0.5 * (values[:-1] + values[1:])  # linear interpolation at half steps

    def dphi(w: float) -> float:
        g1 = w / mass
        beta = np.sqrt(g1 * (g1 + 2.0)) / (1.0 + g1)
        return omega / (beta * C_LIGHT)

    w, phi = float(w_in), float(phi_in)
    voltage = 0j
    for i in range(fmap.steps):
        e0, em, e1 = values[i], mid[i], values[i + 1]
        k1w, k1p = q * e0 * np.cos(phi), dphi(w)
        p2 = phi + 0.5 * dz * k1p
        k2w, k2p = q * em * np.cos(p2), dphi(w + 0.5 * dz * k1w)
        p3 = phi + 0.5 * dz * k2p
        k3w, k3p = q * em * np.cos(p3), dphi(w + 0.5 * dz * k2w)
        p4 = phi + dz * k3p
        k4w, k4p = q * e1 * np.cos(p4), dphi(w + dz * k3w)
        voltage += (
            dz
            / 6
            * (
                e0 * np.exp(1j * phi)
                + 2 * em * np.exp(1j * p2)
                + 2 * em * np.exp(1j * p3)
                + e1 * np.exp(1j * p4)
            )
        )
        w += dz / 6 * (k1w + 2 * k2w + 2 * k3w + k4w)
        phi += dz / 6 * (k1p + 2 * k2p + 2 * k3p + k4p)
    return _Crossing(w, phi - phi_in, voltage)


def _solve_entry_phase(
    fmap: FieldMap1D, ke: float, freq: float, w_in: float, phi_s: float, species: Species
) -> float:
    """The entry phase [rad] that gives synchronous phase ``phi_s`` [rad] (secant)."""
    phi = phi_s
    for _ in range(30):
        got = np.angle(cross_field_map(fmap, ke, freq, w_in, phi, species).voltage)
        error = np.angle(np.exp(1j * (got - phi_s)))
        phi -= error
        if abs(error) < 1e-12:
            return float(np.angle(np.exp(1j * phi)))  # in (-pi, pi]
    raise ValueError(f"SET_SYNC_PHASE: no entry phase gives phi_s={np.rad2deg(phi_s)} deg")


def reference_track(lattice: Lattice, kin: Kinematics, bunch_freq: float) -> ReferenceTrack:
    """Track the synchronous particle (input energy ``kin``) through ``lattice``.

    ``FREQ`` sets the RF frequency of what follows (default: ``bunch_freq`` [MHz]);
    ``FIELD_MAP_PATH`` is relative to the lattice file's folder.

    Raises:
        ValueError: a field map that cannot be found or read, naming element and file.
    """
    species = kin.species
    folder = Path(lattice.path).parent
    maps_folder = folder
    freq = bunch_freq
    sync_mode = False
    n = len(lattice.elements)
    energy = np.empty(n + 1)
    time = np.empty(n + 1)
    energy[0], time[0] = float(kin.energy), 0.0
    cavities: list[CavitySetPoint] = []
    w, t = float(kin.energy), 0.0
    for item in lattice.sequence:
        stmt = item.statement
        if item.number is None:
            if stmt.keyword == "FREQ" and stmt.args:
                freq = parse_number(stmt.args[0])
            elif stmt.keyword == "FIELD_MAP_PATH" and stmt.args:
                maps_folder = folder / stmt.args[0]
            elif stmt.keyword == "SET_SYNC_PHASE":
                sync_mode = True
            continue
        element = lattice.elements[item.number - 1]
        args = element.statement.args
        length = _length_m(element)
        if element.keyword == "FIELD_MAP" and int(parse_number(args[0])) == RF_E_1D:
            fmap = _load(element, maps_folder)
            phi0 = np.deg2rad(parse_number(args[2]))
            ke = parse_number(args[5])
            absolute = len(args) > 9 and int(parse_number(args[9])) == 1
            omega = 2 * np.pi * freq * 1e6
            if sync_mode:
                phi_in = _solve_entry_phase(fmap, ke, freq, w, phi0, species)
            elif absolute:
                phi_in = phi0 + omega * t
            else:
                phi_in = phi0
            crossing = cross_field_map(fmap, ke, freq, w, phi_in, species)
            cavities.append(
                CavitySetPoint(
                    element.number,
                    float(np.rad2deg(np.angle(crossing.voltage))),
                    float(abs(crossing.voltage)),
                    w,
                    crossing.w_out,
                    float(np.rad2deg(phi_in)),
                    freq,
                )
            )
            t += crossing.phase_advance / omega
            w = crossing.w_out
        elif length > 0:
            t += length / (float(Kinematics(w, species).beta) * C_LIGHT)
        energy[item.number], time[item.number] = w, t
    return ReferenceTrack(np.arange(1, n + 1), energy, time, cavities)


def _length_m(element) -> float:
    """The element's length [m] for the time of flight (first parameter of lengthy
    elements; BEND's from its angle and radius)."""
    from .elements import model_class

    cls = model_class(element.keyword)
    if element.keyword == "FIELD_MAP":
        return parse_number(element.statement.args[1]) * 1e-3
    if cls is None:
        return 0.0
    values = []
    for tok in element.statement.args:
        try:
            values.append(parse_number(tok))
        except ValueError:
            values.append(0.0)
    return float(np.atleast_1d(cls(element, np.array(values)[None]).length_m)[0])


def _load(element, folder: Path) -> FieldMap1D:
    args = element.statement.args
    if len(args) < 9:
        raise ValueError(f"{element.describe()}: FIELD_MAP needs 9 parameters (file name 9th)")
    path = field_map_path(folder, args[8], int(parse_number(args[0])))
    fmap = read_field_map_1d(path)
    length = parse_number(args[1]) * 1e-3
    if abs(fmap.length - length) > 1e-6 * max(1.0, length):
        raise ValueError(
            f"{element.describe()}: FIELD_MAP length {length * 1e3:g} mm but {path.name} "
            f"spans {fmap.length * 1e3:g} mm: fix L or the map"
        )
    return fmap
