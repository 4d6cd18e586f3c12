"""The embedded engine as a simulator: the project compiled once, runs in microseconds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.project import load_project
from ..engine.simulation import Engine, split_params
from ..tracewin.keys import as_number, is_multiparticle, key_value
from .base import SimResult, Status, failure
from .observe import check_elements, exit_rows, metric_name, parse_observe


class EmbeddedSimulator:
    """Runs a project on the embedded engine.

    Args:
        project: a TOML project or TraceWin ``.ini`` (see ``accelerate_rl.engine.project``).
        mode: "envelope" or "multiparticle" (``partran=1`` in a request also selects it).
        table: return the per-element table with every result.
        observe: extra metrics ``(column, element)`` or ``"column@element"``: e.g.
            ``("x0", 9)`` adds ``"x0@9"``, the centroid at element 9's exit [mm] (see
            :mod:`.observe`; ``transmission`` is always returned).
        dat_file: the lattice, when the project does not say.
    """

    def __init__(
        self,
        project: str | Path,
        *,
        mode: str = "envelope",
        table: bool = False,
        observe: Sequence[tuple[str, int] | str] = (),
        dat_file: str | Path | None = None,
    ) -> None:
        self.project = load_project(project, dat_file)
        self.engine = Engine(self.project.lattice, self.project.beam)
        self.mode = mode
        self.table = table
        self.observe = parse_observe(observe, "the embedded simulator")
        check_elements(self.observe, len(self.engine.lattice), "the embedded simulator")
        self.defaults = dict(self.project.run)

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise InvalidParameterError naming the first bad key: a key that is not a string
        or that the engine does not know, a value breaking its key's rule
        (:mod:`accelerate_rl.tracewin.keys`, the TraceWin runner's rules), an ``ele[n][v]``
        out of range or rejected by its element, a beam key that makes the beam invalid."""
        ele, beam_keys, run_keys, ignored = split_params(params)
        for key, value in ele.items():
            as_number(key, value)  # one setting per request, not an array
        self.engine.compiled.with_overrides(ele)
        self.engine.beam_for(beam_keys)
        for key, value in params.items():  # run keys as written, so errors name them so
            if key in ignored or key.lower() in run_keys:
                key_value(key, value)

    def validate_batch(self, sets: Sequence[Mapping[str, Any]]) -> None:
        """Raise as :meth:`validate` if any set is bad. Sets overriding the same
        ``ele[n][v]`` keys and nothing else (a vector env's step) are checked in one
        vectorised pass (the element rules on a (B, P) array, as ``run_batch`` applies
        them), not one model build per set."""
        splits = [split_params(params) for params in sets]
        keys = {tuple(sorted(ele)) for ele, *_ in splits}
        if len(keys) != 1 or any(b or r or i for _, b, r, i in splits):
            for params in sets:
                self.validate(params)
            return
        columns = {}
        for key in next(iter(keys)):
            values = [ele[key] for ele, *_ in splits]
            if not all(type(v) is float for v in values):
                values = [as_number(key, v) for v in values]
            columns[key] = np.array(values, dtype=float)
        self.engine.compiled.with_overrides(columns)

    def _with_defaults(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in self.defaults.items() if k != "random_seed"}, **params}

    def simulate(
        self, params: Mapping[str, Any], *, seed: int | None = None, timeout: float | None = None
    ) -> SimResult:
        try:
            res = self.engine.run(
                self._with_defaults(params),
                mode=self.mode if "partran" not in params else None,
                seed=seed,
            )
        except Exception as exc:
            return failure(params, exc, seed)
        metrics = dict(res.summary)
        if self.observe:
            cols = res.columns
            rows = exit_rows(cols["##"], self.observe, "the embedded simulator")
            for (name, n), row in zip(self.observe, rows):
                metrics[metric_name(name, n)] = float(cols[name][row])
        status = Status.LOST if res.beam_lost else Status.OK
        error = f"beam lost at element {res.lost_at}" if res.beam_lost else None
        return SimResult(
            dict(params),
            status,
            metrics,
            res.table if self.table else None,
            seed=res.seed,
            error=error,
        )

    def simulate_batch(
        self, requests: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> list[SimResult]:
        """Several requests at once: one vectorised envelope call when they override the
        same ``ele[n][v]`` keys and give the same beam keys (each request its own values:
        its own incoming beam) with the same run keys (the RL and scan case), else one
        run each. The results equal :meth:`simulate`'s; a lost beam or a bad request is
        re-run alone so its result and error are exactly those of a single run."""
        merged = [self._with_defaults(p) for p in requests]
        batchable = len(merged) > 1 and self.mode == "envelope" and not self.table
        if batchable:
            try:
                splits = [split_params(params) for params in merged]
                keys = {(tuple(sorted(ele)), tuple(sorted(beam))) for ele, beam, *_ in splits}
                others = {repr(sorted(r.items())) for _, _, r, _ in splits}
                batchable = (
                    len(keys) == 1
                    and len(others) == 1
                    and keys != {((), ())}
                    and not any(is_multiparticle(r.get("partran", 0)) for _, _, r, _ in splits)
                )
            except Exception:
                batchable = False
        if not batchable:
            return [self.simulate(p) for p in requests]
        try:
            ele_keys, beam_names = next(iter(keys))
            knobs = np.array([[s[0][k] for k in ele_keys] for s in splits], dtype=float)
            columns = dict(zip(ele_keys, knobs.T.copy()))
            for k in beam_names:
                values = [s[1][k] for s in splits]
                same = all(v == values[0] for v in values)
                columns[k] = values[0] if same else np.array(values, dtype=float)
            elements = [n for _, n in self.observe]
            batch = self.engine.run_batch({**columns, **splits[0][2]}, exits=elements)
        except Exception:
            return [self.simulate(p) for p in requests]
        lost, cols, rows = batch.lost, batch.exits, []
        if self.observe:  # the exits' rows, or the per-element table if a column needs it
            if not all(name in cols for name, _ in self.observe):
                cols = batch.columns
            rows = exit_rows(cols["##"], self.observe, "the embedded simulator")
        results = []
        for b, params in enumerate(requests):
            if lost[b]:  # rare: the single run reports where and what was left
                results.append(self.simulate(params))
                continue
            metrics = batch.summary_of(b)
            for (name, n), row in zip(self.observe, rows):
                metrics[metric_name(name, n)] = float(cols[name][row, b])
            results.append(SimResult(dict(params), Status.OK, metrics, seed=None))
        return results
