"""The errors of a run of an external program, each with the ``status`` it gives a result.

A simulator turns an exception into a result by its ``status`` attribute (``invalid``,
``timeout``, ``lost``, ``failed``), so these classes are all it needs to know.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

#: Longest echo of a user's value (or key) in an error message [characters].
ECHO_LIMIT = 80


def brief(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)``, cut to ``limit`` characters (with the full length said) so that a
    100,000-character value is not echoed whole into an error message."""
    if isinstance(value, int) and value.bit_length() > 256:
        return f"<an integer of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    return f"{text[: limit - 3]}... ({len(text)} characters)"


class InvalidParameterError(ValueError):
    """A parameter is invalid; the message names the key (``key``) and what to change.

    Raised before anything is launched. ``status`` is ``"invalid"``.
    """

    status = "invalid"

    def __init__(self, key: object, message: str) -> None:
        self.key = key if isinstance(key, str) else repr(key)
        shown = self.key if len(self.key) <= ECHO_LIMIT else brief(self.key)
        super().__init__(f"{shown}: {message}")
        self.reason = message


class RunError(RuntimeError):
    """A run of an external program failed.

    Attributes:
        command: the argv. returncode: exit status (None when killed on timeout).
        output: the last lines of stdout and stderr. calc_dir: the kept run directory
        (debugging), else None. physical: True when the beam was lost (a physics
        outcome of the settings), False for a technical failure. reason: the message
        without the output. status: ``"lost"`` when physical, else ``"failed"``.
    """

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str],
        returncode: int | None,
        output: str,
        calc_dir: Path | None,
        physical: bool,
    ) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.output = output
        self.calc_dir = calc_dir
        self.physical = physical
        where = f"\ncalc directory kept: {calc_dir}" if calc_dir else ""
        super().__init__(f"{message}{where}\nlast output:\n{output}" if output else message + where)
        self.reason = message

    @property
    def status(self) -> str:
        return "lost" if self.physical else "failed"


class SimulationTimeout(RunError):
    """The run exceeded its timeout; its whole process group was killed (``timeout``)."""

    @property
    def status(self) -> str:
        return "timeout"


class SimulationFailed(RunError):
    """The run failed: non-zero exit, a failure message, or missing/truncated outputs."""
