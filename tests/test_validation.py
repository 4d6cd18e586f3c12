"""Request validation: every malformed parameter is rejected before anything runs, with an
InvalidParameterError (a ValueError) naming the key, by the same rules for the embedded
engine and the TraceWin runner (tracewin/keys.py); property-based with hypothesis."""

from __future__ import annotations

import math
import shutil
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelerate_rl.engine.beam import TRACEWIN_BEAM_KEYS
from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.simulators import EmbeddedSimulator, TraceWinSimulator
from accelerate_rl.tracewin import InvalidParameterError
from accelerate_rl.tracewin.keys import (
    BEAM_KEY_STEMS,
    ENGINE_IGNORED_KEYS,
    ENGINE_RUN_KEYS,
    FLAGS,
    TRACEWIN_RUN_KEYS,
)

ARL = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")
HUGE = "x" * 100_000


@cache
def embedded() -> EmbeddedSimulator:
    return EmbeddedSimulator(ADIGE_DEMO)


@cache
def tracewin() -> TraceWinSimulator:
    return TraceWinSimulator(ADIGE_DEMO, executable=ARL)


VALIDATORS = {
    "embedded": lambda p: embedded().validate(p),
    "tracewin": lambda p: tracewin().validate(p),
}


# ------------------------------------------------------------------ the cases


@pytest.mark.parametrize("simulator", sorted(VALIDATORS))
@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({29: 1}, "29"),
        ({"ele[29][2]": 10**400}, "ele[29][2]"),
        ({"nbr_part1": math.inf}, "nbr_part1"),
        ({"random_seed": math.inf}, "random_seed"),
        ({"random_seed": None}, "random_seed"),
        ({"random_seed": -1}, "random_seed"),
        ({"energy1": 0.8, "betx1": -1}, "betx1"),
        ({"ele[29][2]": "2.6d3"}, "ele[29][2]"),
        ({"ele[29][2]": HUGE}, "ele[29][2]"),
        ({"ele[29][2]": [2600, 2700]}, "ele[29][2]"),
        ({"partran": 2}, "partran"),
        ({"nbr_part1": 10.5}, "nbr_part1"),
        ({"hide": "yes"}, "hide"),
        ({"nbr_thread": 0}, "nbr_thread"),
        ({"synoptic_file": "../x"}, "synoptic_file"),
    ],
)
def test_malformed_parameters_are_invalid_naming_the_key(simulator, params, key):
    with pytest.raises(InvalidParameterError) as err:
        VALIDATORS[simulator](params)
    assert err.value.key == key and err.value.status == "invalid"
    assert str(err.value).startswith(f"{key}: ") and len(str(err.value)) < 200


@pytest.mark.parametrize(
    ("params", "key"),
    [({"sc_solver": "fft"}, "sc_solver"), ({"sc_mesh": "2,32,32"}, "sc_mesh")],
)
def test_the_engines_own_run_keys_are_checked_in_validate(params, key):
    with pytest.raises(InvalidParameterError) as err:
        embedded().validate(params)
    assert err.value.key == key


@pytest.mark.parametrize(
    "params",
    [{"random_seed": math.inf}, {"random_seed": None}, {"nbr_part1": math.inf, "partran": 1}],
)
def test_a_run_with_a_malformed_value_is_invalid_not_failed(params):
    """The actor's path agrees with validate: status invalid, never failed."""
    result = embedded().simulate(params)
    assert result.status == "invalid" and result.error_type == "InvalidParameterError"


def test_a_fortran_exponent_is_rejected_alike_by_single_batch_and_tracewin_paths():
    """Decision: values are decimal numbers (2.6e3); Fortran's 2.6d3 belongs to .dat files."""
    sim = embedded()
    single = sim.simulate({"ele[29][2]": "2.6d3"})
    batch = sim.simulate_batch([{"ele[29][2]": "2.6d3"}, {"ele[29][2]": "2600"}])
    assert single.status == batch[0].status == "invalid"
    assert "2.6e3" in single.error and batch[0].error == single.error
    assert batch[1].ok and batch[1].metrics == sim.simulate({"ele[29][2]": 2600}).metrics
    with pytest.raises(InvalidParameterError, match=r"2\.6e3"):
        tracewin().validate({"ele[29][2]": "2.6d3"})


