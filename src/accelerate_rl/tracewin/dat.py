"""TraceWin `.dat` lattices: reading, ``ele[n][v]`` overrides, writing.

Lexical rules (TraceWin's): one instruction per line, whitespace-separated; keywords are
case-insensitive; ``;`` starts a comment; ``LABEL : KEYWORD ...`` with or without spaces,
and a bare ``LABEL :`` is a marker; ``DIAG_X(w) ...`` carries a weight; everything after
``END`` is ignored; bytes that are not UTF-8 are read as Latin-1.

Numbering: ``ele[n][v]`` counts elements only (1-based, in file order after
``REPEAT_ELE`` expansion); commands are not counted; v is the 1-based parameter index
after the keyword. The same n is ``##`` in ``tracewin.out``.

Why one module of about 490 lines: reading, ``REPEAT_ELE`` expansion, the override check
and writing all walk the same ``Statement`` list with the same numbering; split, each part
would re-derive it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import DatSyntaxError, InvalidParameterError
from .keys import as_number, check_key, format_number, parse_ele_key
from .keywords import KeywordSpec, lookup

_WEIGHTED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")


def parse_number(token: str) -> float:
    """Parse a TraceWin/Fortran number (``-.98E-08``, ``1e-008``, ``1.0D+03``).

    Raises ValueError when ``token`` is not a finite number.
    """
    value = float(token.replace("D", "E").replace("d", "e"))
    if not math.isfinite(value):
        raise ValueError(f"{token!r} is not finite")
    return value


@dataclass(frozen=True)
class Statement:
    """One instruction as written in the file (before ``REPEAT_ELE`` expansion).

    ``keyword`` is upper-case ("" for a bare ``LABEL :`` marker); ``args`` are the raw
    tokens after it; ``text`` is the original line, or None once the statement was
    modified (it is then re-rendered on write).
    """

    keyword: str
    args: tuple[str, ...]
    label: str | None
    comment: str | None
    weight: str | None
    is_element: bool
    known: bool
    path: str
    line: int
    text: str | None = None
    spelled: str | None = None

    @property
    def where(self) -> str:
        """``file:line`` of the statement."""
        return f"{self.path}:{self.line}"

    def render(self) -> str:
        """The statement as a `.dat` line (the original text if unmodified)."""
        if self.text is not None:
            return self.text
        head = self.spelled or self.keyword
        if self.weight is not None:
            head += f"({self.weight})"
        parts = []
        if self.label is not None:
            parts.append(f"{self.label} :")
        if self.keyword:
            parts.append(" ".join([head, *self.args]))
        line = " ".join(parts)
        if self.comment is not None:
            line += f" ;{self.comment}"
        return line


@dataclass(frozen=True)
class Element:
    """An element as TraceWin numbers it: ``number`` is the n of ``ele[n][v]``.

    ``repeat`` is 0 for the statement as written and k >= 1 for the k-th copy made by a
    ``REPEAT_ELE`` command.
    """

    number: int
    statement: Statement
    repeat: int = 0

    @property
    def keyword(self) -> str:
        return self.statement.keyword

    @property
    def label(self) -> str | None:
        return self.statement.label

    @property
    def args(self) -> tuple[str, ...]:
        return self.statement.args

    @property
    def where(self) -> str:
        return self.statement.where

    def param(self, v: int, default: float = 0.0) -> float:
        """The v-th (1-based) parameter as a number; omitted trailing parameters are ``default``."""
        if v > len(self.args):
            return default
        return parse_number(self.args[v - 1])

    def params(self, count: int) -> list[float]:
        """The first ``count`` parameters as numbers, omitted ones 0."""
        return [self.param(v) for v in range(1, count + 1)]

    def describe(self) -> str:
        """``element N (KEYWORD, file:line)``, the form used in every error message."""
        return f"element {self.number} ({self.keyword}, {self.where})"


@dataclass(frozen=True)
class SequenceItem:
    """One instruction of the expanded sequence; ``number`` is None for commands."""

    statement: Statement
    number: int | None
    repeat: int = 0


@dataclass(frozen=True)
class _Entry:
    """A source line: a statement, or raw text (comment, blank) kept for writing."""

    statement: Statement | None
    raw: str | None = None


class Lattice:
    """A TraceWin lattice read from a `.dat` file.

    Attributes:
        path: the file it was read from.
        elements: elements in TraceWin order; ``elements[n - 1].number == n``.
        sequence: every instruction (elements and commands) after ``REPEAT_ELE`` expansion.
    """

    def __init__(
        self,
        entries: tuple[_Entry, ...],
        path: str,
        encoding: str,
        trailer: tuple[str, ...] = (),
    ) -> None:
        self._entries = entries
        self.path = path
        self.encoding = encoding
        self._trailer = trailer
        self.sequence, self._origin = _expand(entries, path)
        self.elements: tuple[Element, ...] = tuple(
            Element(it.number, it.statement, it.repeat)
            for it in self.sequence
            if it.number is not None
        )

    # -- inspection -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.elements)

    def __iter__(self) -> Iterator[Element]:
        return iter(self.elements)

    def __repr__(self) -> str:
        return f"Lattice({self.path!r}, {len(self.elements)} elements)"

    @property
    def statements(self) -> tuple[Statement, ...]:
        """The statements as written (before expansion), END excluded."""
        return tuple(e.statement for e in self._entries if e.statement is not None)

    def element(self, n: int) -> Element:
        """Element number ``n`` (1-based); IndexError naming the valid range otherwise."""
        if not 1 <= n <= len(self.elements):
            raise IndexError(f"element {n} does not exist: valid range 1..{len(self.elements)}")
        return self.elements[n - 1]

    # -- modification ----------------------------------------------------------------
    def with_params(self, params: Mapping[str, object]) -> Lattice:
        """Return a copy with ``ele[n][v]`` overrides applied.

        Keys other than ``ele[n][v]`` are rejected (beam and run keys belong to the run,
        not to the lattice). An element that is a ``REPEAT_ELE`` copy is written out
        explicitly (the block is unrolled) so the override touches that copy only.

        Raises:
            InvalidParameterError: a bad key, n or v out of range, a text parameter, or a
                value that is not a finite number; the message names the key and the range.
        """
        lattice = self
        for key, value in params.items():
            lattice = lattice._with_one(key, value)
        return lattice

    def check_override(self, key: str, value: object) -> tuple[int, int, float]:
        """Validate one ``ele[n][v]`` override; return ``(n, v, value as float)``.

        Raises:
            InvalidParameterError: naming the key and the valid range.
        """
        parsed = parse_ele_key(check_key(key))
        if parsed is None:
            raise InvalidParameterError(key, "not an ele[n][v] key (e.g. 'ele[3][2]')")
        n, v = parsed
        if not 1 <= n <= len(self.elements):
            raise InvalidParameterError(
                key, f"element {n} does not exist: valid range 1..{len(self.elements)}"
            )
        element = self.elements[n - 1]
        spec = lookup(element.keyword)
        limit = _param_limit(spec, element.statement)
        if not 1 <= v <= limit:
            names = f" ({' '.join(spec.params)})" if spec and spec.params else ""
            raise InvalidParameterError(
                key,
                f"{element.describe()} has parameters 1..{limit}{names}; got {v}",
            )
        if spec is not None and v in spec.text_params:
            raise InvalidParameterError(
                key, f"parameter {v} of {element.describe()} is text ({spec.params[v - 1]})"
            )
        return n, v, as_number(key, value)

    def _with_one(self, key: str, value: object) -> Lattice:
        n, v, number = self.check_override(key, value)
        element = self.elements[n - 1]
        lattice = self
        if element.repeat or self._origin.get(id(element.statement)) is not None:
            lattice = self._unrolled_for(n)
            element = lattice.elements[n - 1]
        return lattice._replace_args(element, v, format_number(number))

    def _replace_args(self, element: Element, v: int, token: str) -> Lattice:
        stmt = element.statement
        args = list(stmt.args)
        while len(args) < v:
            args.append("0")
        args[v - 1] = token
        new_stmt = replace(stmt, args=tuple(args), text=None)
        entries = tuple(_Entry(new_stmt) if e.statement is stmt else e for e in self._entries)
        return Lattice(entries, self.path, self.encoding, self._trailer)

    def _unrolled_for(self, n: int) -> Lattice:
        """Unroll the REPEAT_ELE block that produced element n into explicit statements."""
        target = self.elements[n - 1].statement
        rep_index = self._origin[id(target)]
        rep_stmt = self._entries[rep_index].statement
        assert rep_stmt is not None
        k = int(parse_number(rep_stmt.args[0]))
        block_end = _repeat_block_end(self._entries, rep_index, rep_stmt)
        block = [e for e in self._entries[rep_index + 1 : block_end] if e.statement is not None]
        unrolled: list[_Entry] = [_Entry(None, f";{rep_stmt.render().strip()} (unrolled)")]
        for copy in range(k):
            for e in block:
                stmt = e.statement
                assert stmt is not None
                unrolled.append(_Entry(replace(stmt, text=None) if copy else stmt))
        entries = self._entries[:rep_index] + tuple(unrolled) + self._entries[block_end:]
        return Lattice(entries, self.path, self.encoding, self._trailer)

    # -- output ---------------------------------------------------------------------
    def to_text(self) -> str:
        """The lattice as `.dat` text: comments, labels and untouched lines kept verbatim."""
        lines = [e.raw if e.statement is None else e.statement.render() for e in self._entries]
        lines.extend(self._trailer)
        return "\n".join(lines) + "\n"

    def write(self, path: str | Path) -> Path:
        """Write the lattice to ``path`` (in the encoding it was read with)."""
        path = Path(path)
        path.write_bytes(self.to_text().encode(self.encoding, errors="replace"))
        return path


def _param_limit(spec: KeywordSpec | None, stmt: Statement) -> int:
    if spec is None or spec.max_params is None:
        return max(len(stmt.args), len(spec.params) if spec else 0)
    return spec.max_params


def _repeat_block_end(entries: tuple[_Entry, ...], index: int, stmt: Statement) -> int:
    """Index one past the last entry of the block a REPEAT_ELE at ``index`` repeats."""
    try:
        n = int(parse_number(stmt.args[1]))
    except (IndexError, ValueError):
        raise DatSyntaxError(
            "REPEAT_ELE needs two numbers: 'REPEAT_ELE k n' (repeat the next n elements k times)",
            stmt.path,
            stmt.line,
        ) from None
    found = 0
    j = index + 1
    while j < len(entries) and found < n:
        s = entries[j].statement
        if s is not None:
            if s.keyword == "REPEAT_ELE":
                raise DatSyntaxError(
                    "nested REPEAT_ELE is not supported: unroll the inner block", s.path, s.line
                )
            found += s.is_element
        j += 1
    if found < n:
        raise DatSyntaxError(
            f"REPEAT_ELE asks for {n} elements but only {found} follow", stmt.path, stmt.line
        )
    return j


def _expand(
    entries: tuple[_Entry, ...], path: str
) -> tuple[tuple[SequenceItem, ...], dict[int, int]]:
    """Expand REPEAT_ELE blocks and number elements.

    Returns the sequence and a map ``id(statement) -> index of its REPEAT_ELE entry`` for
    statements inside a repeated block.
    """
    seq: list[SequenceItem] = []
    origin: dict[int, int] = {}
    number = 0
    i = 0
    while i < len(entries):
        stmt = entries[i].statement
        if stmt is None:
            i += 1
            continue
        if stmt.keyword == "REPEAT_ELE":
            try:
                k = int(parse_number(stmt.args[0]))
            except (IndexError, ValueError):
                raise DatSyntaxError(
                    "REPEAT_ELE needs two numbers: 'REPEAT_ELE k n'", stmt.path, stmt.line
                ) from None
            if k < 1:
                raise DatSyntaxError(f"REPEAT_ELE count {k} must be >= 1", stmt.path, stmt.line)
            end = _repeat_block_end(entries, i, stmt)
            block = [e.statement for e in entries[i + 1 : end] if e.statement is not None]
            seq.append(SequenceItem(stmt, None))
            for copy in range(k):
                for s in block:
                    origin[id(s)] = i
                    if s.is_element:
                        number += 1
                        seq.append(SequenceItem(s, number, copy))
                    else:
                        seq.append(SequenceItem(s, None, copy))
            i = end
            continue
        if stmt.is_element:
            number += 1
            seq.append(SequenceItem(stmt, number))
        else:
            seq.append(SequenceItem(stmt, None))
        i += 1
    return tuple(seq), origin


def _decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def parse_dat_text(text: str, path: str = "<string>", strict: bool = True) -> Lattice:
    """Parse `.dat` text; see :func:`read_dat`."""
    return _parse(text, path, "utf-8", strict)


def read_dat(path: str | Path, strict: bool = True) -> Lattice:
    """Read a TraceWin `.dat` lattice.

    Args:
        path: the `.dat` file.
        strict: an unknown keyword is a :class:`DatSyntaxError` naming file, line and
            keyword (as TraceWin stops on it). With ``strict=False`` it is kept as an
            unnumbered command.

    Raises:
        TraceWinFormatError: the file is missing, or a line cannot be parsed.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DatSyntaxError(f"cannot read lattice: {exc.strerror}", p) from None
    text, encoding = _decode(data)
    return _parse(text, str(p), encoding, strict)


