"""Which lattice belongs to a project file."""

from __future__ import annotations

from pathlib import Path

from .errors import TraceWinFormatError


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
