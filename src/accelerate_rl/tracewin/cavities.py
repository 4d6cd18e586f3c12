"""``Cav_set_point_res.dat``: one row per RF cavity (TraceWin's Cav#, the element number),
its reference and actual synchronous phase [deg] and voltage [MV], tab-separated, the
degree sign in Latin-1, values with six significant digits (as TraceWin writes them)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import TraceWinFormatError

if TYPE_CHECKING:  # pandas is imported by the reader (writing needs none: start-up cost)
    import pandas as pd

COLUMNS = ("Cav#", "SyncPhase_Ref[°]", "SyncPhase[°]", "Voltage_ref[MV]", "Voltage[MV]")


def read_cavities(path: str | Path) -> pd.DataFrame:
    """The table as a DataFrame (``Cav#`` int, the rest float)."""
    path = Path(path)
    lines = path.read_bytes().decode("latin-1").splitlines()
    if not lines or not lines[0].startswith("Cav#"):
        raise TraceWinFormatError("not a Cav_set_point_res.dat (no 'Cav#' header)", path, line=1)
    rows = []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != len(COLUMNS):
            raise TraceWinFormatError(f"{len(fields)} fields, expected {len(COLUMNS)}", path, i)
        try:
            rows.append([int(fields[0]), *(float(f) for f in fields[1:])])
        except ValueError as exc:
            raise TraceWinFormatError(f"bad number: {exc}", path, line=i) from None
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"Cav#": "int64"})


def write_cavities(path: str | Path, rows: Iterable[tuple[int, float, float]]) -> Path:
    """Write ``(number, phi_s [deg], voltage [MV])`` rows; the reference columns repeat
    the actual values (no errors applied)."""
    lines = ["\t".join(COLUMNS)]
    for number, phi_s, voltage in rows:
        ph, v = f"{phi_s:.6g}", f"{voltage:.6g}"
        lines.append(f"{int(number)}\t{ph}\t{ph}\t{v}\t{v}")
    path = Path(path)
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return path
