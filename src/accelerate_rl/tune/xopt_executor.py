"""Xopt on the simulation service: :class:`PoolExecutor` is a
``concurrent.futures.Executor`` over a :class:`~accelerate_rl.runtime.SimulationPool`, so
Xopt's ``Evaluator`` (which takes any Executor) runs every evaluation of any Xopt
generator as a simulation request on the pool's actors.

    from xopt import Evaluator, VOCS, Xopt
    from xopt.generators.bayesian import ExpectedImprovementGenerator

    pool = SimulationPool("embedded", "adige_demo.toml", observe=[("x0", 37)])
    function = PoolFunction(
        to_params=lambda inputs: {"ele[5][1]": inputs["st01_x"]},
        to_outputs=lambda result, inputs: {"x0": result.metrics["x0@37"]},
    )
    evaluator = Evaluator(function=function, executor=PoolExecutor(pool), max_workers=4)
    X = Xopt(vocs=vocs, generator=ExpectedImprovementGenerator(vocs=vocs), evaluator=evaluator)
    X.random_evaluate(4); X.run()

Xopt calls ``executor.submit(safe_function, function, inputs, **function_kwargs)``; the
executor sends ``function.to_params(inputs, **function_kwargs)`` to the pool and, when
the simulation returns, runs Xopt's own wrapper with ``to_outputs(result, inputs)`` in
place of the function. So Xopt's error handling is unchanged: a failed or lost run (or a
bad setting) is a row with ``xopt_error`` set, never an aborted run. ``max_workers``
requests are in flight at once, spread over the pool's slots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from typing import Any

from ..simulators.base import SimResult


class SimulationFailed(RuntimeError):
    """A simulation that did not finish ``ok`` (its status and error are in the message)."""


class PoolFunction:
    """An Xopt evaluate function whose work is one simulation on the pool.

    ``to_params(inputs, **kwargs)``: the request's parameters (``ele[n][v]``, beam and run
    keys) for Xopt's variable dict; ``to_outputs(result, inputs)``: Xopt's output dict
    (objectives, constraints, observables) from the :class:`SimResult`. With
    ``failed_ok=False`` (default) a result whose status is not ``ok`` raises
    :class:`SimulationFailed`, which Xopt records in ``xopt_error``.
    """

    def __init__(
        self,
        to_params: Callable[..., Mapping[str, Any]],
        to_outputs: Callable[[SimResult, Mapping[str, Any]], dict[str, Any]],
        *,
        failed_ok: bool = False,
    ) -> None:
        self.to_params = to_params
        self.to_outputs = to_outputs
        self.failed_ok = failed_ok

    def outputs(self, result: SimResult, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if not result.ok and not self.failed_ok:
            raise SimulationFailed(f"simulation {result.status}: {result.error}")
        return self.to_outputs(result, inputs)

    def __call__(self, inputs: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        raise TypeError(
            "a PoolFunction runs on the simulation service: pass "
            "executor=PoolExecutor(pool) to xopt.Evaluator"
        )


class PoolExecutor(Executor):
    """A concurrent.futures.Executor that runs :class:`PoolFunction` calls on ``pool``.

    ``timeout`` [s]: per simulation (the pool kills a run that takes longer; the row gets
    the timeout as its error). ``shutdown`` leaves the pool running unless
    ``own_pool=True``.
    """

    def __init__(self, pool: Any, *, timeout: float | None = None, own_pool: bool = False):
        self.pool = pool
        self.timeout = timeout
        self.own_pool = own_pool

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        """``submit(function, inputs, **kw)`` or ``submit(wrapper, function, inputs, **kw)``
        (Xopt's form) with ``function`` a PoolFunction."""
        if isinstance(fn, PoolFunction):
            wrapper, function, rest = None, fn, args
        elif args and isinstance(args[0], PoolFunction):
            wrapper, function, rest = fn, args[0], args[1:]
        else:
            raise TypeError(
                f"PoolExecutor runs PoolFunction simulations on the pool, got {fn!r}: wrap "
                "the simulation as PoolFunction(to_params, to_outputs)"
            )
        if not rest:
            raise TypeError("PoolExecutor.submit: missing the inputs dict")
        inputs = rest[0]
        out: Future = Future()
        out.set_running_or_notify_cancel()

        def finish(result: SimResult | BaseException) -> None:
            def call(*_a: Any, **_k: Any) -> dict[str, Any]:
                if isinstance(result, BaseException):
                    raise result
                return function.outputs(result, inputs)

            try:
                out.set_result(call() if wrapper is None else wrapper(call, *rest, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - delivered through the future
                out.set_exception(exc)

        try:
            sim = self.pool.submit(function.to_params(inputs, **kwargs), timeout=self.timeout)
        except Exception as exc:  # a bad setting: the row's error, not a crashed run
            finish(exc)
            return out

        def done(f: Future) -> None:
            try:
                finish(f.result())
            except BaseException as exc:  # noqa: BLE001
                finish(exc)

        sim.add_done_callback(done)
        return out

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self.own_pool:
            self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)
