"""The files of a TraceWin project: which lattice belongs to it, and the private copy of
its folder a run works in (TraceWin's own outputs left out)."""

from __future__ import annotations

import re
from pathlib import Path

from ..external.staging import stage_folder
from .errors import TraceWinFormatError

#: Names of files TraceWin writes beside a project or into ``path_cal``.
OWN_OUTPUTS = re.compile(
    r"(\.cal$|_new\.ini$|^tracewin\.out$|^partran\d*\.out$|\.plt$|^Transfer_matrix\d*\.dat$"
    r"|^part_dtl\d*\.dst$|^Cav_set_point_res\.dat$)",
    re.IGNORECASE,
)
#: Prefix of the runner's private run directories (never staged into another run).
RUN_DIR_PREFIX = "tracewin-run-"


def stage_project(src: Path, dest: Path) -> None:
    """A private copy of project folder ``src`` at ``dest``: small files copied, big files
    and folders linked, TraceWin's own outputs (``*.cal``, ``*_new.ini``, ``*.out``...)
    and run directories left out."""
    stage_folder(src, dest, skip=_not_staged)


def _not_staged(name: str) -> bool:
    return bool(OWN_OUTPUTS.search(name)) or name.startswith(RUN_DIR_PREFIX)


def find_lattice(
    project: str | Path, dat_file: str | Path | None = None, required: bool = True
) -> Path | None:
    """The `.dat` lattice of ``project``: ``dat_file`` (relative to the project's folder) if
    given, else the `.dat` with the project's name, else the only `.dat` beside it.

    Raises:
        TraceWinFormatError: ``dat_file`` missing, or (when ``required``) no unique lattice.
    """
    p = Path(project)
    if dat_file is not None:
        q = Path(dat_file)
        q = q if q.is_absolute() else p.parent / q
        if not q.is_file():
            raise TraceWinFormatError(f"lattice {str(dat_file)!r} not found (looked for {q})", p)
        return q
    same = p.with_suffix(".dat")
    if same.is_file():
        return same
    dats = sorted(p.parent.glob("*.dat"))
    dats = [d for d in dats if not d.name.lower().startswith(("transfer_matrix", "cav_set_point"))]
    if len(dats) == 1:
        return dats[0]
    if required:
        raise TraceWinFormatError(
            f"cannot tell which lattice to use ({len(dats)} .dat files beside the project): "
            "pass dat_file=FILE",
            p,
        )
    return None
