"""TraceWin (or any program with its command line) as a simulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..tracewin.keys import validate_params
from ..tracewin.out import SUMMARY_COLUMNS
from ..tracewin.runner import TraceWin
from .base import SimResult, failure


class TraceWinSimulator:
    """One TraceWin subprocess per run, in a private copy of the project.

    Args:
        project: the ``.ini`` project. executable: name, path or argv list.
        table: return the per-element table. dat_file: the lattice for ``ele`` checks.
        workdir: where run directories go (the actor's scratch directory).
    """

    def __init__(
        self,
        project: str | Path,
        executable: str | Path | Sequence[str] = "TraceWin",
        *,
        table: bool = False,
        dat_file: str | Path | None = None,
        workdir: str | Path | None = None,
    ) -> None:
        keep = ["tracewin.out", "partran1.out"]
        self.runner = TraceWin(
            project, executable, hide=True, dat_file=dat_file, outputs=keep, workdir=workdir
        )
        self.table = table

    def validate(self, params: Mapping[str, Any]) -> None:
        validate_params(params, self.runner.lattice)

    def simulate(
        self, params: Mapping[str, Any], *, seed: int | None = None, timeout: float | None = None
    ) -> SimResult:
        request = dict(params)
        if seed is not None:
            request.setdefault("random_seed", seed)
        try:
            self.runner.run(request, timeout=timeout)
            df = self.runner.results()
        except Exception as exc:
            return failure(params, exc, seed)
        last = df.iloc[-1]
        metrics = {name: float(last[name]) for name in SUMMARY_COLUMNS}
        n0 = float(df["npart"].iloc[0]) or 1.0
        metrics["transmission"] = float(last["npart"]) / n0
        metrics["length"] = float(last["z(m)"])
        return SimResult(
            dict(params),
            "ok",
            metrics,
            df if self.table else None,
            seed=self.runner.last.seed if self.runner.last else seed,
        )
