"""Scans: parameter grids and random points, run through a pool, written to Parquet
incrementally and resumable.

The output is a Parquet dataset (a folder of part files, readable with
``pandas.read_parquet(folder)``) with one row per request: ``request_id`` (the request's
position in the scan), the parameters, the metrics and ``status``/``error``. A scan that
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


class _Writer:
    def __init__(self, out: Path, chunk: int) -> None:
        self.out = out
        self.chunk = chunk
        self.rows: list[dict[str, Any]] = []
        out.mkdir(parents=True, exist_ok=True)
        self.next_part = len(list(out.glob("part-*.parquet")))

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        df = pd.DataFrame(self.rows)
        tmp = self.out / f".part-{self.next_part:06d}.tmp"
        df.to_parquet(tmp, index=False)
        tmp.rename(self.out / f"part-{self.next_part:06d}.parquet")  # atomic: no half parts
        self.next_part += 1
        self.rows = []


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


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Runs by status with the median wall time [s]."""
    return df.groupby("status").agg(runs=("status", "size"), median_s=("elapsed", "median"))
