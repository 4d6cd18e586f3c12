"""Classical tuning controllers for the hard task, run on the same env/backend as RL and
counted the same way (see :mod:`.machine`): ``CONTROLLERS`` maps a name to a factory
``factory(task) -> controller``.

    machine = Machine(HardTuningEnv(hard_task()))
    trial = run_trial(CONTROLLERS["gauss-newton"](hard_task()), machine, seed=2_000_000)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .direct import (
    BayesianOptimisation,
    NelderMead,
    XoptBayesianOptimisation,
    do_nothing,
    random_moves,
)
from .machine import EpisodeOver, Machine, PolicyController, Trial, run_trial
from .model_based import DesignModelInverse, GaussNewton, design_beam


def _design_inverse(task: Mapping[str, Any]) -> DesignModelInverse:
    from ...rl.hard_task import HardTaskConfig

    spec = HardTaskConfig(**task)
    metrics = [(m.column, m.element) for m in spec.metrics]
    return DesignModelInverse(spec.project, metrics, design_beam(spec.project))


#: name -> factory(task dict) -> controller(machine)
CONTROLLERS: dict[str, Callable[[Mapping[str, Any]], Callable[[Machine], None]]] = {
    "do-nothing": lambda task: do_nothing,
    "random": lambda task: random_moves,
    "design-inverse": _design_inverse,
    "gauss-newton": lambda task: GaussNewton(),
    "nelder-mead": lambda task: NelderMead(),
    "bayes-opt": lambda task: BayesianOptimisation(),
    "bayes-opt-xopt": lambda task: XoptBayesianOptimisation(),
}

__all__ = [
    "CONTROLLERS",
    "BayesianOptimisation",
    "DesignModelInverse",
    "EpisodeOver",
    "GaussNewton",
    "Machine",
    "NelderMead",
    "PolicyController",
    "Trial",
    "XoptBayesianOptimisation",
    "run_trial",
]
