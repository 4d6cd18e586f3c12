"""The failure ladder: how a finished run of a file-in/file-out code is judged.

In this order, the first that applies wins:

1. it timed out: :class:`SimulationTimeout` (status ``timeout``);
2. its output holds a failure message (codes such as TraceWin fail while exiting 0):
   :class:`SimulationFailed`, ``physical`` when the message says the beam was lost;
3. it exited with a non-zero status: :class:`SimulationFailed`;
4. an expected output file is missing, empty, or its reader fails on it (a truncated
   or corrupted file): :class:`SimulationFailed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SimulationFailed, SimulationTimeout
from .process import ProcessOutcome, tail


@dataclass(frozen=True)
class FailurePattern:
    """Text in a program's stdout or stderr that means its run failed, even with exit 0.

    Attributes:
        text: the substring to look for. physical: the beam was lost (a physics outcome
        of the settings), not a technical failure. ignore_case: match case-insensitively.
    """

    text: str
    physical: bool = False
    ignore_case: bool = False

    def found_in(self, output: str) -> bool:
        if self.ignore_case:
            return self.text.lower() in output.lower()
        return self.text in output


def check_outcome(
    outcome: ProcessOutcome,
    *,
    program: str,
    patterns: Sequence[FailurePattern] = (),
    outputs: Mapping[str, tuple[Path, Callable[[Path], Any]]] | None = None,
    kept_dir: Path | None = None,
) -> dict[str, Any]:
    """Judge ``outcome`` by the ladder of the module docstring; return the expected
    outputs read, by name.

    Args:
        program: the program's name in messages ("TraceWin").
        patterns: failure messages, checked in order.
        outputs: ``{name: (file, reader)}``: files the run must leave, non-empty, and
            the reader that parses each (any exception it raises fails the run).
        kept_dir: the run directory when it is kept (named in the error).

    Raises:
        SimulationTimeout, SimulationFailed: with the argv, exit status, the output's
            last lines and ``kept_dir``.
    """
    text = outcome.stdout + "\n" + outcome.stderr
    common: dict[str, Any] = dict(
        command=outcome.argv, output=tail(text.strip()), calc_dir=kept_dir
    )
    rc = outcome.returncode
    if outcome.timed_out:
        raise SimulationTimeout(
            f"{program} did not finish within its timeout ({outcome.elapsed:.1f} s); its "
            "process group was killed",
            returncode=None,
            physical=False,
            **common,
        )
    for pattern in patterns:
        if pattern.found_in(text):
            raise SimulationFailed(
                f"{program} reported {pattern.text!r} (exit status {rc})",
                returncode=rc,
                physical=pattern.physical,
                **common,
            )
    if rc != 0:
        raise SimulationFailed(
            f"{program} exited with status {rc}", returncode=rc, physical=False, **common
        )
    parsed: dict[str, Any] = {}
    for name, (path, reader) in (outputs or {}).items():
        if not path.exists() or path.stat().st_size == 0:
            raise SimulationFailed(
                f"expected output {path.name} is {'empty' if path.exists() else 'missing'}",
                returncode=rc,
                physical=False,
                **common,
            )
        try:
            parsed[name] = reader(path)
        except Exception as exc:  # the reader's own error: the output is bad
            raise SimulationFailed(
                f"output {path.name} is corrupted or truncated: {exc}",
                returncode=rc,
                physical=False,
                **common,
            ) from exc
    return parsed
