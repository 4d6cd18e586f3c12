"""Errors raised while reading or writing TraceWin files, and those of a TraceWin run.

The run errors and :class:`InvalidParameterError` are defined in
:mod:`accelerate_rl.external` (the same classes as ``CommandSimulator``'s);
``TraceWinError`` is their base under the name the pytracewin-style runner's users catch.
"""

from __future__ import annotations

from pathlib import Path

from ..external.errors import InvalidParameterError, SimulationFailed, SimulationTimeout
from ..external.errors import RunError as TraceWinError

__all__ = [
    "DatSyntaxError",
    "InvalidParameterError",
    "SimulationFailed",
    "SimulationTimeout",
    "TraceWinError",
    "TraceWinFormatError",
]


class TraceWinFormatError(ValueError):
    """A TraceWin file is malformed.

    The message always names the file and, where it applies, the 1-based line or the
    byte offset of the problem, and says what to change.
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.offset = offset
        where = self.path or "<memory>"
        if line is not None:
            where += f":{line}"
        if offset is not None:
            where += f" (byte offset {offset})"
        super().__init__(f"{where}: {message}")
        self.reason = message


class DatSyntaxError(TraceWinFormatError):
    """A `.dat` lattice cannot be parsed (unknown keyword, bad number, bad structure)."""
