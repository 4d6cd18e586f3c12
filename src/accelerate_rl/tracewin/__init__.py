"""TraceWin file formats (``.dat``, ``.ini``, ``.out``, ``.dst``, ``.plt``,
``Transfer_matrix1.dat``).

Every reader raises :class:`TraceWinFormatError` (a ``ValueError``) naming the file and
the line or byte offset of a problem.
"""

from .dat import Element, Lattice, SequenceItem, Statement, parse_dat_text, read_dat
from .dst import Distribution, read_dst, write_dst
from .errors import (
    DatSyntaxError,
    InvalidParameterError,
    SimulationFailed,
    SimulationTimeout,
    TraceWinError,
    TraceWinFormatError,
)
from .ini import IniBeam, read_ini
from .keys import parse_ele_key, validate_params
from .matrices import TransferMatrices, read_transfer_matrices, write_transfer_matrices
from .out import OUT_COLUMNS, SUMMARY_COLUMNS, read_out, write_out
from .plt import Plt, PltRecord, PltWriter, read_plt, write_plt
from .project_files import find_lattice
from .runner import RunRecord, TraceWin

__all__ = [
    "RunRecord",
    "SimulationFailed",
    "SimulationTimeout",
    "TraceWin",
    "TraceWinError",
    "find_lattice",
    "DatSyntaxError",
    "Distribution",
    "Element",
    "IniBeam",
    "InvalidParameterError",
    "Lattice",
    "OUT_COLUMNS",
    "SUMMARY_COLUMNS",
    "Plt",
    "PltRecord",
    "PltWriter",
    "SequenceItem",
    "Statement",
    "TraceWinFormatError",
    "TransferMatrices",
    "parse_dat_text",
    "parse_ele_key",
    "read_dat",
    "read_dst",
    "read_ini",
    "read_out",
    "read_plt",
    "read_transfer_matrices",
    "validate_params",
    "write_dst",
    "write_out",
    "write_plt",
    "write_transfer_matrices",
]
