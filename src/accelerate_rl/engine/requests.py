"""Parsing an engine request: ``ele[n][v]`` overrides, beam keys and run keys.

A request is a mapping of TraceWin's keys (see :mod:`.simulation`'s docstring for the
list). :func:`split_params` sorts them; :func:`run_options` reads the run keys the engine
understands (mode, random seed, multiparticle space-charge solver and mesh), each bad
value an :class:`InvalidParameterError` naming its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..tracewin.dat import parse_ele_key
from ..tracewin.errors import InvalidParameterError
from .beam import TRACEWIN_BEAM_KEYS
from .spacecharge_mesh import DEFAULT_SHAPE

#: Run keys the engine understands (others of TraceWin's are accepted and ignored).
RUN_KEYS = {"partran", "random_seed", "sc_solver", "sc_mesh"}
#: Multiparticle space-charge solvers.
SC_SOLVERS = ("mesh", "linear")
#: TraceWin keys with no meaning for this engine: accepted, recorded, no effect.
IGNORED_KEYS = {"nbr_thread", "hide", "cancel_matching", "cancel_matchingp", "synoptic_file"}
#: Run modes.
MODES = ("envelope", "multiparticle")


def split_params(params: Mapping[str, Any]) -> tuple[dict, dict, dict, list[str]]:
    """Split run parameters into ``ele[n][v]`` overrides, beam keys, run keys, ignored keys.

    Raises:
        InvalidParameterError: a key that is none of these, naming it.
    """
    ele, beam, run, ignored = {}, {}, {}, []
    for key, value in params.items():
        low = key.lower()
        if parse_ele_key(key) is not None:
            ele[key] = value
        elif low in TRACEWIN_BEAM_KEYS:
            beam[low] = value
        elif low in RUN_KEYS:
            run[low] = value
        elif low in IGNORED_KEYS:
            ignored.append(key)
        else:
            raise InvalidParameterError(
                key,
                "unknown key: expected ele[n][v], a beam key ("
                + ", ".join(sorted(TRACEWIN_BEAM_KEYS))
                + ") or a run key (partran, random_seed)",
            )
    return ele, beam, run, ignored


@dataclass(frozen=True)
class RunOptions:
    """What a run's keys and arguments select.

    Attributes:
        mode: "envelope" or "multiparticle".
        seed: the random seed of the input distribution, None for a fresh one.
        sc_solver: multiparticle space charge, "mesh" or "linear".
        sc_mesh: mesh nodes (nx, ny, nz) of the "mesh" solver.
    """

    mode: str
    seed: int | None
    sc_solver: str
    sc_mesh: tuple[int, int, int]


def run_options(
    run_keys: Mapping[str, Any],
    mode: str | None = None,
    seed: int | None = None,
    sc_solver: str | None = None,
    sc_mesh: tuple[int, int, int] | None = None,
) -> RunOptions:
    """The options of one run: ``partran``, ``random_seed``, ``sc_solver`` and ``sc_mesh``
    run keys, an explicit ``mode`` taking precedence over ``partran`` and the run keys
    over ``seed``, ``sc_solver`` and ``sc_mesh`` only when those are None.

    Raises:
        InvalidParameterError: a bad run-key value, naming the key.
        ValueError: an unknown ``mode``.
    """
    if "partran" in run_keys:
        partran = str(run_keys["partran"]).strip()
        if partran not in ("0", "1"):
            raise InvalidParameterError("partran", f"must be 0 or 1, got {partran!r}")
        mode = mode or ("multiparticle" if partran == "1" else "envelope")
    mode = mode or "envelope"
    if mode not in MODES:
        raise ValueError(f"mode must be 'envelope' or 'multiparticle', got {mode!r}")
    if "random_seed" in run_keys:
        try:
            seed = int(float(run_keys["random_seed"]))
        except ValueError:
            raise InvalidParameterError("random_seed", "must be an integer") from None
    solver, shape = _space_charge_options(run_keys, sc_solver, sc_mesh)
    return RunOptions(mode, seed, solver, shape)


def _space_charge_options(
    run_keys: Mapping[str, Any], solver: str | None, mesh: tuple[int, int, int] | None
) -> tuple[str, tuple[int, int, int]]:
    """The multiparticle space-charge solver and mesh from run keys and arguments."""
    if solver is None:
        solver = str(run_keys.get("sc_solver", "mesh")).strip().lower()
    if solver not in SC_SOLVERS:
        raise InvalidParameterError("sc_solver", f"must be one of {SC_SOLVERS}, got {solver!r}")
    raw = mesh if mesh is not None else run_keys.get("sc_mesh", DEFAULT_SHAPE)
    parts = raw.replace("x", ",").split(",") if isinstance(raw, str) else list(raw)
    try:
        shape = tuple(int(part) for part in parts)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 4:
        raise InvalidParameterError(
            "sc_mesh", f"must be three node counts of at least 4 like '32,32,32', got {raw!r}"
        )
    return solver, shape  # type: ignore[return-value]
