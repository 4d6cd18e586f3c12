"""Any file-in/file-out simulation code as a simulator: ``CommandSimulator``.

The TraceWin runner's machinery (:mod:`accelerate_rl.external`), for any code packaged as
a command line: a private run directory per run, input files staged into it, parameters
substituted into the argv and into template input files, a timeout that kills the whole
process group, the failure ladder (timeout, failure messages, exit status, missing or
unreadable outputs) and output parsers.

    sim = CommandSimulator(
        command=["my-twin", "--config", "cfg.txt", "--gain", "{gain}"],
        inputs=["model/"],                       # staged (copied, big files linked)
        templates={"cfg.txt": "cfg.template"},   # ${name} placeholders filled per run
        outputs={"table": ("out.csv", pandas.read_csv)},
        failure_patterns=["diverged"],
    )
    result = sim.run({"gain": 1.5}, timeout=60)
    result.outputs["table"]
"""

from __future__ import annotations

import math
import numbers
import os
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..external import (
    FailurePattern,
    InvalidParameterError,
    brief,
    check_outcome,
    resolve_executable,
    run_directory,
    run_process,
    stage,
    tail,
)
from .base import SimResult, Status, failure, scalar_metrics
from .observe import MetricUnavailable, parse_observe, table_metrics

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SAFE = re.compile(r"^[A-Za-z0-9_.+\-]+$")
Parser = Callable[[Path], Any]


@dataclass
class CommandResult:
    """One run: parsed outputs by name, exit status, elapsed time [s], output tail."""

    params: dict[str, Any]
    outputs: dict[str, Any]
    returncode: int
    elapsed: float
    output: str
    run_dir: Path | None = None
    command: list[str] = field(default_factory=list)


