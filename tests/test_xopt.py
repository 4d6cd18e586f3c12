"""Xopt runs its own generators on the simulation service: SimulationPool behind Xopt's
Evaluator through PoolExecutor (a real local Ray pool, a small budget)."""

from __future__ import annotations

import numpy as np
import pytest

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.tune.xopt_executor import PoolExecutor, PoolFunction

xopt = pytest.importorskip("xopt")
pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture(autouse=True)
def _keep_torch_dtype():
    """Importing Xopt's Bayesian generators sets torch's default dtype to float64 for the
    process (xopt/generators/bayesian/__init__.py): give later test modules theirs back."""
    import torch

    previous = torch.get_default_dtype()
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="module")
def pool():
    from accelerate_rl.runtime import SimulationPool

    pool = SimulationPool(
        "embedded", ADIGE_DEMO, slots=2, simulator_options={"observe": [("x0", 37)]}
    )
    yield pool
    pool.shutdown()


def _function() -> PoolFunction:
    return PoolFunction(
        to_params=lambda inputs: {"ele[5][1]": inputs["st01_x"]},
        to_outputs=lambda result, inputs: {"x0": result.metrics["x0@37"]},
    )


def test_xopt_bayesian_optimisation_on_the_pool_centres_the_beam(pool):
    """Expected improvement over one steerer, every evaluation a simulation on the pool:
    ten evaluations (two at a time) bring |x0| at the final diagnostic well below its
    start."""
    from xopt import VOCS, Evaluator, Xopt
    from xopt.generators.bayesian import ExpectedImprovementGenerator

    vocs = VOCS(variables={"st01_x": [-150.0, 150.0]}, objectives={"abs_x0": "MINIMIZE"})
    function = PoolFunction(
        to_params=lambda inputs: {"ele[5][1]": inputs["st01_x"] + 40.0},  # hidden offset
        to_outputs=lambda result, inputs: {"abs_x0": abs(result.metrics["x0@37"])},
    )
    evaluator = Evaluator(function=function, executor=PoolExecutor(pool), max_workers=2)
    X = Xopt(vocs=vocs, generator=ExpectedImprovementGenerator(vocs=vocs), evaluator=evaluator)
    X.evaluate_data({"st01_x": [120.0, -120.0]})
    for _ in range(4):  # two candidates per step (max_workers)
        X.step()
    data = X.data
    assert len(data) == 10 and not data["xopt_error"].any()
    start = float(data["abs_x0"].iloc[:2].min())
    assert data["abs_x0"].min() < 0.1 * start
    best = float(data.loc[data["abs_x0"].idxmin(), "st01_x"])
    assert best == pytest.approx(-40.0, abs=15.0)


def test_a_bad_setting_is_an_error_row_and_its_neighbours_still_run(pool):
    from xopt import Evaluator

    evaluator = Evaluator(function=_function(), executor=PoolExecutor(pool), max_workers=2)
    bad = PoolFunction(
        to_params=lambda inputs: {"ele[999][1]": inputs["st01_x"]},
        to_outputs=lambda result, inputs: {"x0": 0.0},
    )
    bad_eval = Evaluator(function=bad, executor=PoolExecutor(pool), max_workers=1)
    rows = evaluator.evaluate_data({"st01_x": [0.0, 50.0]})
    failed = bad_eval.evaluate_data({"st01_x": [0.0]})
    assert not rows["xopt_error"].any() and np.isfinite(rows["x0"]).all()
    assert rows["x0"].iloc[1] != rows["x0"].iloc[0]
    assert bool(failed["xopt_error"].iloc[0])
    assert "999" in str(failed["xopt_error_str"].iloc[0])


def test_a_plain_function_is_refused_with_a_clear_error(pool):
    with pytest.raises(TypeError, match="PoolFunction"):
        PoolExecutor(pool).submit(lambda inputs: inputs, {"a": 1})
