"""Model-free classical controllers: do-nothing, random moves, Nelder-Mead (scipy) and
Bayesian optimisation (Optuna's Gaussian-process sampler), all on the machine.

Each is a callable ``controller(machine)`` acting on a :class:`~.machine.Machine` until the
episode ends (:class:`~.machine.EpisodeOver`). A search evaluates a candidate by ramping
the knobs to it (limited moves: a far candidate costs several steps, each a simulation)
and reading the screens; when the readings are in tolerance it holds (the env ends the
episode once the true beam held its targets).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .machine import Machine


def do_nothing(machine: Machine) -> None:
    """Keep the initial settings (the reference: how often the line is tuned already)."""
    while True:
        machine.hold()


def random_moves(machine: Machine) -> None:
    """Uniformly random normalised delta actions (seeded by the episode)."""
    rng = np.random.default_rng(machine.seed)
    while True:
        machine.step(rng.uniform(-1, 1, len(machine.low)))


def _evaluate(machine: Machine, u: np.ndarray) -> float:
    """Score of normalised setting ``u``; holds there while it is in tolerance."""
    machine.move_to(machine.physical(u))
    machine.settle()
    return machine.score()


class NelderMead:
    """scipy's Nelder-Mead on the normalised knobs from the initial setting (simplex
    ``step`` in normalised units, i.e. step/2 of each knob's range)."""

    def __init__(self, step: float = 0.1) -> None:
        self.step = step

    def __call__(self, machine: Machine) -> None:
        from scipy.optimize import minimize

        u0 = machine.normalised(machine.values)
        simplex = np.vstack([u0, u0 + self.step * np.eye(len(u0))])
        while True:  # restart from the best point if scipy converges without success
            result = minimize(
                lambda u: _evaluate(machine, u),
                u0,
                method="Nelder-Mead",
                options={"initial_simplex": simplex, "xatol": 1e-3, "fatol": 1e-2},
            )
            u0 = result.x
            simplex = np.vstack([u0, u0 + self.step / 2 * np.eye(len(u0))])


class BayesianOptimisation:
    """Optuna's Gaussian-process sampler (expected improvement, BoTorch-free) over the
    normalised knobs, the initial setting enqueued first; ask/tell on the machine."""

    def __init__(self, n_startup: int = 6) -> None:
        self.n_startup = n_startup

    def __call__(self, machine: Machine) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.GPSampler(seed=machine.seed, n_startup_trials=self.n_startup)
        study = optuna.create_study(sampler=sampler)
        names = [f"u{i}" for i in range(len(machine.low))]
        dists = {n: optuna.distributions.FloatDistribution(-1.0, 1.0) for n in names}
        study.enqueue_trial(dict(zip(names, machine.normalised(machine.values).tolist())))
        while True:
            trial = study.ask(dists)
            u = np.array([trial.params[n] for n in names])
            study.tell(trial, np.log1p(_evaluate(machine, u)))


@contextmanager
def _float64_torch() -> Iterator[None]:
    """torch's default dtype float64 inside (what Xopt's Bayesian generators want: their
    package sets it on import, for the whole process), what it was after: an RLlib module
    or a policy built later in the same process keeps float32."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


class XoptBayesianOptimisation:
    """Xopt's expected-improvement generator (BoTorch GP) over the normalised knobs,
    driven by Xopt's own loop (``Xopt.step``); its evaluate function ramps the machine to
    the candidate and reads the screens. The initial setting is the first evaluation."""

    def __init__(self, n_startup: int = 4) -> None:
        self.n_startup = n_startup

    def __call__(self, machine: Machine) -> None:
        with _float64_torch():
            self._run(machine)

    def _run(self, machine: Machine) -> None:
        from xopt import VOCS, Evaluator, Xopt
        from xopt.errors import XoptError
        from xopt.generators.bayesian import ExpectedImprovementGenerator

        names = [f"u{i}" for i in range(len(machine.low))]
        vocs = VOCS(variables={n: [-1.0, 1.0] for n in names}, objectives={"score": "MINIMIZE"})

        def evaluate(inputs: dict) -> dict:
            u = np.array([inputs[n] for n in names])
            return {"score": float(np.log1p(_evaluate(machine, u)))}

        X = Xopt(
            generator=ExpectedImprovementGenerator(vocs=vocs),
            evaluator=Evaluator(function=evaluate),
            vocs=vocs,
        )
        rng = np.random.default_rng(machine.seed)
        start = machine.normalised(machine.values)
        points = [start] + [rng.uniform(-1, 1, len(names)) for _ in range(self.n_startup - 1)]
        try:
            X.evaluate_data({n: [float(p[i]) for p in points] for i, n in enumerate(names)})
            while True:
                X.step()
        except XoptError:  # Xopt (strict) wraps the EpisodeOver of the last evaluation
            if not machine.done:
                raise
            machine.hold()  # the episode is over: raises EpisodeOver
