"""The pytracewin-compatible runner with real subprocesses: the engine's arl-tracewin (the
path a licensed user takes with TraceWin) and fake executables that misbehave."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from accelerate_rl.engine import Engine
from accelerate_rl.engine.project import load_project
from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.tracewin import (
    InvalidParameterError,
    SimulationFailed,
    SimulationTimeout,
    TraceWin,
    TraceWinError,
)

ARL = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")


@pytest.fixture()
def project(tmp_path) -> Path:
    dest = tmp_path / "user_project"
    shutil.copytree(ADIGE_DEMO.parent, dest)
    return dest / ADIGE_DEMO.name


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def fake(tmp_path: Path, body: str, name: str = "faketw") -> Path:
    """An executable Python script standing in for TraceWin."""
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nimport os, sys, time, signal, subprocess\n{body}\n")
    path.chmod(0o755)
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


# ------------------------------------------------------------------ the real path


def test_pytracewin_usage_works_unchanged_with_arl_tracewin(project):
    before = snapshot(project.parent)
    tw = TraceWin(str(project), executable=ARL, hide=True, debug=False)
    proc = tw.run(params={"nbr_part1": 3000, "ele[29][2]": 2600, "partran": 1}, timeout=60)
    assert proc.returncode == 0
    df = tw.results()
    assert df.attrs["npart"] == 3000 and df["##"].iloc[-1] == 37
    assert tw.dst().n_particles == df["npart"].iloc[-1]
    assert len(tw.plt().records) == 38
    assert tw.transfer_matrices().matrices.shape == (37, 6, 6)
    # same physics as the engine called directly
    p = load_project(project)
    direct = Engine(p.lattice, p.beam).run({"ele[29][2]": 2600})
    env = tw.envelope()
    np.testing.assert_allclose(env["SizeX"], direct.table["SizeX"], rtol=1e-6)
    assert snapshot(project.parent) == before, "the user's folder was written"
    assert tw.calc_dir is None


def test_seed_is_passed_and_recorded_and_reproduces(project):
    tw = TraceWin(project, executable=ARL)
    tw.run({"partran": 1, "nbr_part1": 500})
    seed = tw.last.seed
    assert any(a == f"random_seed={seed}" for a in tw.last.command)
    first = tw.dst().raw.copy()
    tw.run({"partran": 1, "nbr_part1": 500, "random_seed": seed})
    np.testing.assert_array_equal(tw.dst().raw, first)


def test_only_the_outputs_asked_for_are_kept(project):
    tw = TraceWin(project, executable=ARL, outputs=["partran1.out"])
    tw.run({"partran": 1, "nbr_part1": 500})
    assert tw.results()["npart"].iloc[-1] == 500
    assert set(tw.last.outputs) == {"partran1.out"}
    with pytest.raises(FileNotFoundError, match="plt"):
        tw.plt()


def test_calc_directories_are_removed_unless_debugging(project, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    tw = TraceWin(project, executable=ARL, workdir=work)
    tw.run()
    assert [p.name for p in work.iterdir() if p.name.startswith("tracewin-run-")] == []
    tw_dbg = TraceWin(project, executable=ARL, debug=True, workdir=work)
    tw_dbg.run()
    assert tw_dbg.calc_dir is not None and (tw_dbg.calc_dir / "calc" / "tracewin.out").exists()


def test_concurrent_runs_of_one_project_share_no_file(project):
    results: dict[int, float] = {}
    errors: list[Exception] = []

    def one(i: int) -> None:
        try:
            tw = TraceWin(project, executable=ARL)
            tw.run({"ele[33][1]": float(i * 10)})
            results[i] = float(tw.results()["x0"].iloc[-1])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    sequential = {}
    for i in range(8):
        tw = TraceWin(project, executable=ARL)
        tw.run({"ele[33][1]": float(i * 10)})
        sequential[i] = float(tw.results()["x0"].iloc[-1])
    assert results == sequential and len(set(results.values())) == 8


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"ele[99][1]": 1}, "ele[99][1]"),
        ({"ele[3][2]": "fast"}, "ele[3][2]"),
        ({"nbr_partt1": 10}, "nbr_partt1"),
        ({"energy1": "1;rm -rf /"}, "energy1"),
        ({"energy1": "1 2"}, "energy1"),
        ({"dst_file1": "../../etc/passwd"}, "dst_file1"),
        ({"path_cal": "/tmp"}, "path_cal"),
        ({"current1": float("nan")}, "current1"),
    ],
)
def test_bad_params_are_rejected_before_anything_is_launched(project, tmp_path, params, key):
    marker = tmp_path / "launched"
    exe = fake(tmp_path, f"open({str(marker)!r}, 'w').close()")
    tw = TraceWin(project, executable=exe)
    with pytest.raises(InvalidParameterError) as err:
        tw.run(params)
    assert err.value.key == key and isinstance(err.value, ValueError)
    assert not marker.exists()


def test_executable_may_be_an_argv_list(project, tmp_path):
    log = tmp_path / "argv.txt"
    wrapper = fake(
        tmp_path,
        f"open({str(log)!r}, 'w').write(repr(sys.argv[1:]))\nos.execv(sys.argv[1], sys.argv[1:])",
        name="wrapper",
    )
    tw = TraceWin(project, executable=[str(wrapper), ARL])
    tw.run({"ele[29][2]": 2500})
    argv = eval(log.read_text())
    assert argv[0] == ARL and "hide" in argv and "ele[29][2]=2500" in argv
    assert any(a.startswith("path_cal=") for a in argv)


def test_missing_executable_names_it():
    with pytest.raises(FileNotFoundError, match="no-such-tracewin"):
        TraceWin(ADIGE_DEMO, executable="no-such-tracewin").run()


# ------------------------------------------------------------------ failures


def test_a_hung_simulator_is_killed_after_its_timeout(project, tmp_path):
    pidfile = tmp_path / "pid"
    exe = fake(tmp_path, f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)")
    tw = TraceWin(project, executable=exe)
    t0 = time.monotonic()
    with pytest.raises(SimulationTimeout) as err:
        tw.run(timeout=1.0)
    assert time.monotonic() - t0 < 10
    assert err.value.returncode is None and not err.value.physical
    assert not alive(int(pidfile.read_text()))


def test_children_that_ignore_sigterm_do_not_outlive_the_run(project, tmp_path):
    pids = tmp_path / "pids"
    body = (
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(600)"
    )
    tw = TraceWin(project, executable=fake(tmp_path, body))
    with pytest.raises(SimulationTimeout):
        tw.run(timeout=1.0)
    deadline = time.monotonic() + 5
    while any(alive(int(p)) for p in pids.read_text().split()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(int(p)) for p in pids.read_text().split())


def test_a_crash_is_a_technical_failure_with_the_last_output(project, tmp_path):
    exe = fake(tmp_path, "print('segfault in module X', file=sys.stderr)\nsys.exit(139)")
    with pytest.raises(SimulationFailed) as err:
        TraceWin(project, executable=exe).run()
    e = err.value
    assert e.returncode == 139 and not e.physical and "segfault in module X" in e.output
    assert e.command[0] == str(exe)


def test_exit_0_with_all_particles_lost_is_a_physical_failure(project, tmp_path):
    exe = fake(tmp_path, "print('Step 12 ... All particles are lost')\nsys.exit(0)")
    with pytest.raises(SimulationFailed) as err:
        TraceWin(project, executable=exe).run()
    assert err.value.physical and err.value.returncode == 0


@pytest.mark.parametrize(
    "message",
    [
        "Error: cannot open field map",
        "transport failed at element 3",
        "Synchronous particle never reaches the end of the field map",
    ],
)
def test_exit_0_with_a_failure_message_fails(project, tmp_path, message):
    exe = fake(tmp_path, f"print({message!r})")
    with pytest.raises(SimulationFailed, match="reported"):
        TraceWin(project, executable=exe).run()


def test_missing_and_truncated_outputs_fail(project, tmp_path):
    with pytest.raises(SimulationFailed, match="missing"):
        TraceWin(project, executable=fake(tmp_path, "pass")).run()
    # a real run's tracewin.out, cut after element 20
    tw = TraceWin(project, executable=ARL, outputs=["tracewin.out"])
    tw.run()
    lines = tw.last.outputs["tracewin.out"].read_text().splitlines()[: 10 + 21]
    source = tmp_path / "truncated.out"
    source.write_text("\n".join(lines) + "\n")
    body = (
        "cal = [a.split('=', 1)[1] for a in sys.argv if a.startswith('path_cal=')][0]\n"
        f"import shutil; shutil.copy({str(source)!r}, os.path.join(cal, 'tracewin.out'))"
    )
    with pytest.raises(SimulationFailed, match="truncated"):
        TraceWin(project, executable=fake(tmp_path, body, "trunc")).run()


def test_debug_keeps_the_calc_directory_and_the_error_names_it(project, tmp_path):
    exe = fake(tmp_path, "sys.exit(2)")
    with pytest.raises(TraceWinError) as err:
        TraceWin(project, executable=exe, debug=True, workdir=tmp_path).run()
    assert err.value.calc_dir is not None and err.value.calc_dir.exists()
    assert str(err.value.calc_dir) in str(err.value)


def test_tracewin_side_files_land_in_the_private_copy(project, tmp_path):
    body = (
        "proj = sys.argv[1]\n"
        "open(proj.replace('.toml', '_new.ini'), 'w').write('x')\n"
        "open(os.path.join(os.path.dirname(proj), 'run.cal'), 'w').write('x')\n"
        "sys.exit(1)"
    )
    before = snapshot(project.parent)
    with pytest.raises(SimulationFailed):
        TraceWin(project, executable=fake(tmp_path, body)).run()
    assert snapshot(project.parent) == before


# ------------------------------------------------------------------ a real TraceWin


@pytest.mark.skipif(
    not os.environ.get("ARL_TRACEWIN_EXE"),
    reason="set ARL_TRACEWIN_EXE (and ARL_TRACEWIN_PROJECT) to run against a licensed TraceWin",
)
def test_real_tracewin_if_available():  # pragma: no cover - needs a licence
    exe = os.environ["ARL_TRACEWIN_EXE"].split()
    proj = os.environ.get("ARL_TRACEWIN_PROJECT")
    if not proj:
        pytest.skip("set ARL_TRACEWIN_PROJECT to a TraceWin .ini")
    tw = TraceWin(proj, executable=exe)
    tw.run({"partran": 1, "nbr_part1": 1000}, timeout=600)
    assert len(tw.results()) > 1
    with pytest.raises(SimulationTimeout):
        tw.run({"partran": 1, "nbr_part1": 10**7}, timeout=0.5)
