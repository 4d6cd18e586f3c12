"""Registry of TraceWin `.dat` keywords: which are elements (numbered by ``ele[n]``) and
which are commands (not numbered), with the names of their parameters.

Parameter names follow the TraceWin manual's order; ``ele[n][v]`` addresses the v-th
(1-based) of them. Units: lengths mm, fields T, gradients T/m, voltages V, phases deg.
A trailing ``...`` in a signature means "more optional parameters may follow".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeywordSpec:
    """What TraceWin knows about one keyword."""

    name: str
    is_element: bool
    params: tuple[str, ...] = ()
    #: Parameter positions (1-based) that hold text (file names, paths), not numbers.
    text_params: tuple[int, ...] = ()
    #: Whether more parameters than ``params`` may follow.
    open_ended: bool = False

    @property
    def max_params(self) -> int | None:
        """Largest valid parameter index, or None when open-ended."""
        return None if self.open_ended else len(self.params)


def _el(name: str, params: str = "", text: tuple[int, ...] = (), more: bool = False) -> KeywordSpec:
    return KeywordSpec(name, True, tuple(params.split()), text, more)


def _cmd(name: str, params: str = "", text: tuple[int, ...] = (), more: bool = True) -> KeywordSpec:
    return KeywordSpec(name, False, tuple(params.split()), text, more)


_ELEMENTS = [
    _el("DRIFT", "L R Ry dx dy"),
    _el("QUAD", "L G R theta G3 G4 G5 G6 GFR"),
    _el("QUAD_ELE", "L V R theta V3 V4 V5 V6"),
    _el("THIN_LENS", "fx fy R"),
    _el("SOLENOID", "L B R"),
    _el("BEND", "alpha rho n R HV"),
    _el("EDGE", "beta rho gap K1 K2 R HV"),
    _el("THIN_STEERING", "BLx BLy R kind"),
    _el("MULTIPOLE", "n L theta B R", more=True),
    _el("APERTURE", "dx dy n", more=True),
    _el("GAP", "E0TL phi R p betas T kT kkT kS kkS"),
    _el("DTL_CEL", "L Lq1 Lq2 gc B1 B2 E0TL phi R p betas T kT kkT kS kkS"),
    _el(
        "NCELLS",
        "m N betag E0T phi R p kE0Ti kE0To dzi dzo betas Ts kTs k2Ts Ti kTi k2Ti To kTo k2To",
    ),
    _el("CAVSIN", "L N E0 phi R p", more=True),
    _el("FIELD_MAP", "geom L phi R kb ke ki ka file p", text=(9,)),
    _el("ELECTROSTA_ACC", "V L K R", more=True),
    _el("ELECTROSTA_BEND", "alpha rho type R HV", more=True),
    _el("RFQ_CELL", "V R p mod m L alpha", more=True),
    _el("SEXTUPOLE", "L G R", more=True),
    _el("HELIX", "L", more=True),
    _el("FUNNEL", "", more=True),
    _el("BEAM_ROT", "angle", more=True),
    _el("SPACE_CHARGE_COMP", "k", more=True),
    _el("SINUS_CAVITY", "L N E0 phi R p", more=True),
    _el("CRYSTAL", "", more=True),
    _el("SOLENOID_ELE", "", more=True),
    _el("DOUBLE_GAP", "", more=True),
]

_COMMANDS = [
    _cmd("FREQ", "f"),
    _cmd("LATTICE", "n1 n2"),
    _cmd("LATTICE_END"),
    _cmd("FIELD_MAP_PATH", "path", text=(1,)),
    _cmd("SET_SYNC_PHASE"),
    _cmd("SUPERPOSE_MAP", "z0 x y z theta_x theta_y theta_z"),
    _cmd("SUPERPOSE_MAP_OUT", "z0 x y z theta_x theta_y theta_z"),
    _cmd("STEERER", "Bx By Bmax elec"),
    _cmd("REPEAT_ELE", "k n"),
    _cmd("END"),
    _cmd("MARKER", "name", text=(1,)),
    _cmd("CHOPPER"),
    _cmd("PLOT_DST"),
    _cmd("READ_DST", "file", text=(1,)),
    _cmd("READ_OUT"),
    _cmd("PARTRAN_STEP"),
    _cmd("SHIFT"),
    _cmd("CHANGE_BEAM"),
    _cmd("GAS"),
    _cmd("SET_ADV"),
    _cmd("SET_TWISS"),
    _cmd("SET_ACHROMAT"),
    _cmd("START_ACHROMAT"),
    _cmd("SET_BEAM_PHASE_ERROR"),
    _cmd("SET_SIZE"),
    _cmd("SET_POSITION"),
    _cmd("MIN_PHASE_VARIATION"),
    _cmd("DOUBLET_START"),
    _cmd("DOUBLET_END"),
    _cmd("TRIPLET_START"),
    _cmd("TRIPLET_END"),
    _cmd("SPACE_CHARGE"),
    _cmd("BEAM"),
    _cmd("MIN_FIELD_VARIATION"),
    _cmd("SET_CAV_SYNC_PHASE"),
    _cmd("UPDATE_FIELD_MAP"),
]

#: Keyword prefixes that are element families: every ``DIAG_*`` is an element.
ELEMENT_PREFIXES = ("DIAG_",)
#: Keyword prefixes that are command families (optimiser and error studies).
COMMAND_PREFIXES = ("ADJUST", "ERROR_", "MATCH_", "SET_", "OUTPUT_", "PLOT_")

KEYWORDS: dict[str, KeywordSpec] = {k.name: k for k in (*_ELEMENTS, *_COMMANDS)}


def lookup(keyword: str) -> KeywordSpec | None:
    """Return the spec of ``keyword`` (case-insensitive), or None if TraceWin would not know it."""
    name = keyword.upper()
    spec = KEYWORDS.get(name)
    if spec is not None:
        return spec
    if name.startswith(ELEMENT_PREFIXES):
        return KeywordSpec(name, True, (), (), True)
    if name.startswith(COMMAND_PREFIXES):
        return KeywordSpec(name, False, (), (), True)
    return None
