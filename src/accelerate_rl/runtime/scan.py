"""Scans: parameter grids and random points, run through a pool, written to Parquet
incrementally and resumable.

The output is a Parquet dataset (a folder of part files, readable with
``pandas.read_parquet(folder)``) with one row per request: ``request_id`` (the request's
position in the scan), the parameters, the metrics and ``status``/``error``; every part
has the same schema. A point the pool rejects is a row with status ``invalid``. A scan that
stops half-way resumes where it stopped: requests whose ``request_id`` is already in the
dataset are skipped (the request sequence must be deterministic: grids are, random points
with a seed are).
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..simulators.base import SimResult


def grid(axes: Mapping[str, Sequence[float]]) -> Iterator[dict[str, float]]:
    """Every combination of the axes' values, the last key varying fastest (lazily)."""
    keys = list(axes)
    for values in itertools.product(*(axes[k] for k in keys)):
        yield {k: float(v) for k, v in zip(keys, values)}


def grid_size(axes: Mapping[str, Sequence[float]]) -> int:
    return math.prod(len(v) for v in axes.values())


def random_points(
    bounds: Mapping[str, tuple[float, float]], n: int, seed: int = 0
) -> Iterator[dict[str, float]]:
    """``n`` points drawn uniformly within ``bounds`` (reproducible with ``seed``)."""
    rng = np.random.default_rng(seed)
    keys = list(bounds)
    lo = np.array([bounds[k][0] for k in keys], dtype=float)
    hi = np.array([bounds[k][1] for k in keys], dtype=float)
    for _ in range(n):
        u = lo + (hi - lo) * rng.random(len(keys))
        yield {k: float(v) for k, v in zip(keys, u)}


def parse_axis(spec: str) -> tuple[str, np.ndarray]:
    """``"ele[29][2]=2000:3500:31"`` -> (key, 31 values); ``"key=a,b,c"`` -> listed values."""
    key, sep, rng = spec.partition("=")
    if not sep or not key:
        raise ValueError(f"--param {spec!r}: expected KEY=start:stop:num or KEY=v1,v2,...")
    try:
        if ":" in rng:
            start, stop, num = rng.split(":")
            count = int(num)
            if count < 1:
                raise ValueError
            return key.strip(), np.linspace(float(start), float(stop), count)
        return key.strip(), np.array([float(v) for v in rng.split(",")])
    except ValueError:
        raise ValueError(
            f"--param {spec!r}: expected KEY=start:stop:num (num >= 1) or KEY=v1,v2,..."
        ) from None


def done_ids(out: Path) -> set[int]:
    """Request ids already in the dataset at ``out``."""
    if not out.exists():
        return set()
    parts = sorted(out.glob("part-*.parquet"))
    if not parts:
        return set()
    ids = pd.concat([pd.read_parquet(p, columns=["request_id"]) for p in parts])
    return set(ids["request_id"].astype(int))


#: The types of the columns every scan has (the others are parameters and metrics).
STATUS_COLUMNS = {
    "request_id": pa.int64(),
    "pool_request": pa.int64(),
    "status": pa.string(),
    "error": pa.string(),
    "elapsed": pa.float64(),
    "actor": pa.string(),
    "slot": pa.int64(),
    "seed": pa.int64(),
    "attempts": pa.int64(),
}


