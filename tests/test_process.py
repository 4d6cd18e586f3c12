"""accelerate_rl.external: subprocesses with a group kill, staging, the failure ladder and
the status every run error carries; real processes and real files."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from accelerate_rl.external import (
    LINK_ABOVE,
    FailurePattern,
    InvalidParameterError,
    RunError,
    SimulationFailed,
    SimulationTimeout,
    brief,
    check_outcome,
    resolve_executable,
    run_directory,
    run_process,
    stage_folder,
)


def python(tmp_path: Path, code: str, timeout: float | None = None):
    """Run ``python -c code`` in tmp_path through run_process."""
    return run_process([sys.executable, "-c", code], tmp_path, timeout=timeout)


# ------------------------------------------------------------------ running


def test_a_timed_out_process_and_its_children_are_killed(tmp_path):
    """Parent and child ignore SIGTERM and append to a heartbeat file until killed."""
    beat = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "while True:\n"
        "    open('beat', 'a').write('.'); time.sleep(0.02)\n"
    )
    code = f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {beat!r}])\n{beat}"
    outcome = python(tmp_path, code, timeout=1.0)
    assert outcome.timed_out and outcome.returncode != 0
    size = (tmp_path / "beat").stat().st_size
    time.sleep(0.5)
    assert (tmp_path / "beat").stat().st_size == size, "a process outlived its run"


def test_output_is_captured_to_files_not_pipes(tmp_path):
    outcome = python(tmp_path, "import sys; print('x' * 200000); print('err', file=sys.stderr)")
    assert outcome.returncode == 0 and not outcome.timed_out
    assert len(outcome.stdout) > 200000 and outcome.stderr.strip() == "err"
    assert (tmp_path / ".stdout").exists()


def test_executables_resolve_from_path_or_name_what_is_missing(tmp_path):
    assert resolve_executable("sh") == [shutil.which("sh")]
    assert resolve_executable(["sh", "-c", "x"])[1:] == ["-c", "x"]
    with pytest.raises(FileNotFoundError, match="no-such-program"):
        resolve_executable("no-such-program")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_executable(tmp_path / "missing")
    with pytest.raises(ValueError, match="empty"):
        resolve_executable([])


# ------------------------------------------------------------------ the failure ladder


def test_a_timeout_wins_over_everything_else(tmp_path):
    outcome = python(tmp_path, "print('Error: x', flush=True); import time; time.sleep(60)", 0.5)
    with pytest.raises(SimulationTimeout) as err:
        check_outcome(outcome, program="code", patterns=[FailurePattern("Error:")])
    assert err.value.status == "timeout" and err.value.returncode is None
    assert "code did not finish within its timeout" in str(err.value)


def test_a_failure_message_wins_over_the_exit_status_and_says_if_physical(tmp_path):
    outcome = python(tmp_path, "print('ALL PARTICLES ARE LOST'); raise SystemExit(3)")
    lost = FailurePattern("All particles are lost", physical=True, ignore_case=True)
    with pytest.raises(SimulationFailed) as err:
        check_outcome(outcome, program="code", patterns=[lost])
    assert err.value.physical and err.value.status == "lost" and err.value.returncode == 3
    assert "ALL PARTICLES ARE LOST" in err.value.output
    # a case-sensitive pattern does not match other cases: the exit status decides
    with pytest.raises(SimulationFailed, match="exited with status 3") as err:
        check_outcome(outcome, program="code", patterns=[FailurePattern("All particles")])
    assert err.value.status == "failed"


def test_missing_empty_and_unreadable_outputs_fail_after_a_clean_exit(tmp_path):
    outcome = python(tmp_path, "open('empty.txt', 'w'); open('bad.txt', 'w').write('?')")

    def reader(path: Path) -> float:
        return float(path.read_text())

    def judge(name: str):
        return check_outcome(outcome, program="code", outputs={"x": (tmp_path / name, reader)})

    with pytest.raises(SimulationFailed, match="missing.txt is missing"):
        judge("missing.txt")
    with pytest.raises(SimulationFailed, match="empty.txt is empty"):
        judge("empty.txt")
    with pytest.raises(SimulationFailed, match="bad.txt is corrupted or truncated") as err:
        judge("bad.txt")
    assert not err.value.physical and err.value.status == "failed"
    (tmp_path / "good.txt").write_text("2.5")
    assert judge("good.txt") == {"x": 2.5}


def test_every_error_carries_the_status_its_result_gets():
    common = dict(command=["x"], returncode=1, output="", calc_dir=None)
    assert SimulationFailed("m", physical=True, **common).status == "lost"
    assert SimulationFailed("m", physical=False, **common).status == "failed"
    assert SimulationTimeout("m", physical=False, **common).status == "timeout"
    assert issubclass(SimulationTimeout, RunError) and issubclass(SimulationFailed, RunError)
    err = InvalidParameterError("gain", "must be finite")
    assert err.status == "invalid" and isinstance(err, ValueError) and err.key == "gain"


# ------------------------------------------------------------------ staging


def test_staging_copies_small_files_and_links_big_ones_and_folders(tmp_path):
    src = tmp_path / "project"
    (src / "maps").mkdir(parents=True)
    (src / "small.dat").write_text("DRIFT 1\n")
    with (src / "big.bin").open("wb") as fh:
        fh.truncate(LINK_ABOVE + 1)
    (src / "skip.out").write_text("old output")
    dest = tmp_path / "run" / "project"
    stage_folder(src, dest, skip=lambda name: name.endswith(".out"))
    assert not (dest / "small.dat").is_symlink() and (dest / "small.dat").read_text() == "DRIFT 1\n"
    assert (dest / "big.bin").is_symlink() and (dest / "maps").is_symlink()
    assert not (dest / "skip.out").exists()
    (dest / "small.dat").write_text("changed")
    assert (src / "small.dat").read_text() == "DRIFT 1\n"


def test_run_directories_are_removed_unless_kept(tmp_path):
    with run_directory("r-", tmp_path) as gone, run_directory("k-", tmp_path, keep=True) as kept:
        (gone / "f").write_text("x")
    assert not gone.exists() and kept.is_dir()
    with pytest.raises(RuntimeError), run_directory("e-", tmp_path) as failed:
        raise RuntimeError
    assert not failed.exists()


# ------------------------------------------------------------------ messages


def test_long_values_and_keys_are_not_echoed_whole():
    text = brief("v" * 100_000)
    assert len(text) < 110 and "100002 characters" in text
    assert "bits" in brief(10**5000)  # repr() of such an int raises in Python >= 3.11
    err = InvalidParameterError("k" * 100_000, f"value {brief('v' * 100_000)} is not a number")
    assert len(str(err)) < 250 and err.key == "k" * 100_000
    assert InvalidParameterError(29, "keys must be strings").key == "29"
