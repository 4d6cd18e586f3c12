"""TraceWin file formats (``.dat``, ``.ini``, ``.out``, ``.dst``, ``.plt``,
``Transfer_matrix1.dat``).

Every reader raises :class:`TraceWinFormatError` (a ``ValueError``) naming the file and
the line or byte offset of a problem.

Names are imported on first use (PEP 562), so a program that needs one reader (the
engine's CLI, a simulator slot) does not pay for the others' imports (pandas).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Public name -> the module of this package defining it.
_EXPORTS = {
    "Element": "dat",
    "Lattice": "dat",
    "SequenceItem": "dat",
    "Statement": "dat",
    "parse_dat_text": "dat",
    "read_dat": "dat",
    "Distribution": "dst",
    "read_dst": "dst",
    "write_dst": "dst",
    "DatSyntaxError": "errors",
    "InvalidParameterError": "errors",
    "SimulationFailed": "errors",
    "SimulationTimeout": "errors",
    "TraceWinError": "errors",
    "TraceWinFormatError": "errors",
    "IniBeam": "ini",
    "read_ini": "ini",
    "parse_ele_key": "keys",
    "validate_params": "keys",
    "TransferMatrices": "matrices",
    "read_transfer_matrices": "matrices",
    "write_transfer_matrices": "matrices",
    "OUT_COLUMNS": "out",
    "SUMMARY_COLUMNS": "out",
    "read_out": "out",
    "write_out": "out",
    "Plt": "plt",
    "PltRecord": "plt",
    "PltWriter": "plt",
    "read_plt": "plt",
    "write_plt": "plt",
    "find_lattice": "project_files",
    "RunRecord": "runner",
    "TraceWin": "runner",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
