"""``tracewin.out`` (envelope) and ``partran1.out`` (multiparticle) tables.

Layout: 10 header lines (line 2 holds mc2 [MeV], freq [MHz], Z, I [mA], npart; lines 3-9
state units; line 10 is the ``##`` column line), then one row per element exit (row 0 =
input beam) plus rows inside field maps. Units: z [m], sizes and centroids [mm], angles
[mrad], p0 and SizeP [deg] relative to the reference, W0 = mean energy minus reference
[MeV], ex/ey normalised rms [mm.mrad], ep [deg.MeV], ``sxx'`` = <xx'> [mm.mrad].

The two files spell some columns differently (``e6D``/``E6D``, ``sxy``/``Sxy``): the
reader maps every column to the ``tracewin.out`` spelling, so one name works for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .dat import parse_number
from .errors import TraceWinFormatError

if TYPE_CHECKING:  # pandas is imported by the reader (writing needs none: start-up cost)
    import pandas as pd

#: The columns of ``tracewin.out``, in TraceWin's order and spelling.
OUT_COLUMNS: tuple[str, ...] = tuple(
    "## z(m) gama-1 x0 y0 p0 x'0 y'0 W0 SizeX SizeY SizeP sxx' syy' spW ex ey ep hx hy hp "
    "npart kx ky kz ex99 ey99 ep99 phiS Ws SCCurrent Aper e4D EmitR kr Powlost Xmax Ymax "
    "ezdp SizeZ szdp Hdisp Vdisp Hdisp/dz Vdisp/dz e6D sxy sx'y'".split()
)
#: The final-row columns every simulator reports as metrics: centroids x0, y0 [mm], x'0,
#: y'0 [mrad], rms sizes SizeX, SizeY [mm], SizeP [deg], emittances ex, ey [mm.mrad], ep
#: [deg.MeV].
SUMMARY_COLUMNS: tuple[str, ...] = (
    "x0",
    "y0",
    "x'0",
    "y'0",
    "SizeX",
    "SizeY",
    "SizeP",
    "ex",
    "ey",
    "ep",
)
_CANONICAL = {c.lower(): c for c in OUT_COLUMNS}
_HEADER_KEYS = ("mc2", "freq", "Z", "I", "npart")
_UNIT_LINES = (
    " Sizes, positions are in mm, angles in mrad",
    " Phases in deg, energies in MeV",
    " Emittances and halo in mm.mrad or deg.MeV",
    " Phase advance per meter in deg/mm",
    " Current is in mA",
    " Powlost is in W",
    " H&V dispersion in mm",
)
_INT_COLUMNS = ("##", "npart")


def read_out(path: str | Path) -> pd.DataFrame:
    """Read ``tracewin.out`` or ``partran1.out`` into a DataFrame.

    Columns use the ``tracewin.out`` spelling (``"##"`` is the element number, 0 for the
    input beam). ``df.attrs`` holds ``mc2`` [MeV], ``freq`` [MHz], ``Z`` (charge state),
    ``I`` [mA], ``npart`` and ``path``.

    Raises:
        TraceWinFormatError: missing or empty file, no ``##`` column line, a ragged row or
            a non-numeric value (the message names the line).
    """
    p = Path(path)
    try:
        lines = p.read_bytes().decode("latin-1").splitlines()
    except OSError as exc:
        raise TraceWinFormatError(f"cannot read output table: {exc.strerror}", p) from None
    if not lines:
        raise TraceWinFormatError("empty file, expected a TraceWin output table", p)
    header_at = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("##")), None)
    if header_at is None:
        raise TraceWinFormatError(
            "no '##' column line: not a tracewin.out/partran1.out table", p, line=1
        )
    columns = [_CANONICAL.get(c.lower(), c) for c in lines[header_at].split()]
    attrs: dict[str, object] = {"path": str(p)}
    if header_at >= 1:
        values = lines[1].split() if header_at >= 2 else []
        for key, tok in zip(_HEADER_KEYS, values):
            try:
                num = parse_number(tok)
            except ValueError:
                raise TraceWinFormatError(
                    f"header value {tok!r} for {key} is not a number", p, line=2
                ) from None
            attrs[key] = int(num) if key in ("npart",) else num
    rows = []
    for lineno, line in enumerate(lines[header_at + 1 :], start=header_at + 2):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != len(columns):
            raise TraceWinFormatError(
                f"row has {len(tokens)} values, the '##' line names {len(columns)} columns "
                "(truncated or corrupted output)",
                p,
                line=lineno,
            )
        try:
            rows.append([parse_number(t) for t in tokens])
        except ValueError as exc:
            raise TraceWinFormatError(f"non-numeric value: {exc}", p, line=lineno) from None
    data = np.asarray(rows, dtype=float).reshape(len(rows), len(columns))
    import pandas as pd

    df = pd.DataFrame(data, columns=columns)
    for col in _INT_COLUMNS:
        if col in df.columns:
            df[col] = df[col].round().astype(np.int64)
    df.attrs.update(attrs)
    return df


def write_out(
    path: str | Path,
    table: pd.DataFrame | Mapping[str, np.ndarray],
    *,
    mc2: float,
    freq: float,
    charge: float,
    current: float,
    npart: int,
) -> Path:
    """Write a TraceWin-format output table (``tracewin.out`` / ``partran1.out``).

    Args:
        table: columns named as in :data:`OUT_COLUMNS`; missing columns are written as 0.
        mc2: rest energy [MeV]. freq: bunch frequency [MHz]. charge: charge state Z.
        current: beam current [mA]. npart: number of (macro)particles.
    """
    p = Path(path)
    n_rows = len(next(iter(table.values()))) if isinstance(table, Mapping) else len(table)
    cols = []
    for name in OUT_COLUMNS:
        if name in table:
            cols.append(np.asarray(table[name], dtype=float))
        else:
            cols.append(np.zeros(n_rows))
    data = np.column_stack(cols) if n_rows else np.zeros((0, len(OUT_COLUMNS)))
    out = [
        " mc2(MeV) freq(MHz) Z I(mA) npart",
        f"  {mc2:.10f}   {freq:.10g}  {charge:.10g}    {current:.10g}      {int(npart)}",
        *_UNIT_LINES,
        " " + " ".join(OUT_COLUMNS),
    ]
    npart_col = OUT_COLUMNS.index("npart")
    for row in data:
        fields = [f"{int(row[0])}", f"{row[1]:.7f}"]
        for j in range(2, len(OUT_COLUMNS)):
            fields.append(f"{int(round(row[j]))}" if j == npart_col else f"{row[j]:.6e}")
        out.append(" ".join(fields))
    p.write_text("\n".join(out) + "\n", encoding="latin-1")
    return p
