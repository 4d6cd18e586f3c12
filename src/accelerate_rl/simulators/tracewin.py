"""TraceWin (or any program with its command line) as a simulator.

Metrics come from the run's output table (``partran1.out`` after a multiparticle run,
else ``tracewin.out``): the last row's beam quantities, ``transmission`` (last ``npart``
over the input's), ``length`` [m] and every ``observe``d ``column@element`` (see
:mod:`.observe`: the row of an element's exit, rows inside field maps skipped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..tracewin.keys import validate_params
from ..tracewin.out import SUMMARY_COLUMNS
from ..tracewin.runner import TraceWin
from .base import SimResult, Status, failure
from .observe import MetricUnavailable, check_elements, parse_observe, table_metrics

_NAME = "the tracewin simulator"


class TraceWinSimulator:
    """One TraceWin subprocess per run, in a private copy of the project.

    Args:
        project: the ``.ini`` project. executable: name, path or argv list.
        table: return the per-element table. dat_file: the lattice for ``ele`` checks.
        observe: metrics ``(column, element)`` or ``"column@element"`` to return (checked
            against the lattice now: an element past its end is an error here).
        workdir: where run directories go (the actor's scratch directory).
    """

    def __init__(
        self,
        project: str | Path,
        executable: str | Path | Sequence[str] = "TraceWin",
        *,
        table: bool = False,
        observe: Sequence[tuple[str, int] | str] = (),
        dat_file: str | Path | None = None,
        workdir: str | Path | None = None,
    ) -> None:
        keep = ["tracewin.out", "partran1.out"]
        self.runner = TraceWin(
            project, executable, hide=True, dat_file=dat_file, outputs=keep, workdir=workdir
        )
        self.table = table
        self.observe = parse_observe(observe, _NAME)
        if self.observe:
            if self.runner.lattice is None:
                raise MetricUnavailable(
                    f"{_NAME}: observing {self.observe} needs the lattice to check element "
                    f"numbers: pass dat_file= (no .dat found beside {project})"
                )
            check_elements(self.observe, len(self.runner.lattice), _NAME)

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
            metrics = table_metrics(df, self.observe, _NAME)
        except Exception as exc:
            return failure(params, exc, seed)
        last = df.iloc[-1]
        metrics.update({name: float(last[name]) for name in SUMMARY_COLUMNS})
        metrics["length"] = float(last["z(m)"])
        return SimResult(
            dict(params),
            Status.OK,
            metrics,
            df if self.table else None,
            seed=self.runner.last.seed if self.runner.last else seed,
        )
