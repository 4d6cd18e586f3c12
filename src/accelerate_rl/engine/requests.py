"""Parsing an engine request: ``ele[n][v]`` overrides, beam keys and run keys.

A request is a mapping of TraceWin's keys (see :mod:`.simulation`'s docstring for the
list). :func:`split_params` sorts them; :func:`run_options` reads the run keys the engine
understands (mode, random seed, multiparticle space-charge solver and mesh), each bad
value an :class:`InvalidParameterError` naming its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..tracewin.dat import parse_ele_key
from ..tracewin.keys import (
    ENGINE_IGNORED_KEYS,
    ENGINE_RUN_KEYS,
    check_key,
    is_multiparticle,
    random_seed,
    space_charge_mesh,
    space_charge_solver,
    unknown_key,
)
from .beam import TRACEWIN_BEAM_KEYS
from .spacecharge_mesh import DEFAULT_SHAPE

#: Run modes.
MODES = ("envelope", "multiparticle")


#: What a request key is, by ``_key_kind``.
_ELE, _BEAM, _RUN, _IGNORED = "ele", "beam", "run", "ignored"


@lru_cache(maxsize=4096)
def _key_kind(key: str) -> str:
    """What ``key`` (a string) is: ``_ELE`` (``ele[n][v]``), ``_BEAM``, ``_RUN``
    or ``_IGNORED``. Cached: a vector env's sets repeat the same few keys, so a set
    costs a lookup per key, not a parse.

    Raises:
        InvalidParameterError: a key that is none of these, naming it (not cached).
    """
    low = key.lower()
    if parse_ele_key(key) is not None:
        return _ELE
    if low in TRACEWIN_BEAM_KEYS:
        return _BEAM
    if low in ENGINE_RUN_KEYS:
        return _RUN
    if low in ENGINE_IGNORED_KEYS:
        return _IGNORED
    known = ENGINE_RUN_KEYS | ENGINE_IGNORED_KEYS
    raise unknown_key(key, "the embedded engine", known, ", ".join(sorted(TRACEWIN_BEAM_KEYS)))


def split_params(params: Mapping[str, Any]) -> tuple[dict, dict, dict, list[str]]:
    """Split run parameters into ``ele[n][v]`` overrides, beam keys (as written), run keys
    (lower case), ignored keys.

    Raises:
        InvalidParameterError: a key that is not a non-empty string or that is none of
            these, naming it.
    """
    ele, beam, run, ignored = {}, {}, {}, []
    for key, value in params.items():
        kind = _key_kind(check_key(key))
        if kind == _ELE:
            ele[key] = value
        elif kind == _BEAM:
            beam[key] = value  # as written: its errors name it so
        elif kind == _RUN:
            run[key.lower()] = value
        else:
            ignored.append(key)
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
        multiparticle = is_multiparticle(run_keys["partran"])
        mode = mode or ("multiparticle" if multiparticle else "envelope")
    mode = mode or "envelope"
    if mode not in MODES:
        raise ValueError(f"mode must be 'envelope' or 'multiparticle', got {mode!r}")
    if "random_seed" in run_keys:
        seed = random_seed(run_keys["random_seed"])
    solver, shape = _space_charge_options(run_keys, sc_solver, sc_mesh)
    return RunOptions(mode, seed, solver, shape)


def _space_charge_options(
    run_keys: Mapping[str, Any], solver: str | None, mesh: tuple[int, int, int] | None
) -> tuple[str, tuple[int, int, int]]:
    """The multiparticle space-charge solver and mesh from run keys and arguments."""
    solver = space_charge_solver(run_keys.get("sc_solver", "mesh") if solver is None else solver)
    return solver, space_charge_mesh(
        run_keys.get("sc_mesh", DEFAULT_SHAPE) if mesh is None else mesh
    )