class CommandSimulator:
    """A file-in/file-out code run in a private directory per run.

    Args:
        command: argv template; ``{name}`` is replaced by parameter ``name`` and
            ``{run_dir}`` by the run directory. The first item is a program on PATH or a path.
        inputs: files or folders staged into every run directory (small files copied, large
            ones and folders linked).
        templates: ``{run-dir file: template file}``; ``${name}`` placeholders are filled
            with the parameters (``string.Template``; ``$$`` for a literal ``$``).
        outputs: ``{name: (file, parser)}``; each parser gets the file's path. A missing
            or empty file, or a parser error, fails the run.
        parameters: the accepted parameter names (default: those the command and
            templates use); anything else is rejected before launch.
        failure_patterns: substrings of stdout/stderr meaning failure even with exit 0.
        physical_patterns: those among them that mean a physical failure (beam lost).
        timeout: default timeout [s]. debug: keep run directories.
        workdir: where run directories go (default: the system's temp folder).
        observe: metrics ``(column, element)`` or ``"column@element"`` read from the
            output parsed into a table with a ``##`` column (e.g. ``read_out`` of a
            TraceWin-format table; see :mod:`.observe`), plus ``transmission``.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        inputs: Sequence[str | Path] = (),
        templates: Mapping[str, str | Path] | None = None,
        outputs: Mapping[str, tuple[str, Parser]] | None = None,
        parameters: Sequence[str] | None = None,
        failure_patterns: Sequence[str] = (),
        physical_patterns: Sequence[str] = (),
        timeout: float | None = None,
        debug: bool = False,
        workdir: str | Path | None = None,
        observe: Sequence[tuple[str, int] | str] = (),
    ) -> None:
        if not command:
            raise ValueError("command must be a non-empty argv list")
        self.command = [str(c) for c in command]
        self.inputs = [Path(p).resolve() for p in inputs]
        for p in self.inputs:
            if not p.exists():
                raise FileNotFoundError(f"input {p} does not exist")
        self.templates = {name: Path(src).read_text() for name, src in (templates or {}).items()}
        self.outputs = dict(outputs or {})
        used = set()
        for item in self.command:
            used |= {f for _, f, _, _ in string.Formatter().parse(item) if f}
        for text in self.templates.values():
            used |= {
                m.group("named") or m.group("braced")
                for m in string.Template.pattern.finditer(text)
                if m.group("named") or m.group("braced")
            }
        used.discard("run_dir")
        self.parameters = set(parameters) if parameters is not None else used
        missing = used - self.parameters
        if missing:
            raise ValueError(f"templates use {sorted(missing)} which are not in parameters")
        lost = set(physical_patterns)
        self.failure_patterns = [FailurePattern(p, physical=p in lost) for p in failure_patterns]
        self.timeout = timeout
        self.debug = debug
        self.workdir = Path(workdir) if workdir is not None else None
        self.observe = parse_observe(observe, f"the command simulator {self.command[0]!r}")
        if self.observe and not self.outputs:
            raise MetricUnavailable(
                f"the command simulator {self.command[0]!r}: observing {self.observe} needs an "
                "output parsed into a table with a '##' column, e.g. "
                "outputs={'table': ('out.txt', accelerate_rl.tracewin.out.read_out)}"
            )

    def validate(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Parameters as strings; InvalidParameterError naming a bad key or value."""
        out = {}
        for key, value in params.items():
            if key not in self.parameters:
                raise InvalidParameterError(
                    key, f"unknown parameter; this simulator takes {sorted(self.parameters)}"
                )
            if isinstance(value, bool):
                raise InvalidParameterError(key, "a bool is not a valid value")
            if isinstance(value, numbers.Integral):
                if abs(int(value)) > 10**300:
                    raise InvalidParameterError(key, f"value {brief(value)} is too large")
                text = str(int(value))
            elif isinstance(value, numbers.Real):
                if not math.isfinite(value):
                    raise InvalidParameterError(key, f"value {brief(value)} is not finite")
                text = repr(float(value))
            elif isinstance(value, (str, os.PathLike)):
                text = str(value)
            else:
                raise InvalidParameterError(
                    key, f"value {brief(value)} ({type(value).__name__}) is not a number or text"
                )
            if not _SAFE.match(text):
                raise InvalidParameterError(
                    key, f"value {brief(text)} has whitespace or shell characters"
                )
            out[key] = text
        missing = self.parameters - set(out)
        if missing:
            raise InvalidParameterError(sorted(missing)[0], "missing parameter")
        return out

    def simulate(
        self, params: Mapping[str, Any], *, seed: int | None = None, timeout: float | None = None
    ) -> SimResult:
        """The Simulator protocol: scalar outputs become metrics, a DataFrame the table."""
        try:
            res = self.run(params, timeout=timeout)
        except Exception as exc:
            return failure(params, exc, seed)
        metrics = scalar_metrics(res.outputs)
        for name, value in res.outputs.items():
            if isinstance(value, Mapping):
                metrics.update({f"{name}.{k}": v for k, v in scalar_metrics(value).items()})
        table = next((v for v in res.outputs.values() if isinstance(v, pd.DataFrame)), None)
        if self.observe:
            name = f"the command simulator {self.command[0]!r}"
            try:
                metrics.update(table_metrics({} if table is None else table, self.observe, name))
            except MetricUnavailable as exc:
                return failure(params, exc, seed)
        return SimResult(dict(params), Status.OK, metrics, table, elapsed=res.elapsed, seed=seed)

    def run(self, params: Mapping[str, Any], timeout: float | None = None) -> CommandResult:
        """Run once in a fresh directory.

        Raises:
            InvalidParameterError: before launch, naming the key.
            SimulationTimeout, SimulationFailed: as the TraceWin runner.
        """
        values = self.validate(params)
        with run_directory("command-run-", self.workdir, keep=self.debug) as run_dir:
            for src in self.inputs:
                stage(src, run_dir / src.name)
            for name, text in self.templates.items():
                try:
                    rendered = string.Template(text).substitute(values)
                except KeyError as exc:
                    raise InvalidParameterError(str(exc.args[0]), "missing parameter") from None
                (run_dir / name).write_text(rendered)
            argv = [item.format(run_dir=run_dir, **values) for item in self.command]
            argv[:1] = resolve_executable(argv[0])
            outcome = run_process(argv, run_dir, timeout=timeout or self.timeout)
            kept = run_dir if self.debug else None
            parsed = check_outcome(
                outcome,
                program=Path(argv[0]).name,
                patterns=self.failure_patterns,
                outputs={
                    name: (run_dir / filename, parser)
                    for name, (filename, parser) in self.outputs.items()
                },
                kept_dir=kept,
            )
            return CommandResult(
                dict(params),
                parsed,
                outcome.returncode,
                outcome.elapsed,
                tail((outcome.stdout + "\n" + outcome.stderr).strip()),
                kept,
                argv,
            )
