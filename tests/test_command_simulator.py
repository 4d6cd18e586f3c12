"""CommandSimulator: any file-in/file-out code through the same machinery."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.simulators import CommandSimulator
from accelerate_rl.tracewin import (
    InvalidParameterError,
    SimulationFailed,
    SimulationTimeout,
    read_out,
)

ARL = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")

TWIN = """#!{python}
import sys, json
cfg = dict(line.split('=') for line in open('cfg.txt').read().split())
gain = float(cfg['gain']) * float(sys.argv[1])
if gain > 100:
    print('model diverged'); sys.exit(0)
open('out.csv', 'w').write('step,value\\n' + ''.join(f'{{i}},{{gain * i}}\\n' for i in range(5)))
"""


@pytest.fixture()
def twin(tmp_path) -> CommandSimulator:
    exe = tmp_path / "twin"
    exe.write_text(TWIN.format(python=sys.executable))
    exe.chmod(0o755)
    template = tmp_path / "cfg.template"
    template.write_text("gain=${gain}\n")
    return CommandSimulator(
        [str(exe), "{scale}"],
        templates={"cfg.txt": template},
        outputs={"table": ("out.csv", pd.read_csv)},
        failure_patterns=["diverged"],
        physical_patterns=["diverged"],
        workdir=tmp_path,
    )


def test_parameters_reach_argv_and_templates_and_outputs_are_parsed(twin):
    res = twin.run({"gain": 2.0, "scale": 3})
    assert list(res.outputs["table"]["value"]) == [0.0, 6.0, 12.0, 18.0, 24.0]
    assert res.returncode == 0


def test_failure_pattern_with_exit_0_is_reported(twin):
    with pytest.raises(SimulationFailed) as err:
        twin.run({"gain": 50, "scale": 3})
    assert err.value.physical and "diverged" in err.value.output


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"gain": 1}, "scale"),
        ({"gain": "1;ls", "scale": 1}, "gain"),
        ({"gain": 1, "scale": 1, "extra": 2}, "extra"),
    ],
)
def test_bad_parameters_name_the_key(twin, params, key):
    with pytest.raises(InvalidParameterError) as err:
        twin.run(params)
    assert err.value.key == key


def test_run_directories_are_private_and_removed(twin, tmp_path):
    twin.run({"gain": 1, "scale": 1})
    assert not list(tmp_path.glob("command-run-*"))


def test_timeout_kills_the_code(tmp_path):
    sim = CommandSimulator([sys.executable, "-c", "import time; time.sleep(600)"], timeout=0.5)
    with pytest.raises(SimulationTimeout):
        sim.run({})


def test_missing_output_fails(tmp_path):
    sim = CommandSimulator([sys.executable, "-c", "pass"], outputs={"t": ("out.csv", pd.read_csv)})
    with pytest.raises(SimulationFailed, match="missing"):
        sim.run({})


def test_the_engine_cli_as_a_generic_command(tmp_path):
    """The worked example of the README: a TraceWin-like code through CommandSimulator."""
    sim = CommandSimulator(
        [ARL, str(ADIGE_DEMO), "path_cal={run_dir}", "ele[29][2]={v3}", "ele[31][2]={v4}"],
        outputs={"envelope": ("tracewin.out", read_out)},
    )
    res = sim.run({"v3": 2600, "v4": -2900})
    assert res.outputs["envelope"]["##"].iloc[-1] == 37


@settings(max_examples=150, deadline=None)
@given(
    params=st.dictionaries(
        st.one_of(st.sampled_from(["gain", "scale"]), st.text(max_size=6), st.integers()),
        st.one_of(
            st.integers(),
            st.sampled_from([10**400, 10**5000]),
            st.floats(allow_nan=True, allow_infinity=True),
            st.text(max_size=8),
            st.sampled_from(["x" * 100_000, "1;ls", "a b"]),
            st.none(),
            st.booleans(),
            st.lists(st.integers(), max_size=2),
        ),
        max_size=3,
    )
)
def test_any_parameters_validate_to_safe_text_or_are_rejected_naming_a_key(params):
    sim = CommandSimulator([sys.executable, "{gain}", "{scale}"])
    try:
        values = sim.validate(params)
    except InvalidParameterError as exc:
        assert exc.key in {k if isinstance(k, str) else repr(k) for k in params} | {"gain", "scale"}
        assert len(str(exc)) < 300
    else:
        assert set(values) == {"gain", "scale"}
        assert all(v and " " not in v and ";" not in v for v in values.values())
