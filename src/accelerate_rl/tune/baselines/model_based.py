"""Model-based classical controllers: Gauss-Newton with finite differences on the machine,
and the design-model inverse (fit what the screens show on the design model, solve the
knobs on the model, move, measure, refit).

Both are callables ``controller(machine)`` (see :mod:`.direct`). Every machine
measurement, probes included, is a step and a simulation; runs of the design model are
counted apart (``Machine.model_simulations``): on a real line they cost CPU, not beam.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from ...rl.hard_task import POSITION_COLUMNS
from ...simulators.embedded import EmbeddedSimulator
from .machine import Machine


class GaussNewton:
    """Levenberg-Marquardt steps on the machine: a forward-difference Jacobian of the
    measured residuals (one probe per knob, ``probe`` in normalised units), Broyden
    rank-one updates after each step, a fresh Jacobian after ``patience`` steps without
    improvement; steps limited to ``max_step`` (normalised) and damped by ``damping``."""

    def __init__(
        self, probe: float = 0.15, damping: float = 0.3, max_step: float = 0.6, patience: int = 2
    ) -> None:
        self.probe, self.damping, self.max_step, self.patience = probe, damping, max_step, patience

    def _jacobian(self, machine: Machine, u: np.ndarray, r0: np.ndarray) -> np.ndarray:
        n = len(u)
        jac = np.zeros((len(r0), n))
        for i in range(n):
            h = self.probe if u[i] + self.probe <= 1 else -self.probe
            probe = u.copy()
            probe[i] += h
            machine.move_to(machine.physical(probe))
            jac[:, i] = (machine.residuals() - r0) / h
        return jac

    def __call__(self, machine: Machine) -> None:
        u = machine.normalised(machine.values)
        r = machine.residuals()
        jac = self._jacobian(machine, u, r)
        machine.move_to(machine.physical(u))
        stalled = 0
        while True:
            machine.settle()
            u, r = machine.normalised(machine.values), machine.residuals()
            if stalled >= self.patience:
                jac = self._jacobian(machine, u, r)
                machine.move_to(machine.physical(u))
                r = machine.residuals()
                stalled = 0
            lam = self.damping * np.trace(jac.T @ jac) / len(u) + 1e-9
            du = -np.linalg.solve(jac.T @ jac + lam * np.eye(len(u)), jac.T @ r)
            du *= min(1.0, self.max_step / max(np.max(np.abs(du)), 1e-12))
            new = np.clip(u + du, -1, 1)
            machine.move_to(machine.physical(new))
            r_new = machine.residuals()
            step = new - u
            if step @ step > 0:  # Broyden: the model's error along the step
                jac += np.outer(r_new - r - jac @ step, step) / (step @ step)
            stalled = stalled + 1 if np.sum(r_new**2) >= np.sum(r**2) else 0


#: Incoming-beam keys the design-model inverse fits: centroids from the position readings,
#: emittances and alphas from the size readings (betas stay at design: 8 readings, 8 unknowns).
FIT_KEYS = ("x1", "xp1", "y1", "yp1", "etnx1", "etny1", "alpx1", "alpy1")
#: Fit bounds (TraceWin beam-key units: mm, mrad, mm.mrad, 1).
FIT_BOUNDS = {
    "x1": (-3.0, 3.0),
    "xp1": (-3.0, 3.0),
    "y1": (-3.0, 3.0),
    "yp1": (-3.0, 3.0),
    "etnx1": (0.003, 0.05),
    "etny1": (0.003, 0.05),
    "alpx1": (-3.0, 2.0),
    "alpy1": (-3.0, 2.0),
}


class DesignModelInverse:
    """Fit the incoming beam (FIT_KEYS) to every screen reading at the current knobs on
    the design model (the lattice as designed: no field errors, misalignments or offsets),
    solve the knobs on the fitted model for the requested values, ramp there, measure,
    refit from the new readings; what the fit cannot explain (field errors, kicks) the
    next refit absorbs into the fitted beam (an effective-beam feedback).

    ``project``: the design model's project (the task's); ``metrics``: ``(column,
    element)`` the screens read.
    """

    def __init__(
        self, project: str, metrics: Sequence[tuple[str, int]], design: Mapping[str, float]
    ):
        self.model = EmbeddedSimulator(project, observe=list(metrics))
        self.design = dict(design)  # beam keys at their design values

    def _runs(self, machine: Machine, rows: list[dict[str, float]]) -> list[dict[str, float]]:
        """The model's metrics for every parameter set, in one batched call (each row its
        own knobs and incoming beam)."""
        machine.model_simulations += len(rows)
        return [r.metrics for r in self.model.simulate_batch(rows)]

    def _fit(self, machine: Machine, knobs: dict, beam0: dict) -> dict[str, float]:
        measured = machine.measured
        metrics = list(measured)
        weights = np.array(
            [0.02 if m.rpartition("@")[0] in POSITION_COLUMNS else 0.05 for m in metrics]
        )

        def resid(points: np.ndarray) -> np.ndarray:
            rows = [{**knobs, **dict(zip(FIT_KEYS, p))} for p in points]
            outs = self._runs(machine, rows)
            return (
                np.array([[o.get(m, 0.0) - measured[m] for m in metrics] for o in outs]) / weights
            )

        lo, hi = np.array([FIT_BOUNDS[k] for k in FIT_KEYS]).T
        p0 = np.clip([beam0[k] for k in FIT_KEYS], lo + 1e-6, hi - 1e-6)
        sol = _least_squares(resid, p0, (lo, hi), 1e-4)
        return dict(zip(FIT_KEYS, sol.tolist()))

    def _solve(self, machine: Machine, beam: dict, u0: np.ndarray) -> np.ndarray:
        keys = [k.key for k in machine.env.task.knobs]
        targets = machine.env.task.targets
        t_min = machine.env.task.transmission_min

        def resid(points: np.ndarray) -> np.ndarray:
            rows = [{**dict(zip(keys, machine.physical(u))), **beam} for u in points]
            out = []
            for o in self._runs(machine, rows):
                r = [
                    (o.get(t.metric, 0.0) - v) / t.tolerance
                    for t, v in zip(targets, machine.targets)
                ]
                shortfall = max(0.0, t_min - o.get("transmission", 0.0))
                out.append([*r, 100.0 * shortfall / 0.01])
            return np.array(out)

        return _least_squares(resid, u0, (-1.0, 1.0), 1e-3)

    def __call__(self, machine: Machine) -> None:
        keys = [k.key for k in machine.env.task.knobs]
        beam = {k: self.design.get(k, 0.0) for k in FIT_KEYS}
        while True:
            machine.settle()
            knobs = dict(zip(keys, machine.values))
            beam = self._fit(machine, knobs, beam)
            u = self._solve(machine, beam, machine.normalised(machine.values))
            machine.move_to(machine.physical(u))


def _least_squares(
    resid: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    bounds: tuple,
    step: float,
    max_nfev: int = 30,
) -> np.ndarray:
    """scipy's bounded least squares of ``resid`` ((k, n) points -> (k, m) residuals),
    its forward-difference Jacobian (relative ``step``, backwards at an upper bound)
    evaluated as one batch of n points."""
    lo, hi = (np.broadcast_to(np.asarray(b, float), np.shape(x0)) for b in bounds)
    last: dict[str, np.ndarray] = {}

    def fun(x: np.ndarray) -> np.ndarray:
        last["x"], last["f"] = x.copy(), resid(x[None])[0]
        return last["f"]

    def jac(x: np.ndarray) -> np.ndarray:
        f0 = last["f"] if "x" in last and np.array_equal(last["x"], x) else fun(x)
        h = step * np.maximum(1.0, np.abs(x))
        h = np.where(x + h > hi, -h, h)
        return ((resid(x + np.diag(h)) - f0) / h[:, None]).T

    return least_squares(fun, x0, jac=jac, bounds=(lo, hi), max_nfev=max_nfev).x


def design_beam(project: str) -> dict[str, Any]:
    """The project's incoming beam as TraceWin beam keys (the design values FIT_KEYS start at)."""
    from ...engine.project import load_project

    beam = load_project(project).beam
    return {
        "x1": 0.0,
        "xp1": 0.0,
        "y1": 0.0,
        "yp1": 0.0,
        "etnx1": beam.etnx,
        "etny1": beam.etny,
        "alpx1": beam.alpx,
        "alpy1": beam.alpy,
    }