class _Writer:
    """Part files of one dataset, all with one schema: the first part's, fixed with it
    (read back on resume). A later part's values are cast to it (a value that does not
    fit, e.g. a string in a number column of an invalid request, is stored as null; its
    request's ``error`` says what it was); a column that appears later widens the schema
    of every part written before."""

    def __init__(self, out: Path, chunk: int) -> None:
        self.out = out
        self.chunk = chunk
        self.rows: list[dict[str, Any]] = []
        out.mkdir(parents=True, exist_ok=True)
        parts = sorted(out.glob("part-*.parquet"))
        self.next_part = len(parts)
        self.schema = pq.read_schema(parts[0]) if parts else None

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        df = pd.DataFrame(self.rows)
        fresh = _schema_of(df)
        if self.schema is None:
            self.schema = fresh
        else:
            added = [f for f in fresh if f.name not in self.schema.names]
            if added:
                self._widen(added)
        self._write(_conform(df, self.schema), self.next_part)
        self.next_part += 1
        self.rows = []

    def _widen(self, fields: list[pa.Field]) -> None:
        schema = self.schema
        for f in fields:
            schema = schema.append(f)
        for n, part in enumerate(sorted(self.out.glob("part-*.parquet"))):
            self._write(_conform(pq.read_table(part).to_pandas(), schema), n)
        self.schema = schema

    def _write(self, table: pa.Table, n: int) -> None:
        tmp = self.out / f".part-{n:06d}.tmp"
        pq.write_table(table, tmp)
        tmp.rename(self.out / f"part-{n:06d}.parquet")  # atomic: no half parts


def _schema_of(df: pd.DataFrame) -> pa.Schema:
    """The columns' types: fixed ones for the status columns, inferred for the others
    (a column of nulls only: string)."""
    fields = []
    for name in df.columns:
        kind = STATUS_COLUMNS.get(name)
        if kind is None:
            kind = pa.Table.from_pandas(df[[name]], preserve_index=False).schema.field(0).type
            if pa.types.is_null(kind):
                kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _conform(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    columns = []
    for f in schema:
        values = df[f.name] if f.name in df else pd.Series([None] * len(df), dtype=object)
        columns.append(_column(values, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _column(values: pd.Series, kind: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=kind, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        pass
    cells = []
    for v in values:
        try:
            if pa.types.is_string(kind) and v is not None and not _missing(v):
                v = str(v)
            cells.append(pa.array([v], type=kind, from_pandas=True)[0].as_py())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            cells.append(None)
    return pa.array(cells, type=kind)


def _missing(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def run_scan(
    pool,
    requests: Iterable[Mapping[str, Any]],
    out: str | Path | None = None,
    *,
    resume: bool = True,
    chunk: int = 1000,
    progress: bool = True,
    total: int | None = None,
    keep: bool = True,
) -> pd.DataFrame | None:
    """Run ``requests`` through ``pool`` (unordered, every result kept with its status).

    Args:
        out: a Parquet dataset folder written every ``chunk`` results; None keeps rows in
            memory only.
        resume: skip requests already in ``out``.
        keep: return the whole scan as a DataFrame (False: return None, memory stays flat).
    """
    path = Path(out) if out is not None else None
    skip = done_ids(path) if (path is not None and resume) else set()
    if path is not None and not resume and path.exists():
        for p in path.glob("part-*.parquet"):
            p.unlink()
    writer = _Writer(path, chunk) if path is not None else None
    rows: list[dict[str, Any]] = []
    todo = ((i, p) for i, p in enumerate(requests) if i not in skip)
    ids: collections.deque[int] = collections.deque()  # ids in flight, oldest first

    def tagged() -> Iterator[Mapping[str, Any]]:
        for i, params in todo:
            ids.append(i)
            yield params

    remaining = None if total is None else total - len(skip)
    results = pool.map(tagged(), ordered=True, errors="return", progress=progress, total=remaining)
    for res in results:  # ordered: each result belongs to the oldest id in flight
        row = _row(res, ids.popleft())
        if writer is not None:
            writer.add(row)
        if keep and writer is None:
            rows.append(row)
    if writer is not None:
        writer.flush()
        return pd.read_parquet(path) if keep else None
    return pd.DataFrame(rows) if keep else None


def _row(result: SimResult, request_id: int) -> dict[str, Any]:
    row = result.to_row()
    row["request_id"] = request_id
    row["pool_request"] = result.request_id
    return row


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Runs by status with the median wall time [s]."""
    return df.groupby("status").agg(runs=("status", "size"), median_s=("elapsed", "median"))
