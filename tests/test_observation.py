"""One observation contract for every simulator: ``column@element`` metrics and
``transmission``, the same from the embedded engine, the tracewin simulator running
``arl-tracewin``, and a command simulator parsing TraceWin's table; a metric a simulator
cannot give is an error naming the metric and the simulator."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.simulators import CommandSimulator, EmbeddedSimulator, TraceWinSimulator
from accelerate_rl.simulators.observe import MetricUnavailable, table_metrics
from accelerate_rl.tracewin.out import read_out

ARL = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")
OBSERVE = [("x0", 9), ("y0", 9), ("x0", 37), ("SizeX", 37), ("SizeY", 20), ("ex", 0)]
SETTING = {"ele[5][1]": 40.0, "ele[11][2]": -25.0, "ele[29][2]": 3000.0}


def _observed(metrics):
    return {k: v for k, v in metrics.items() if "@" in k}


def test_embedded_and_tracewin_running_arl_tracewin_give_the_same_metrics(tmp_path):
    embedded = EmbeddedSimulator(ADIGE_DEMO, observe=OBSERVE).simulate(SETTING)
    tracewin = TraceWinSimulator(ADIGE_DEMO, ARL, observe=OBSERVE, workdir=tmp_path)
    remote = tracewin.simulate(SETTING)
    assert embedded.ok and remote.ok, remote.error
    assert set(_observed(remote.metrics)) == {f"{c}@{n}" for c, n in OBSERVE}
    a, b = _observed(embedded.metrics), _observed(remote.metrics)
    for name in a:  # tracewin.out carries 7 significant digits
        assert b[name] == pytest.approx(a[name], rel=1e-6, abs=1e-9), name
    assert abs(a["x0@37"]) > 0.1  # the steerer moved the beam: not a trivial zero
    # transmission: tracewin.out's npart is a particle count (resolution 1/npart)
    assert remote.metrics["transmission"] == pytest.approx(
        embedded.metrics["transmission"], abs=1 / 2000
    )


def test_a_command_simulator_reads_the_same_metrics_through_its_table_parser(tmp_path):
    sim = CommandSimulator(
        [ARL, str(ADIGE_DEMO), "hide", "ele[5][1]={kick}", "path_cal={run_dir}"],
        outputs={"table": ("tracewin.out", read_out)},
        observe=["x0@37", "SizeX@37"],
        workdir=tmp_path,
    )
    got = sim.simulate({"kick": 40.0})
    want = EmbeddedSimulator(ADIGE_DEMO, observe=OBSERVE).simulate({"ele[5][1]": 40.0})
    assert got.ok, got.error
    assert got.metrics["x0@37"] == pytest.approx(want.metrics["x0@37"], rel=1e-6)
    assert got.metrics["SizeX@37"] == pytest.approx(want.metrics["SizeX@37"], rel=1e-6)
    assert got.metrics["transmission"] == 1.0


def test_an_element_inside_a_field_map_is_read_at_its_exit_row(spoke):
    """Real TraceWin writes ~50 rows inside each 1D field map with the map's element
    number: the metric is the last of them (the map's exit), at the z where element 7
    starts; the embedded engine agrees with TraceWin there."""
    table = read_out(spoke / "tracewin.out")
    rows6 = np.flatnonzero(table["##"] == 6)
    assert len(rows6) > 10
    metrics = table_metrics(table, [("SizeX", 6), ("z(m)", 6), ("SizeX", 7)], "real TraceWin")
    assert metrics["z(m)@6"] == table["z(m)"].iloc[rows6[-1]]
    assert metrics["z(m)@6"] > table["z(m)"].iloc[rows6[0]]
    ours = EmbeddedSimulator(spoke / "work_field_map.ini", observe=[("SizeX", 6), ("SizeX", 7)])
    mine = ours.simulate({}).metrics
    assert mine["SizeX@6"] == pytest.approx(metrics["SizeX@6"], rel=1e-3)
    assert mine["SizeX@7"] == pytest.approx(metrics["SizeX@7"], rel=1e-3)


@pytest.mark.parametrize(
    "observe, match",
    [
        ([("SizeQ", 9)], r"'SizeQ@9'.*unknown column 'SizeQ'"),
        (["x0@99"], r"'x0@99'.*elements 0\.\.37"),
        (["x0-9"], r"'x0-9' is not 'column@element'"),
    ],
)
def test_a_metric_a_simulator_cannot_give_fails_at_construction_naming_both(
    observe, match, tmp_path
):
    with pytest.raises(MetricUnavailable, match="the embedded simulator.*" + match):
        EmbeddedSimulator(ADIGE_DEMO, observe=observe)
    with pytest.raises(MetricUnavailable, match="the tracewin simulator.*" + match):
        TraceWinSimulator(ADIGE_DEMO, ARL, observe=observe, workdir=tmp_path)


def test_a_command_simulator_without_a_table_fails_its_result_naming_the_metric(tmp_path):
    script = tmp_path / "twin.py"
    script.write_text("open('out.txt', 'w').write('1.0')\n")
    with pytest.raises(MetricUnavailable, match="needs an output parsed into a table"):
        CommandSimulator([sys.executable, str(script)], observe=["x0@3"])
    sim = CommandSimulator(
        [sys.executable, str(script)],
        outputs={"value": ("out.txt", lambda p: float(p.read_text()))},
        observe=["x0@3"],
        workdir=tmp_path,
    )
    result = sim.simulate({})
    assert not result.ok and "x0@3" in result.error and "command simulator" in result.error
