"""Errors raised while reading or writing TraceWin files."""

from __future__ import annotations

from pathlib import Path


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


class InvalidParameterError(ValueError):
    """An ``ele[n][v]`` override or a run/beam key is invalid; the message names the key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")
