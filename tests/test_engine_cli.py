"""``arl-tracewin`` as a real subprocess, with TraceWin's argv."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from accelerate_rl.examples import ADIGE_DEMO
from accelerate_rl.tracewin import read_dst, read_out, read_plt, read_transfer_matrices

EXE = shutil.which("arl-tracewin") or ""


def arl(*args: str, cwd=None) -> subprocess.CompletedProcess:
    cmd = [EXE] if EXE else [sys.executable, "-m", "accelerate_rl.engine.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture()
def project(tmp_path):
    """A private copy of the example project (TraceWin writes next to projects)."""
    dest = tmp_path / "proj"
    shutil.copytree(ADIGE_DEMO.parent, dest)
    return dest / ADIGE_DEMO.name


def test_envelope_run_writes_tracewin_files_our_readers_read(project, tmp_path):
    cal = tmp_path / "cal"
    proc = arl(str(project), "hide", f"path_cal={cal}")
    assert proc.returncode == 0, proc.stderr
    out = read_out(cal / "tracewin.out")
    assert list(out["##"]) == list(range(38))
    tm = read_transfer_matrices(cal / "Transfer_matrix1.dat")
    assert len(tm) == 37
    assert not (cal / "partran1.out").exists()


def test_multiparticle_run_writes_particles_and_records_the_seed(project, tmp_path):
    cal = tmp_path / "cal"
    proc = arl(
        str(project), "hide", f"path_cal={cal}", "partran=1", "nbr_part1=3000", "random_seed=42"
    )
    assert proc.returncode == 0, proc.stderr
    assert "seed 42" in proc.stdout
    part = read_out(cal / "partran1.out")
    assert part.attrs["npart"] == 3000
    plt = read_plt(cal / "dtl1.plt")
    assert len(plt.records) == 38 and plt.n_particles == 3000
    final = read_dst(cal / "part_dtl1.dst")
    assert final.n_particles == part["npart"].iloc[-1]
    # the plt's last record agrees with the output dst (within a quantisation step)
    alive = plt.records[-1].alive
    span = np.ptp(plt.records[-1].raw[alive], axis=0)
    assert np.all(
        np.abs(plt.records[-1].raw[alive][:, :4] - final.raw[:, :4]) <= span[:4] / 65534 + 1e-9
    )


def test_ele_override_on_the_command_line_changes_the_result(project, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert arl(str(project), f"path_cal={a}").returncode == 0
    assert arl(str(project), f"path_cal={b}", "ele[33][1]=40").returncode == 0
    xa = read_out(a / "tracewin.out")["x0"].iloc[-1]
    xb = read_out(b / "tracewin.out")["x0"].iloc[-1]
    assert xa == pytest.approx(0.0, abs=1e-12) and abs(xb) > 0.1


def test_same_seed_gives_identical_files(project, tmp_path):
    for name in ("a", "b"):
        arl(
            str(project),
            f"path_cal={tmp_path / name}",
            "partran=1",
            "nbr_part1=500",
            "random_seed=5",
        )
    assert (tmp_path / "a/part_dtl1.dst").read_bytes() == (
        tmp_path / "b/part_dtl1.dst"
    ).read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ele[99][1]=3"], "valid range 1..37"),
        (["ele[3][2]=abc"], "not a number"),
        (["nbr_partt=3"], "nbr_partt"),
        (["partran=2"], "partran"),
        (["bogus"], "bogus"),
        (["energy1=-1"], "energy"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_naming_the_problem(project, tmp_path, args, message):
    proc = arl(str(project), f"path_cal={tmp_path}", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_missing_project_exits_2(tmp_path):
    proc = arl(str(tmp_path / "none.toml"))
    assert proc.returncode == 2 and "none.toml" in proc.stderr


def test_lost_beam_exits_1_saying_where(project, tmp_path):
    proc = arl(str(project), f"path_cal={tmp_path}", "partran=1", "nbr_part1=200", "x1=60")
    assert proc.returncode == 1
    assert "All particles are lost (element" in proc.stderr


def test_tracewin_ini_project_with_dat_file(spoke, tmp_path):
    text = (spoke / "work_field_map.dat").read_text().split("DRIFT 589.42")[0] + "END\n"
    (tmp_path / "head.dat").write_text(text)
    shutil.copy(spoke / "work_field_map.ini", tmp_path / "proj.ini")
    proc = arl(
        str(tmp_path / "proj.ini"), "hide", "dat_file=head.dat", f"path_cal={tmp_path / 'cal'}"
    )
    assert proc.returncode == 0, proc.stderr
    ours = read_out(tmp_path / "cal/tracewin.out")
    ref = read_out(spoke / "tracewin.out")
    np.testing.assert_allclose(ours["SizeX"][:5], ref["SizeX"][:5], rtol=1e-4)


def test_input_dst_is_used_for_multiparticle(project, tmp_path, spoke):
    proc = arl(
        str(project),
        f"path_cal={tmp_path}",
        "partran=1",
        f"dst_file1={spoke / 'part_rfq.dst'}",
        "energy1=16.6",
        "mass1=938272029",
        "charge1=1",
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert read_out(tmp_path / "partran1.out").attrs["npart"] == 10


def test_envelope_plot_is_written(project, tmp_path):
    png = tmp_path / "env.png"
    assert arl(str(project), f"path_cal={tmp_path}", f"plot={png}").returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
