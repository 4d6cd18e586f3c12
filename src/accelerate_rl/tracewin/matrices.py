"""``Transfer_matrix1.dat``: cumulative 6x6 transfer matrices from the input to each element.

Layout: for every element ``ELE# n : s m`` then 6 rows of 6 numbers. Coordinates are
(x [m], x' [rad], y [m], y' [rad], z [m], dp/p); the matrices are cumulative (from the
lattice entrance to the element's exit), s is the exit position [m].
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dat import parse_number
from .errors import TraceWinFormatError

_HEAD = re.compile(r"^\s*ELE#\s*(\d+)\s*:\s*(\S+)\s*m?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class TransferMatrices:
    """Cumulative transfer matrices.

    Attributes:
        elements: (n,) TraceWin element numbers.
        s: (n,) exit positions [m].
        matrices: (n, 6, 6) in (x [m], x' [rad], y [m], y' [rad], z [m], dp/p).
    """

    elements: np.ndarray
    s: np.ndarray
    matrices: np.ndarray

    def __len__(self) -> int:
        return len(self.elements)

    def of_element(self, n: int) -> np.ndarray:
        """The cumulative matrix up to the exit of element ``n``."""
        idx = np.flatnonzero(self.elements == n)
        if not len(idx):
            raise KeyError(f"no transfer matrix for element {n}")
        return self.matrices[idx[-1]]


def read_transfer_matrices(path: str | Path) -> TransferMatrices:
    """Read ``Transfer_matrix1.dat``.

    Raises:
        TraceWinFormatError: missing file, a block header or matrix row that cannot be
            parsed, or a truncated last block (the message names the line).
    """
    p = Path(path)
    try:
        lines = p.read_bytes().decode("latin-1").splitlines()
    except OSError as exc:
        raise TraceWinFormatError(f"cannot read transfer matrices: {exc.strerror}", p) from None
    elements: list[int] = []
    positions: list[float] = []
    mats: list[np.ndarray] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        m = _HEAD.match(lines[i])
        if not m:
            raise TraceWinFormatError(
                f"expected 'ELE# n : s m', found {lines[i].strip()[:40]!r}", p, line=i + 1
            )
        rows = []
        for r in range(6):
            lineno = i + 2 + r
            if lineno > len(lines):
                raise TraceWinFormatError(
                    f"block of element {m.group(1)} is truncated after {r} rows", p, line=lineno
                )
            toks = lines[lineno - 1].split()
            try:
                row = [parse_number(t) for t in toks]
            except ValueError as exc:
                raise TraceWinFormatError(
                    f"non-numeric matrix entry: {exc}", p, line=lineno
                ) from None
            if len(row) != 6:
                raise TraceWinFormatError(
                    f"matrix row has {len(row)} values, expected 6", p, line=lineno
                )
            rows.append(row)
        elements.append(int(m.group(1)))
        try:
            positions.append(parse_number(m.group(2)))
        except ValueError:
            raise TraceWinFormatError(f"bad position {m.group(2)!r}", p, line=i + 1) from None
        mats.append(np.array(rows))
        i += 7
    if not mats:
        raise TraceWinFormatError("no transfer matrix in file", p, line=1)
    return TransferMatrices(np.array(elements), np.array(positions), np.stack(mats))


def write_transfer_matrices(path: str | Path, tm: TransferMatrices) -> Path:
    """Write matrices in TraceWin's ``Transfer_matrix1.dat`` layout."""
    p = Path(path)
    out = []
    for n, s, mat in zip(tm.elements, tm.s, tm.matrices):
        out.append(f"ELE# {int(n)} : {s:.10g} m")
        for row in mat:
            out.append("".join(f"{v:+.6e} " for v in row))
    p.write_text("\n".join(out) + "\n")
    return p
