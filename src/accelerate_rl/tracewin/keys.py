"""TraceWin's command-line keys: which TraceWin accepts, which the embedded engine
honours or ignores, and the one set of rules their values follow.

Both simulators check a request with these rules before anything runs: the TraceWin
runner (:func:`validate_params`, which also renders TraceWin's argv) and the embedded
engine (its key split and beam keys call :func:`check_key`, :func:`as_number`,
:func:`as_count` and :func:`key_value`). So a request is valid for both or for neither,
on the keys they share.

Value rules:

- numbers: ints, floats (numpy scalars too) or strings in decimal notation (``-1.5``,
  ``2.6e3``); finite. Fortran's ``2.6d3`` is rejected with a hint (``2.6e3``), as are
  bools, None, lists and anything else;
- beam quantities: energy, mass, frequency and Twiss betas > 0; current, emittances and
  duty cycle >= 0; the charge state non-zero;
- counts (``nbr_part1``, ``nbr_thread``): whole numbers from 1 to 2**31 - 1;
- ``random_seed``: a whole number from 0 to 2**63 - 1 (omit it to have one drawn);
- ``partran``: 0 (envelope) or 1 (multiparticle);
- file keys (``dat_file``, ``dst_file1`` ...): letters, digits, ``_ . + - /``, no ``..``;
- flags (``hide`` ...): True, 1, "1", "" or None;
- the engine's own ``sc_solver`` (one of :data:`SC_SOLVERS`) and ``sc_mesh`` (three node
  counts of at least 4, "32,32,32").

Every rejection is an :class:`InvalidParameterError` naming the key, with the value cut to
80 characters.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..external.errors import InvalidParameterError, brief

if TYPE_CHECKING:
    from .dat import Lattice

#: Run keys TraceWin documents (``path_cal`` is set by the runner).
TRACEWIN_RUN_KEYS = frozenset(
    {
        "dat_file",
        "nbr_thread",
        "partran",
        "toutatis",
        "random_seed",
        "part_step",
        "tab_file",
        "synoptic_file",
        "use_dst_file",
        "input_dist_type",
        "trans_dist_mask",
        "long_dist_mask",
        "picnic_2d",
        "picnic_3d",
        "lost_e_limit",
        "lost_p_limit",
    }
)
#: Stems of TraceWin's beam keys, each taking suffix 1 (main beam) or 2: ``nbr_part1``,
#: ``energy2`` ... (units: energy MeV, mass eV, current mA, freq MHz, emittances mm.mrad).
BEAM_KEY_STEMS = frozenset(
    {
        "nbr_part",
        "energy",
        "current",
        "freq",
        "mass",
        "charge",
        "duty",
        "etnx",
        "etny",
        "eln",
        "alpx",
        "betx",
        "alpy",
        "bety",
        "alpz",
        "betz",
        "x",
        "y",
        "xp",
        "yp",
        "z",
        "zp",
        "dw",
        "spreadw",
        "dst_file",
    }
)
#: TraceWin's flags (keys without a value), lower-case; ``cancel_matchingP`` on its argv.
FLAGS = frozenset({"hide", "cancel_matching", "cancel_matchingp"})
#: Keys whose value is a file name rather than a number.
FILE_KEYS = frozenset({"dat_file", "tab_file", "synoptic_file", "dst_file1", "dst_file2"})
#: Beam quantities that are > 0 (energy [MeV], mass [eV], bunch frequency [MHz], Twiss
#: beta [mm/mrad]) and >= 0 (current [mA], emittances [mm.mrad], duty cycle).
POSITIVE_STEMS = frozenset({"energy", "mass", "freq", "betx", "bety", "betz"})
NON_NEGATIVE_STEMS = frozenset({"current", "etnx", "etny", "eln", "duty"})
#: Keys whose value is a count (a whole number >= 1).
COUNT_KEYS = frozenset({"nbr_part1", "nbr_part2", "nbr_thread"})

#: Run keys the embedded engine honours: TraceWin's ``partran`` and ``random_seed``, and
#: its own multiparticle space-charge options ``sc_solver`` and ``sc_mesh``.
ENGINE_RUN_KEYS = frozenset({"partran", "random_seed", "sc_solver", "sc_mesh"})
#: TraceWin keys with no meaning for the embedded engine: accepted, noted, no effect.
ENGINE_IGNORED_KEYS = frozenset(
    {"nbr_thread", "hide", "cancel_matching", "cancel_matchingp", "synoptic_file"}
)
#: The embedded engine's multiparticle space-charge solvers (run key ``sc_solver``).
SC_SOLVERS = ("mesh", "linear")

#: Largest count TraceWin takes (a 32-bit integer).
MAX_COUNT = 2**31 - 1
#: Largest random seed (a 64-bit integer).
MAX_SEED = 2**63 - 1

_ELE_KEY = re.compile(r"^\s*ele\s*\[\s*(-?\d+)\s*\]\s*\[\s*(-?\d+)\s*\]\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d{1,30}$")
_FORTRAN = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[dD][+-]?\d+$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_.+\-/]+$")


def parse_ele_key(key: str) -> tuple[int, int] | None:
    """Return ``(n, v)`` for an ``ele[n][v]`` key, or None if ``key`` is not of that form."""
    m = _ELE_KEY.match(key)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_key(key: object) -> str:
    """``key`` itself if it is a non-empty string; InvalidParameterError otherwise."""
    if not isinstance(key, str) or not key:
        raise InvalidParameterError(
            key, f"keys must be non-empty strings, got {type(key).__name__} {brief(key)}"
        )
    return key


def as_number(key: str, value: Any) -> float:
    """``value`` as a finite float, by the number rule of the module docstring."""
    if isinstance(value, bool):
        raise InvalidParameterError(key, f"value {value!r} is a bool, expected a number")
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()  # a 0-d numpy array
    if isinstance(value, str):
        if not _NUMBER.match(value):
            hint = ""
            if _FORTRAN.match(value):
                hint = f": write the exponent with e ({value.lower().replace('d', 'e')})"
            raise InvalidParameterError(key, f"value {brief(value)} is not a number{hint}")
    elif not isinstance(value, numbers.Real):
        raise InvalidParameterError(
            key, f"value {brief(value)} ({type(value).__name__}) is not a number"
        )
    try:
        number = float(value)
    except OverflowError:
        raise InvalidParameterError(key, f"value {brief(value)} is too large") from None
    except (TypeError, ValueError):
        raise InvalidParameterError(key, f"value {brief(value)} is not a number") from None
    if not math.isfinite(number):
        raise InvalidParameterError(key, f"value {brief(value)} is not finite")
    return number


def as_count(key: str, value: Any, low: int = 1, high: int = MAX_COUNT) -> int:
    """``value`` as a whole number in ``[low, high]`` (ints, integral floats, "500")."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        whole = int(value)
    elif isinstance(value, str) and _INTEGER.match(value):
        whole = int(value)  # exact, also beyond 2**53
    else:
        number = as_number(key, value)
        if not number.is_integer():
            raise InvalidParameterError(key, f"value {brief(value)} is not a whole number")
        whole = int(number)
    if not low <= whole <= high:
        raise InvalidParameterError(
            key, f"value {brief(value)} is out of range: must be {low}..{high}"
        )
    return whole


