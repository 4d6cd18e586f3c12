"""Write an engine run as TraceWin's files in a calculation directory.

Envelope: ``tracewin.out``, ``Transfer_matrix1.dat`` and, with RF cavities,
``Cav_set_point_res.dat``. Multiparticle adds
``partran1.out``, ``part_rfq.dst`` (input), ``part_dtl1.dst`` (output, surviving
particles) and ``dtl1.plt`` (written while tracking).
"""

from __future__ import annotations

from pathlib import Path

from ..tracewin.cavities import write_cavities
from ..tracewin.dst import write_dst
from ..tracewin.matrices import write_transfer_matrices
from ..tracewin.out import write_out
from .simulation import EngineResult


def _write_table(result: EngineResult, path: Path) -> Path:
    b = result.beam
    return write_out(
        path,
        result.columns,  # the arrays: no DataFrame (pandas) needed to write them
        mc2=b.mass,
        freq=b.freq,
        charge=b.charge,
        current=b.current,
        npart=b.n_particles,
    )


def _write_cavities(result: EngineResult, d: Path) -> list[Path]:
    if not result.cavities:
        return []
    rows = [(c.number, c.phi_s, c.voltage) for c in result.cavities]
    return [write_cavities(d / "Cav_set_point_res.dat", rows)]


def write_envelope(result: EngineResult, path_cal: str | Path) -> list[Path]:
    d = Path(path_cal)
    return [
        _write_table(result, d / "tracewin.out"),
        write_transfer_matrices(d / "Transfer_matrix1.dat", result.transfer_matrices),
        *_write_cavities(result, d),
    ]


def write_multiparticle(result: EngineResult, path_cal: str | Path) -> list[Path]:
    d = Path(path_cal)
    written = [_write_table(result, d / "partran1.out"), *_write_cavities(result, d)]
    if result.initial is not None:
        written.append(write_dst(d / "part_rfq.dst", result.initial))
    if result.final is not None:
        written.append(write_dst(d / "part_dtl1.dst", result.final))
    return written
