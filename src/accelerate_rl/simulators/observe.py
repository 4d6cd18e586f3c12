"""The observation contract every simulator keeps: metrics named ``column@element``.

A caller (an RL task, a Tune search, a scan) asks for beam quantities at element exits,
``("x0", 37)`` or ``"x0@37"``: the ``tracewin.out`` column ``x0`` [mm] on the row of
element 37 (the ``##`` column; 0 is the input beam). A simulator that takes
``observe=`` returns each as metric ``"x0@37"``, plus ``transmission`` [0..1]. Rows
inside field maps repeat their element's number (real TraceWin writes ~50 per 1D map):
the element's exit is the last row with its number.

A quantity a simulator cannot give is an error naming the metric and the simulator, at
construction when it can be checked there (an unknown column, an element past the end
of the lattice), else on the first result: never a silent 0 or inf.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..tracewin.out import OUT_COLUMNS

#: The metric every simulator taking ``observe=`` also returns [0..1].
TRANSMISSION = "transmission"

Observe = Sequence[tuple[str, int]]


class MetricUnavailable(ValueError):
    """A requested metric the simulator cannot produce (the message names both)."""


def metric_name(column: str, element: int) -> str:
    """``"x0@37"`` for ``("x0", 37)``."""
    return f"{column}@{element}"


def parse_observe(
    observe: Iterable[str | tuple[str, int]], simulator: str
) -> list[tuple[str, int]]:
    """``observe`` as ``(column, element)`` pairs (from pairs or ``"column@element"``
    strings); MetricUnavailable for a column ``tracewin.out`` does not have or a
    malformed name."""
    pairs = []
    for item in observe:
        if isinstance(item, str):
            column, sep, element = item.rpartition("@")
            if not sep or not element.isdigit():
                raise MetricUnavailable(
                    f"{simulator}: metric {item!r} is not 'column@element' (e.g. 'x0@37')"
                )
            pair = (column, int(element))
        else:
            column, element = item
            pair = (str(column), int(element))
        if pair[0] not in OUT_COLUMNS:
            raise MetricUnavailable(
                f"{simulator}: metric {metric_name(*pair)!r}: unknown column {pair[0]!r}; "
                f"the columns of tracewin.out are {', '.join(OUT_COLUMNS)}"
            )
        if pair[1] < 0:
            raise MetricUnavailable(f"{simulator}: metric {metric_name(*pair)!r}: element < 0")
        pairs.append(pair)
    return pairs


def check_elements(observe: Observe, n_elements: int, simulator: str) -> None:
    """MetricUnavailable for an element past the lattice's ``n_elements``."""
    for column, element in observe:
        if element > n_elements:
            raise MetricUnavailable(
                f"{simulator}: metric {metric_name(column, element)!r}: the lattice has "
                f"elements 0..{n_elements} (0 = the input beam)"
            )


def exit_rows(numbers: Any, observe: Observe, simulator: str) -> list[int]:
    """The row of each observed element's exit in a table whose ``##`` column is
    ``numbers``: the last row carrying the element's number."""
    numbers = np.asarray(numbers)
    if numbers.ndim > 1:  # a batch of tables (rows, B): the numbering is the same
        numbers = numbers[:, 0]
    rows = []
    for column, element in observe:
        found = np.flatnonzero(np.round(numbers) == element)
        if not len(found):
            raise MetricUnavailable(
                f"{simulator}: metric {metric_name(column, element)!r}: the output has no row "
                f"for element {element} (its rows cover elements {int(numbers.min())}.."
                f"{int(numbers.max())})"
            )
        rows.append(int(found[-1]))
    return rows


def table_metrics(table: Mapping[str, Any], observe: Observe, simulator: str) -> dict[str, float]:
    """``column@element`` metrics and ``transmission`` (last row's ``npart`` over row
    0's) of one output table (a DataFrame or columns as arrays)."""
    if "##" not in table:
        names = ", ".join(repr(metric_name(*pair)) for pair in observe)
        raise MetricUnavailable(
            f"{simulator}: cannot give metrics {names}: its output table has no '##' "
            "(element number) column"
        )
    out = {}
    for (column, element), row in zip(observe, exit_rows(table["##"], observe, simulator)):
        if column not in table:
            raise MetricUnavailable(
                f"{simulator}: metric {metric_name(column, element)!r}: its output table has "
                f"no column {column!r}"
            )
        out[metric_name(column, element)] = float(np.asarray(table[column])[row])
    if "npart" in table:
        npart = np.asarray(table["npart"], dtype=float)
        out[TRANSMISSION] = float(npart[-1] / npart[0]) if npart[0] > 0 else 0.0
    return out