def _parse(text: str, path: str, encoding: str, strict: bool) -> Lattice:
    lines = text.splitlines()
    entries: list[_Entry] = []
    trailer: tuple[str, ...] = ()
    for lineno, raw in enumerate(lines, start=1):
        stmt = _parse_line(raw, path, lineno, strict)
        if stmt is None:
            entries.append(_Entry(None, raw))
            continue
        if stmt.keyword == "END":
            trailer = tuple(lines[lineno - 1 :])
            break
        entries.append(_Entry(stmt))
    return Lattice(tuple(entries), path, encoding, trailer)


def _parse_line(raw: str, path: str, lineno: int, strict: bool) -> Statement | None:
    code, sep, comment = raw.partition(";")
    if not code.strip():
        return None
    label = None
    # `LABEL : KEYWORD ...` (spaces optional); a first token that is a keyword is never a
    # label, so `FIELD_MAP_PATH C:\maps` keeps its colon.
    if ":" in code and lookup(code.split(None, 1)[0]) is None:
        head, _, code = code.partition(":")
        label = head.strip()
    tokens = code.split()
    comment_text = comment if sep else None
    if not tokens:
        return Statement("", (), label, comment_text, None, False, True, path, lineno, raw)
    spelled = tokens[0]
    weight = None
    m = _WEIGHTED.match(spelled)
    if m:
        spelled, weight = m.group(1), m.group(2)
    keyword = spelled.upper()
    spec = lookup(keyword)
    if spec is None:
        if strict:
            raise DatSyntaxError(
                f"unknown keyword {spelled!r} (TraceWin stops here with 'Unknown element or "
                "command'): fix the spelling, or comment the line out with ';'",
                path,
                lineno,
            )
        return Statement(
            keyword,
            tuple(tokens[1:]),
            label,
            comment_text,
            weight,
            False,
            False,
            path,
            lineno,
            raw,
            spelled,
        )
    args = tuple(tokens[1:])
    if spec.is_element:
        for v, tok in enumerate(args, start=1):
            if v in spec.text_params:
                continue
            try:
                parse_number(tok)
            except ValueError:
                name = f" ({spec.params[v - 1]})" if v <= len(spec.params) else ""
                raise DatSyntaxError(
                    f"{keyword} parameter {v}{name} is {tok!r}, not a number",
                    path,
                    lineno,
                ) from None
    return Statement(
        keyword,
        args,
        label,
        comment_text,
        weight,
        spec.is_element,
        True,
        path,
        lineno,
        raw,
        spelled,
    )
