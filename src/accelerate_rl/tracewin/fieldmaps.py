"""TraceWin field-map files: the ``FIELD_MAP`` geometry code and the ASCII tables.

``FIELD_MAP geom L phi R kb ke ki ka file [p]`` names a file prefix (no extension) under
FIELD_MAP_PATH. ``geom`` has one decimal digit per field channel (HELIX's manual, which
quotes TraceWin's; see the README)::

    geom = aperture * 10^4 + rf_B * 10^3 + rf_E * 10^2 + static_B * 10 + static_E

A digit is that channel's table geometry: 0 absent, 1 on axis F(z), 4 or 5 2D
cylindrical (r, z), 7 3D Cartesian (x, y, z); a static-B digit 9 is a quadrupole
gradient G(z) [T/m] on axis. The files are prefix + ``.{e|b}{s|d}{x|y|z|r|q}``: e
electric (MV/m) or b magnetic (T), s static or d dynamic (RF), then the component.

ASCII layouts (lengths in metres; every file carries its own header):

* 1D: ``nz zmax`` / ``Norm`` / nz + 1 values from z = 0 to zmax.
* 2D cylindrical: ``nz zmax`` / ``nr rmax`` / ``Norm`` / (nz + 1) (nr + 1) values,
  z the outer loop, r the inner one, from r = 0 to rmax.
* 3D Cartesian: ``nz zmax`` / ``nx xmin xmax`` / ``ny ymin ymax`` / ``Norm`` /
  (nz + 1) (ny + 1) (nx + 1) values, z outer, then y, x innermost.

The physical field is value * k / Norm with k = ke (electric) or kb (magnetic); the
tables here hold value / Norm. TraceWin also reads a binary form of the tables; its
layout is not public in a source we could check, so only ASCII is read (a binary file
is refused with that reason). Every file is read once per (path, modification time)
and shared by every element that names it. (About 400 lines: the geometry code, the
three layouts' readers with their error messages, and the writer belong together.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import TraceWinFormatError

#: The field channels of the geometry code, least significant digit first:
#: (name, file letters).
CHANNELS: tuple[tuple[str, str], ...] = (
    ("static_e", "es"),
    ("static_b", "bs"),
    ("rf_e", "ed"),
    ("rf_b", "bd"),
)
#: Components (file-extension letters) of each table geometry digit.
COMPONENTS: dict[int, tuple[str, ...]] = {
    1: ("z",),
    4: ("r", "z"),
    5: ("r", "z"),
    7: ("x", "y", "z"),
}


@dataclass(frozen=True)
class Geometry:
    """The five digits of a FIELD_MAP geometry code (0 = channel absent)."""

    static_e: int = 0
    static_b: int = 0
    rf_e: int = 0
    rf_b: int = 0
    aperture: int = 0

    @classmethod
    def parse(cls, geom: float | int) -> Geometry:
        """Digits of ``geom``; ValueError for a negative or non-integer code or a digit
        that is no table geometry (2, 3, 6, 8 are not read: 2D Cartesian and 3D
        cylindrical tables have no reader here)."""
        code = float(geom)
        if code != int(code) or code < 0 or code >= 10**5:
            raise ValueError(f"FIELD_MAP geometry {geom:g}: expected a code of up to 5 digits")
        code = int(code)
        digits = [(code // 10**i) % 10 for i in range(5)]
        for (name, _), digit in zip(CHANNELS, digits[:4], strict=True):
            allowed = set(COMPONENTS) | ({9} if name == "static_b" else set())
            if digit and digit not in allowed:
                raise ValueError(
                    f"FIELD_MAP geometry {code}: {name} digit {digit} is not read by the "
                    f"engine (0 absent, 1 1D, 4/5 2D cylindrical, 7 3D"
                    f"{', 9 gradient' if name == 'static_b' else ''})"
                )
        return cls(*digits)

    @property
    def code(self) -> int:
        return (
            self.static_e
            + 10 * self.static_b
            + 100 * self.rf_e
            + 1000 * self.rf_b
            + 10_000 * self.aperture
        )

    def channels(self) -> dict[str, int]:
        """The present channels and their table digits."""
        out = {name: getattr(self, name) for name, _ in CHANNELS}
        return {k: v for k, v in out.items() if v}

    @property
    def rf(self) -> bool:
        return bool(self.rf_e or self.rf_b)

    @property
    def dimensions(self) -> int:
        """Highest table dimension among the channels (1, 2 or 3)."""
        dims = {1: 1, 9: 1, 4: 2, 5: 2, 7: 3}
        return max((dims[d] for d in self.channels().values()), default=0)


def extensions(geometry: Geometry) -> dict[str, tuple[str, ...]]:
    """File extensions of each present channel, e.g. ``{"static_b": (".bsx", ".bsy",
    ".bsz")}``; a 2D RF electric table also needs ``.bdq`` (B theta of the TM mode) and a
    2D RF magnetic one ``.edq`` (E theta), both listed under their own channel."""
    letters = dict(CHANNELS)
    out: dict[str, tuple[str, ...]] = {}
    for name, digit in geometry.channels().items():
        comps = COMPONENTS.get(digit, ("z",))
        out[name] = tuple(f".{letters[name]}{c}" for c in comps)
    return out


@dataclass(frozen=True, eq=False)
class FieldMap1D:
    """An on-axis field sampled on a regular grid.

    Attributes:
        path: the file. length: zmax [m]. values: (nz + 1,) field / norm (MV/m, T or T/m
        per unit of ``ke``/``kb``).
    """

    path: Path
    length: float
    values: np.ndarray

    @property
    def steps(self) -> int:
        return len(self.values) - 1

    @property
    def dz(self) -> float:
        """Grid step [m]."""
        return self.length / self.steps

    def derivative(self) -> np.ndarray:
        """(nz + 1,) dF/dz [field units / m], centred differences inside the map."""
        return np.gradient(self.values, self.dz)


@dataclass(frozen=True, eq=False)
class FieldMap2D:
    """A field component on a regular (z, r) grid (axially symmetric map).

    Attributes:
        path: the file. length: zmax [m]. rmax: [m]. values: (nz + 1, nr + 1) field /
        norm, ``values[k, i]`` at z = k zmax / nz, r = i rmax / nr.
    """

    path: Path
    length: float
    rmax: float
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class FieldMap3D:
    """A field component on a regular (z, y, x) grid.

    Attributes:
        path: the file. length: zmax [m]. x, y: (min, max) [m]. values:
        (nz + 1, ny + 1, nx + 1) field / norm, ``values[k, j, i]`` at z = k zmax / nz,
        y = ymin + j (ymax - ymin) / ny, x = xmin + i (xmax - xmin) / nx.
    """

    path: Path
    length: float
    x: tuple[float, float]
    y: tuple[float, float]
    values: np.ndarray


Table = FieldMap1D | FieldMap2D | FieldMap3D


def check_length(where: str, length: float, name: str, span: float) -> None:
    """ValueError unless a FIELD_MAP's L (``length`` [m], at ``where``) equals the span
    [m] of its file ``name``."""
    if abs(span - length) > 1e-6 * max(1.0, length):
        raise ValueError(
            f"{where}: FIELD_MAP length {length * 1e3:g} mm but {name} spans "
            f"{span * 1e3:g} mm: fix L or the map"
        )


def prefix_path(folder: str | Path, name: str) -> Path:
    """The file prefix of ``FIELD_MAP ... name``: ``name`` as given when absolute, else
    under ``folder`` (FIELD_MAP_PATH, itself relative to the ``.dat`` file); a known
    field-map extension on ``name`` is dropped."""
    path = Path(name)
    if path.suffix.lower()[1:] and _is_map_extension(path.suffix.lower()):
        path = path.with_suffix("")
    return path if path.is_absolute() else Path(folder) / path


def _is_map_extension(suffix: str) -> bool:
    return len(suffix) == 4 and suffix[1] in "eb" and suffix[2] in "sd" and suffix[3] in "xyzrq"


def field_map_path(folder: str | Path, name: str, geometry: int) -> Path:
    """The single file of a 1D ``FIELD_MAP geometry ... name`` (100: ``.edz``, 10:
    ``.bsz``, 1: ``.esz``, 1000: ``.bdz``) under ``folder``."""
    geo = Geometry.parse(geometry)
    files = [ext for exts in extensions(geo).values() for ext in exts]
    if geo.dimensions != 1 or len(files) != 1:
        raise ValueError(f"FIELD_MAP geometry {geometry}: not a single 1D table")
    return prefix_path(folder, name).with_name(prefix_path(folder, name).name + files[0])


def _lines(path: Path) -> list[tuple[int, str]]:
    if not path.is_file():
        raise TraceWinFormatError(
            "field map not found: check FIELD_MAP_PATH (relative to the .dat file) and the "
            "file name in the FIELD_MAP line",
            path,
        )
    raw = path.read_bytes()
    if b"\0" in raw[:4096]:
        raise TraceWinFormatError(
            "a binary field map: only TraceWin's ASCII tables are read (export the map as text)",
            path,
        )
    text = raw.decode("latin-1")
    return [(i, ln) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]


def _header(lines: list[tuple[int, str]], index: int, count: int, what: str, path: Path):
    if index >= len(lines):
        raise TraceWinFormatError(f"missing header line {what!r}", path)
    number, text = lines[index]
    tokens = text.split()
    try:
        values = [float(t) for t in tokens[:count]]
    except ValueError:
        values = []
    if len(values) < count:
        raise TraceWinFormatError(f"header line must be {what!r}", path, line=number)
    return values, number


def _values(
    lines: list[tuple[int, str]], start: int, count: int, what: str, path: Path
) -> np.ndarray:
    body = " ".join(text for _, text in lines[start:])
    try:
        values = np.array(body.split(), dtype=float)
    except ValueError:
        for number, text in lines[start:]:
            for token in text.split():
                try:
                    float(token)
                except ValueError:
                    raise TraceWinFormatError(
                        f"{token!r} is not a number", path, line=number
                    ) from None
        raise
    if len(values) < count:
        raise TraceWinFormatError(
            f"{len(values)} field values, the header announces {what} = {count}", path
        )
    return values[:count]


def _steps(value: float, what: str, path: Path, line: int) -> int:
    steps = int(round(value))
    if steps < 1 or steps != value:
        raise TraceWinFormatError(f"{what} = {value:g}: need an integer >= 1", path, line=line)
    return steps


def _norm(lines, index, path) -> float:
    (norm,), line = _header(lines, index, 1, "Norm", path)
    if norm == 0:
        raise TraceWinFormatError("Norm is 0: the field is value * k / Norm", path, line=line)
    return norm


@lru_cache(maxsize=256)
def _read_cached(path: Path, kind: int, stamp: tuple[int, int]) -> Table:
    del stamp  # part of the cache key only: a rewritten file is read again
    lines = _lines(path)
    (nz, zmax), line = _header(lines, 0, 2, "nz zmax[m]", path)
    steps = _steps(nz, "nz", path, line)
    if zmax <= 0:
        raise TraceWinFormatError(f"zmax = {zmax:g} m: need > 0", path, line=line)
    if kind == 1:
        if len(lines) < 3:
            raise TraceWinFormatError("a 1D field map needs 'nz zmax', the norm, then values", path)
        norm = _norm(lines, 1, path)
        values = _values(lines, 2, steps + 1, "nz + 1", path)
        return FieldMap1D(path, zmax, values / norm)
    if kind == 2:
        (nr, rmax), line = _header(lines, 1, 2, "nr rmax[m]", path)
        nr = _steps(nr, "nr", path, line)
        if rmax <= 0:
            raise TraceWinFormatError(f"rmax = {rmax:g} m: need > 0", path, line=line)
        norm = _norm(lines, 2, path)
        values = _values(lines, 3, (steps + 1) * (nr + 1), "(nz + 1)(nr + 1)", path)
        return FieldMap2D(path, zmax, rmax, values.reshape(steps + 1, nr + 1) / norm)
    (nx, xmin, xmax), line_x = _header(lines, 1, 3, "nx xmin[m] xmax[m]", path)
    (ny, ymin, ymax), line_y = _header(lines, 2, 3, "ny ymin[m] ymax[m]", path)
    nx, ny = _steps(nx, "nx", path, line_x), _steps(ny, "ny", path, line_y)
    if xmax <= xmin or ymax <= ymin:
        raise TraceWinFormatError("need xmin < xmax and ymin < ymax", path, line=line_x)
    norm = _norm(lines, 3, path)
    count = (steps + 1) * (ny + 1) * (nx + 1)
    values = _values(lines, 4, count, "(nz + 1)(ny + 1)(nx + 1)", path)
    shaped = values.reshape(steps + 1, ny + 1, nx + 1) / norm
    return FieldMap3D(path, zmax, (xmin, xmax), (ymin, ymax), shaped)


def read_table(path: str | Path, dimensions: int) -> Table:
    """Read one field table of 1, 2 or 3 dimensions (cached per path and modification
    time); TraceWinFormatError naming the file and line when it is bad."""
    path = Path(path)
    if dimensions not in (1, 2, 3):
        raise ValueError(f"dimensions must be 1, 2 or 3, not {dimensions}")
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, 0)
    return _read_cached(path, dimensions, stamp)


def read_field_map_1d(path: str | Path) -> FieldMap1D:
    """Read a 1D field map (see :func:`read_table`)."""
    table = read_table(path, 1)
    assert isinstance(table, FieldMap1D)
    return table


#: Table dimension of each geometry digit.
_DIMENSION = {1: 1, 9: 1, 4: 2, 5: 2, 7: 3}


@dataclass(frozen=True, eq=False)
class FieldMapFiles:
    """Every table of one FIELD_MAP: ``tables[channel][component]``.

    Attributes:
        geometry: the parsed code. prefix: the file prefix. length: the common zmax [m].
        tables: e.g. ``{"static_b": {"x": FieldMap3D, "y": ..., "z": ...}}``.
    """

    geometry: Geometry
    prefix: Path
    length: float
    tables: dict[str, dict[str, Table]]


def read_field_map(folder: str | Path, name: str, geom: float | int) -> FieldMapFiles:
    """Read every table ``FIELD_MAP geom ... name`` needs (each file cached); a 2D RF
    electric map takes ``.bdq`` too when it is there. All tables must span the same
    length."""
    geometry = Geometry.parse(geom)
    prefix = prefix_path(folder, name)
    tables: dict[str, dict[str, Table]] = {}
    for channel, digit in geometry.channels().items():
        dims = _DIMENSION[digit]
        parts: dict[str, Table] = {}
        for ext in extensions(geometry)[channel]:
            parts[ext[-1]] = read_table(prefix.with_name(prefix.name + ext), dims)
        if dims == 2 and channel in ("rf_e", "rf_b"):
            other = ".bdq" if channel == "rf_e" else ".edq"
            extra = prefix.with_name(prefix.name + other)
            if extra.is_file():
                parts["q"] = read_table(extra, 2)
        tables[channel] = parts
    lengths = {t.length for parts in tables.values() for t in parts.values()}
    if len(lengths) > 1 and max(lengths) - min(lengths) > 1e-9 * max(lengths):
        raise TraceWinFormatError(
            f"the tables of this map span different lengths {sorted(lengths)} m", prefix
        )
    length = lengths.pop() if lengths else 0.0
    return FieldMapFiles(geometry, prefix, length, tables)


def write_table_3d(
    path: str | Path,
    values: np.ndarray,
    length: float,
    x: tuple[float, float],
    y: tuple[float, float],
    norm: float = 1.0,
) -> Path:
    """Write one 3D ASCII table (the layout :func:`read_table` reads): ``values``
    (nz + 1, ny + 1, nx + 1) field / norm on z in [0, length], x and y (min, max) [m]."""
    path = Path(path)
    nz, ny, nx = (s - 1 for s in values.shape)
    head = f"{nz} {length!r}\n{nx} {x[0]!r} {x[1]!r}\n{ny} {y[0]!r} {y[1]!r}\n{norm!r}\n"
    body = "\n".join(f"{v:.10e}" for v in (np.asarray(values) * norm).ravel())
    path.write_text(head + body + "\n")
    return path