def test_a_huge_value_is_not_echoed_whole():
    result = embedded().simulate({"ele[29][2]": HUGE})
    assert result.status == "invalid" and "100002 characters" in result.error
    assert len(result.error) < 200


def test_the_engines_beam_keys_are_tracewin_beam_keys():
    assert {k[:-1] for k in TRACEWIN_BEAM_KEYS} <= BEAM_KEY_STEMS
    assert all(k.endswith("1") for k in TRACEWIN_BEAM_KEYS)
    assert ENGINE_IGNORED_KEYS <= TRACEWIN_RUN_KEYS | FLAGS


# ------------------------------------------------------------------ properties

KNOWN_KEYS = sorted(
    TRACEWIN_RUN_KEYS
    | FLAGS
    | ENGINE_RUN_KEYS
    | {f"{stem}{beam}" for stem in BEAM_KEY_STEMS for beam in (1, 2)}
    | {"path_cal", "PARTRAN", "Energy1"}
)
keys = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.builds("ele[{}][{}]".format, st.integers(-2, 40), st.integers(-1, 12)),
    st.builds(" ELE[ {} ][{} ] ".format, st.integers(1, 37), st.integers(1, 3)),
    st.text(max_size=12),
    st.integers(),
    st.none(),
    st.floats(),
    st.tuples(st.integers()),
)
values = st.one_of(
    st.integers(),
    st.sampled_from([0, 1, 2, -1, 10**400, -(10**400), 10**5000, 2**31, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e4, 1e4).map(np.float64),
    st.text(max_size=12),
    st.sampled_from(["2.6d3", "1e3", "-.5", "1_000", " 1", "inf", "nan", "0", "1", "", HUGE]),
    st.none(),
    st.booleans(),
    st.lists(st.floats(-10, 10), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
requests = st.dictionaries(keys, values, max_size=4)


def shown(key: object) -> str:
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= 80 else text[:40]


def assert_rejection_names_a_key(exc: ValueError, params: dict) -> None:
    message = str(exc)
    assert any(shown(k) in message for k in params), message[:300]
    assert len(message) < 1500, message[:300]
    if isinstance(exc, InvalidParameterError):
        assert exc.key in {k if isinstance(k, str) else repr(k) for k in params} or "," in exc.key


@pytest.mark.parametrize("simulator", sorted(VALIDATORS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=requests)
def test_any_request_validates_or_is_rejected_naming_a_key(simulator, params):
    try:
        VALIDATORS[simulator](params)
    except ValueError as exc:
        assert_rejection_names_a_key(exc, params)


# Keys both simulators give the same meaning: the engine's beam keys, partran,
# random_seed and the TraceWin keys the engine accepts with no effect.
SHARED_KEYS = sorted(set(TRACEWIN_BEAM_KEYS) | {"partran", "random_seed"} | ENGINE_IGNORED_KEYS)
shared_requests = st.dictionaries(st.sampled_from(SHARED_KEYS), values, max_size=3)


@settings(max_examples=200, deadline=None)
@given(params=shared_requests)
def test_both_simulators_accept_and_reject_the_same_requests(params):
    verdicts = []
    for validate in VALIDATORS.values():
        try:
            validate(params)
            verdicts.append(True)
        except InvalidParameterError:
            verdicts.append(False)
    assert verdicts[0] == verdicts[1]


good_values = {
    "ele[29][2]": st.floats(1500, 3500),
    "ele[31][2]": st.one_of(st.floats(-3500, -1500), st.sampled_from(["-2900", "-2.9e3"])),
    "energy1": st.floats(0.5, 2.0),
    "betx1": st.floats(0.1, 5.0),
    "etnx1": st.floats(0.0, 0.5),
    "nbr_part1": st.integers(50, 200),
    "partran": st.sampled_from([0, 1, "0", "1", 1.0]),
    "random_seed": st.integers(0, 2**63 - 1),
    "hide": st.sampled_from([True, 1, None, ""]),
}
plausible = st.fixed_dictionaries({}, optional=good_values)


@settings(max_examples=40, deadline=None)
@given(params=plausible)
def test_a_request_that_validates_runs(params):
    """validate and the actor agree: what validate accepts is never invalid in a run."""
    sim = embedded()
    sim.validate(params)
    assert sim.simulate(params).status in ("ok", "lost")