def is_multiparticle(value: Any) -> bool:
    """``partran``'s value: False for 0 (envelope), True for 1 (multiparticle)."""
    number = as_number("partran", value)
    if number not in (0.0, 1.0):
        raise InvalidParameterError("partran", f"must be 0 or 1, got {brief(value)}")
    return number == 1.0


def random_seed(value: Any) -> int:
    """``random_seed``'s value: a whole number in 0..2**63 - 1."""
    if value is None:
        raise InvalidParameterError("random_seed", "None is not a seed: omit the key to draw one")
    return as_count("random_seed", value, low=0, high=MAX_SEED)


def space_charge_solver(value: Any) -> str:
    """``sc_solver``'s value, lower-case: one of :data:`SC_SOLVERS`."""
    solver = value.strip().lower() if isinstance(value, str) else None
    if solver not in SC_SOLVERS:
        raise InvalidParameterError("sc_solver", f"must be one of {SC_SOLVERS}, got {brief(value)}")
    return solver


def space_charge_mesh(value: Any) -> tuple[int, int, int]:
    """``sc_mesh``'s value: mesh nodes (nx, ny, nz), each >= 4, from "32,32,32",
    "32x32x32" or a sequence of three counts."""
    if isinstance(value, str):
        parts: list[Any] = value.replace("x", ",").split(",")
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = []
    try:
        shape = tuple(as_count("sc_mesh", p.strip() if isinstance(p, str) else p, 4) for p in parts)
    except InvalidParameterError:
        shape = ()
    if len(shape) != 3:
        raise InvalidParameterError(
            "sc_mesh",
            f"must be three node counts of at least 4 like '32,32,32', got {brief(value)}",
        )
    return shape  # type: ignore[return-value]


def file_name(key: str, value: Any) -> str:
    """A file key's value: a relative or absolute path without spaces, shell characters
    or ``..``."""
    if not isinstance(value, (str, Path)):
        raise InvalidParameterError(key, f"value {brief(value)} is not a file name")
    text = str(value)
    if not _SAFE_PATH.match(text) or ".." in Path(text).parts:
        raise InvalidParameterError(
            key, f"file name {brief(text)}: use letters, digits, _ . + - / (no spaces, no ..)"
        )
    return text


