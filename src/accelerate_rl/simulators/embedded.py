"""The embedded engine as a simulator: the project compiled once, runs in microseconds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..engine.project import load_project
from ..engine.simulation import Engine, split_params
from ..tracewin.out import OUT_COLUMNS
from .base import SimResult, failure


class EmbeddedSimulator:
    """Runs a project on the embedded engine.

    Args:
        project: a TOML project or TraceWin ``.ini`` (see ``accelerate_rl.engine.project``).
        mode: "envelope" or "multiparticle" (``partran=1`` in a request also selects it).
        table: return the per-element table with every result.
        observe: extra metrics ``(column, element)``: e.g. ``("x0", 9)`` adds
            ``"x0@9"``, the centroid at element 9's exit.
        dat_file: the lattice, when the project does not say.
    """

    def __init__(
        self,
        project: str | Path,
        *,
        mode: str = "envelope",
        table: bool = False,
        observe: Sequence[tuple[str, int]] = (),
        dat_file: str | Path | None = None,
    ) -> None:
        self.project = load_project(project, dat_file)
        self.engine = Engine(self.project.lattice, self.project.beam)
        self.mode = mode
        self.table = table
        self.observe = list(observe)
        self.defaults = dict(self.project.run)
        for column, n in self.observe:  # fail now, naming the element, not at every run
            if n > 0:
                self.engine.lattice.element(n)
            if column not in OUT_COLUMNS:
                raise ValueError(f"observe: unknown column {column!r}; valid: {OUT_COLUMNS}")

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise InvalidParameterError naming the first bad key."""
        ele, beam_keys, _, _ = split_params(params)
        self.engine.compiled.with_overrides(ele)
        self.engine.beam_for(beam_keys)

    def simulate(
        self, params: Mapping[str, Any], *, seed: int | None = None, timeout: float | None = None
    ) -> SimResult:
        try:
            res = self.engine.run(
                {**{k: v for k, v in self.defaults.items() if k != "random_seed"}, **params},
                mode=self.mode if "partran" not in params else None,
                seed=seed,
            )
        except Exception as exc:
            return failure(params, exc, seed)
        metrics = dict(res.summary)
        if self.observe:
            cols = res.columns
            for name, n in self.observe:
                metrics[f"{name}@{n}"] = float(cols[name][n])
        status = "lost" if res.beam_lost else "ok"
        error = f"beam lost at element {res.lost_at}" if res.beam_lost else None
        return SimResult(
            dict(params),
            status,
            metrics,
            res.table if self.table else None,
            seed=res.seed,
            error=error,
        )
