"""Run TraceWin (or any program with its command line) from Python, pytracewin-style.

    from accelerate_rl.tracewin import TraceWin
    tw = TraceWin("MRMS_config/CB_newMRMS_RFQ_Fields_1.ini", executable="TraceWin",
                  hide=True, debug=False)
    tw.run(params={"nbr_part1": 10000, "ele[27][6]": -1200}, timeout=30)
    tw.results()   # partran1.out after a multiparticle run, else tracewin.out
    tw.dst(); tw.plt(); tw.transfer_matrices()

Each run works on a private copy of the project folder (small files copied, large files
and folders linked; TraceWin's own outputs never copied) with its own ``path_cal``, so the
user's folder is never written and concurrent runs share no file. The calc directory is
removed after the run unless ``debug=True``; the outputs asked for (``outputs=``) are
kept in a private results folder until the next run and parsed on first access.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..external import (
    FailurePattern,
    check_outcome,
    resolve_executable,
    run_directory,
    run_process,
)
from .dat import Lattice, read_dat
from .dst import Distribution, read_dst
from .keys import is_multiparticle, random_seed, validate_params
from .matrices import TransferMatrices, read_transfer_matrices
from .out import read_out
from .plt import Plt, read_plt
from .project_files import RUN_DIR_PREFIX, find_lattice, stage_project

#: Output files and the name ``outputs=`` selects them by.
OUTPUT_FILES = {
    "tracewin.out": "tracewin.out",
    "partran1.out": "partran1.out",
    "dst": "part_dtl1.dst",
    "plt": "dtl1.plt",
    "transfer_matrices": "Transfer_matrix1.dat",
    "cav": "Cav_set_point_res.dat",
}
#: Messages with which TraceWin fails while exiting 0 (matched ignoring case).
FAILURE_MESSAGES: tuple[FailurePattern, ...] = (
    FailurePattern("All particles are lost", physical=True, ignore_case=True),
    FailurePattern("never reaches the end of the field map", physical=True, ignore_case=True),
    FailurePattern("transport failed", ignore_case=True),
    FailurePattern("Error:", ignore_case=True),
)


@dataclass
class RunRecord:
    """What the last run did: argv, seed, elapsed time [s], where its outputs are."""

    command: list[str]
    seed: int
    elapsed: float
    returncode: int
    multiparticle: bool
    calc_dir: Path | None
    outputs: dict[str, Path] = field(default_factory=dict)


class TraceWin:
    """A TraceWin project, runnable many times with different parameters.

    Args:
        project: the project file (``.ini``, or anything the executable accepts).
        executable: a name on PATH, a path, or an argv list such as
            ``["xvfb-run", "-a", "TraceWin"]``. The engine's ``arl-tracewin`` works too.
        hide: pass TraceWin's ``hide`` flag (no GUI).
        debug: keep each run's calc directory (its path is in errors and ``calc_dir``).
        dat_file: the lattice, when it is not the ``.dat`` beside the project with its name
            or the only one there (used to check ``ele[n][v]``).
        outputs: what to keep after a run: names from ``tracewin.out``, ``partran1.out``,
            ``dst``, ``plt``, ``transfer_matrices``, ``cav``; None keeps all present.
        workdir: where private run directories go (default: the system's temp folder;
            ``/dev/shm`` is a good choice for in-memory I/O).
    """

    def __init__(
        self,
        project: str | Path,
        executable: str | Path | Sequence[str] = "TraceWin",
        hide: bool = True,
        debug: bool = False,
        *,
        dat_file: str | Path | None = None,
        outputs: Iterable[str] | None = None,
        workdir: str | Path | None = None,
    ) -> None:
        self.project = Path(project).resolve()
        if not self.project.is_file():
            raise FileNotFoundError(f"project {project!s} not found")
        self.executable = executable
        self.hide = hide
        self.debug = debug
        self.outputs = None if outputs is None else self._check_outputs(outputs)
        self.workdir = Path(workdir) if workdir is not None else None
        lattice_path = find_lattice(self.project, dat_file, required=False)
        self.lattice: Lattice | None = (
            read_dat(lattice_path, strict=False) if lattice_path is not None else None
        )
        self.last: RunRecord | None = None
        self._results_dir: Path | None = None
        self._cache: dict[str, Any] = {}

    @staticmethod
    def _check_outputs(outputs: Iterable[str]) -> tuple[str, ...]:
        names = tuple(outputs)
        bad = [n for n in names if n not in OUTPUT_FILES]
        if bad:
            raise ValueError(f"unknown outputs {bad}: choose from {sorted(OUTPUT_FILES)}")
        return names

    # -- running -----------------------------------------------------------------------
    def run(
        self,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        *,
        outputs: Iterable[str] | None = None,
    ):
        """Run once; return the ``subprocess.CompletedProcess``.

        Raises:
            InvalidParameterError: a bad parameter (before anything is launched).
            SimulationTimeout: the run exceeded ``timeout`` seconds (process group killed).
            SimulationFailed: non-zero exit, a failure message, missing or truncated outputs.
        """
        import subprocess

        params = dict(params or {})
        params.setdefault("random_seed", random.SystemRandom().randrange(1, 2**31 - 1))
        args = validate_params(params, self.lattice)
        seed = random_seed(params["random_seed"])
        keep = self.outputs if outputs is None else self._check_outputs(outputs)
        argv_head = resolve_executable(self.executable)
        multiparticle = is_multiparticle(params.get("partran", 0))
        self._drop_results()
        with run_directory(RUN_DIR_PREFIX, self.workdir, keep=self.debug) as run_dir:
            proj_dir = run_dir / "project"
            stage_project(self.project.parent, proj_dir)
            calc = run_dir / "calc"
            calc.mkdir()
            argv = [*argv_head, str(proj_dir / self.project.name)]
            if self.hide:
                argv.append("hide")
            argv += [*args, f"path_cal={calc}"]
            outcome = run_process(argv, run_dir, timeout=timeout)
            kept_dir = run_dir if self.debug else None
            expected = ["tracewin.out"] + (["partran1.out"] if multiparticle else [])
            check_outcome(
                outcome,
                program="TraceWin",
                patterns=FAILURE_MESSAGES,
                outputs={name: (calc / name, self._read_complete) for name in expected},
                kept_dir=kept_dir,
            )
            self._results_dir = self._keep_outputs(calc, keep)
            self.last = RunRecord(
                argv,
                seed,
                outcome.elapsed,
                outcome.returncode,
                multiparticle,
                kept_dir,
                {
                    k: self._results_dir / f
                    for k, f in OUTPUT_FILES.items()
                    if (self._results_dir / f).exists()
                },
            )
            return subprocess.CompletedProcess(
                argv, outcome.returncode, outcome.stdout, outcome.stderr
            )

    def _read_complete(self, path: Path) -> pd.DataFrame:
        """An ``.out`` table that must end at the lattice's last element."""
        table = read_out(path)
        if self.lattice is not None and len(table):
            last = int(table["##"].iloc[-1])
            if last != len(self.lattice):
                raise ValueError(f"its last row is element {last} of {len(self.lattice)}")
        return table

    def _keep_outputs(self, calc: Path, keep: tuple[str, ...] | None) -> Path:
        results = Path(tempfile.mkdtemp(prefix="tracewin-results-", dir=self.workdir))
        names = OUTPUT_FILES.keys() if keep is None else keep
        for name in names:
            src = calc / OUTPUT_FILES[name]
            if src.exists():
                (shutil.copy2 if self.debug else shutil.move)(src, results / src.name)
        return results

    def _drop_results(self) -> None:
        self._cache.clear()
        if self._results_dir is not None:
            shutil.rmtree(self._results_dir, ignore_errors=True)
            self._results_dir = None

    def close(self) -> None:
        """Remove the kept outputs of the last run."""
        self._drop_results()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self._drop_results()
        except Exception:
            pass

    # -- results -----------------------------------------------------------------------
    @property
    def calc_dir(self) -> Path | None:
        """The last run's kept run directory (``debug=True``), else None."""
        return self.last.calc_dir if self.last else None

    def _output(self, name: str) -> Path:
        if self.last is None or self._results_dir is None:
            raise RuntimeError("no run yet: call run() first")
        path = self._results_dir / OUTPUT_FILES[name]
        if not path.exists():
            raise FileNotFoundError(
                f"{OUTPUT_FILES[name]} was not kept from the last run (outputs={self.outputs}"
                " or the run did not write it): pass outputs=[..., " + repr(name) + "]"
            )
        return path

    def _cached(self, name: str, reader):
        if name not in self._cache:
            self._cache[name] = reader(self._output(name))
        return self._cache[name]

    def results(self) -> pd.DataFrame:
        """``partran1.out`` after a multiparticle run, else ``tracewin.out``."""
        name = "partran1.out" if self.last and self.last.multiparticle else "tracewin.out"
        return self._cached(name, read_out)

    def envelope(self) -> pd.DataFrame:
        """``tracewin.out`` of the last run."""
        return self._cached("tracewin.out", read_out)

    def dst(self) -> Distribution:
        """``part_dtl1.dst`` (the output distribution) of the last run."""
        return self._cached("dst", read_dst)

    def plt(self) -> Plt:
        """``dtl1.plt`` of the last run."""
        return self._cached("plt", read_plt)

    def transfer_matrices(self) -> TransferMatrices:
        """``Transfer_matrix1.dat`` of the last run."""
        return self._cached("transfer_matrices", read_transfer_matrices)