def flag(key: str, value: Any) -> None:
    """Check a flag's value: True, 1, "1", "" or None set it."""
    plain = isinstance(value, (numbers.Real, str)) and not isinstance(value, bool)
    if not (value is None or value is True or (plain and value in (1, "1", ""))):
        raise InvalidParameterError(key, f"a flag: pass True to set it, got {brief(value)}")


def key_value(key: str, value: Any) -> Any:
    """The parsed value of a run, beam or flag key (not ``ele[n][v]``; any case), by its
    rule in the module docstring: ``partran`` -> bool, ``random_seed`` and counts -> int,
    file keys -> str, flags -> None, ``sc_*`` -> the engine's option, else a finite float
    (of the sign its beam quantity needs). Errors name ``key`` as it was written."""
    try:
        return _key_value(key, value)
    except InvalidParameterError as exc:
        if exc.key == key:
            raise
        raise InvalidParameterError(key, exc.reason) from None


def _key_value(key: str, value: Any) -> Any:
    low = key.lower()
    if low in FLAGS:
        return flag(key, value)
    if low == "partran":
        return is_multiparticle(value)
    if low == "random_seed":
        return random_seed(value)
    if low == "sc_solver":
        return space_charge_solver(value)
    if low == "sc_mesh":
        return space_charge_mesh(value)
    if low in FILE_KEYS:
        return file_name(key, value)
    if low in COUNT_KEYS:
        return as_count(key, value)
    number = as_number(key, value)
    stem = low[:-1] if low[-1:] in ("1", "2") else None
    if stem in POSITIVE_STEMS and number <= 0:
        raise InvalidParameterError(key, f"must be > 0, got {brief(value)}")
    if stem in NON_NEGATIVE_STEMS and number < 0:
        raise InvalidParameterError(key, f"must be >= 0, got {brief(value)}")
    if stem == "charge" and number == 0:
        raise InvalidParameterError(key, "the charge state must be non-zero")
    return number


def format_number(x: float) -> str:
    """A number as TraceWin reads it: integral values without a decimal point."""
    return repr(float(x)) if x != int(x) or abs(x) >= 1e15 else str(int(x))


def unknown_key(
    key: str, simulator: str, run_keys: Iterable[str], beam_keys: str
) -> InvalidParameterError:
    """The error for a key ``simulator`` does not know, listing the keys it does."""
    return InvalidParameterError(
        key,
        f"unknown key for {simulator}; valid: ele[n][v], run keys "
        f"({', '.join(sorted(run_keys))}), beam keys ({beam_keys})",
    )


def is_tracewin_key(key: str) -> bool:
    """Whether lower-case ``key`` (not ``ele[n][v]``) is a run key, flag or beam key."""
    stem = key[:-1] if key[-1:] in ("1", "2") else None
    return key in TRACEWIN_RUN_KEYS or key in FLAGS or stem in BEAM_KEY_STEMS


def validate_params(params: Mapping[str, Any], lattice: Lattice | None) -> list[str]:
    """Check run parameters for TraceWin and return them as its ``key=value`` arguments.

    Raises:
        InvalidParameterError: a ValueError naming the key: not a string, unknown,
            ``path_cal``, ``ele[n][v]`` out of range or not a number, a value breaking
            its key's rule (module docstring).
    """
    args: list[str] = []
    for key, value in params.items():
        low = check_key(key).lower()
        if parse_ele_key(key) is not None:
            if lattice is None:
                raise InvalidParameterError(
                    key, "cannot check ele[n][v] without the lattice: pass dat_file=..."
                )
            _, _, number = lattice.check_override(key, value)
            args.append(f"{key.replace(' ', '')}={format_number(number)}")
            continue
        if low == "path_cal":
            raise InvalidParameterError(key, "the runner sets path_cal (a private calc directory)")
        if not is_tracewin_key(low):
            beam_keys = ", ".join(sorted(BEAM_KEY_STEMS)) + ", each with suffix 1 or 2"
            raise unknown_key(key, "TraceWin", TRACEWIN_RUN_KEYS | FLAGS, beam_keys)
        parsed = key_value(key, value)
        if low in FLAGS:
            args.append(low if low != "cancel_matchingp" else "cancel_matchingP")
        elif isinstance(parsed, bool):
            args.append(f"{key}={int(parsed)}")
        elif isinstance(parsed, (int, str)):
            args.append(f"{key}={parsed}")
        else:
            text = value if isinstance(value, str) else format_number(parsed)
            args.append(f"{key}={text}")
    return args
