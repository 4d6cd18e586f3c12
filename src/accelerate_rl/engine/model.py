"""A lattice compiled for the embedded engine: element models, STEERER fields, overrides.

Compiling validates the whole lattice once (an unsupported element or command is an
error naming element, keyword, file and line); a run then rebuilds only the elements its
``ele[n][v]`` overrides touch. Overrides may be arrays with a leading batch axis B.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..tracewin.dat import Element, Lattice, SequenceItem, parse_number
from ..tracewin.errors import InvalidParameterError
from .elements import ElementModel, UnsupportedElementError, model_class
from .elements.field_map_3d import FieldMapTable
from .nominal_commands import nominal_note
from .superpose import ExitFrame, SuperposeBlock

#: Commands with no effect on transport by this engine (structure, markers, optimiser
#: and error-study settings that only TraceWin's matching and error modes use).
NO_EFFECT_COMMANDS = frozenset(
    {
        "",
        "LATTICE",
        "LATTICE_END",
        "MARKER",
        "PLOT_DST",
        "END",
        "DOUBLET_START",
        "DOUBLET_END",
        "TRIPLET_START",
        "TRIPLET_END",
        "SET_ADV",
        "SET_TWISS",
        "SET_ACHROMAT",
        "START_ACHROMAT",
        "MIN_PHASE_VARIATION",
        "MIN_FIELD_VARIATION",
        "PARTRAN_STEP",
        "REPEAT_ELE",
    }
)
#: Elements that take the RF context (frequency, field-map folder, phase mode).
RF_ELEMENTS = frozenset({"FIELD_MAP", "GAP", "DTL_CEL", "NCELLS", "ELECTROSTA_ACC"})
#: Commands that set the context of the RF elements that follow them.
RF_COMMANDS = frozenset({"FREQ", "FIELD_MAP_PATH", "SET_SYNC_PHASE"})
#: Command families that only drive TraceWin's optimiser or error studies.
NO_EFFECT_PREFIXES = ("ADJUST", "ERROR_", "MATCH_", "OUTPUT_", "SET_BEAM_PHASE_ERROR")


@dataclass(frozen=True)
class Steer:
    """A STEERER command's dipole field for the next element: Bx, By [T]."""

    bx: float
    by: float


def _numeric(element: Element) -> np.ndarray:
    values = []
    for tok in element.args:
        try:
            values.append(parse_number(tok))
        except ValueError:
            values.append(np.nan)
    return np.array(values, dtype=float)


@dataclass(frozen=True)
class RFContext:
    """What an RF element takes from the commands before it: the FIELD_MAP_PATH folder,
    the RF frequency [MHz] (FREQ) and whether SET_SYNC_PHASE is in force."""

    folder: Path
    freq: float | None
    sync_phase: bool


class CompiledLattice:
    """A lattice ready for transport.

    Args:
        lattice: the source lattice.
        rf_freq: the RF frequency [MHz] of cavities before any FREQ command (TraceWin
            uses the bunch frequency).

    Attributes:
        models: one element model per TraceWin element (batch size 1, base settings).
        notes: commands the engine accepted without effect, for the run's record.
        accelerating: numbers of the elements that change the reference energy.
    """

    def __init__(self, lattice: Lattice, rf_freq: float | None = None) -> None:
        self.lattice = lattice
        self.notes: list[str] = []
        self._base: list[np.ndarray] = []
        self._steers: dict[int, Steer] = {}
        self._rf: dict[int, RFContext] = {}
        #: SUPERPOSE_MAP blocks by element number (every map of a block).
        self.blocks: dict[int, SuperposeBlock] = {}
        self._open: SuperposeBlock | None = None
        self._placing: tuple[float | None, ExitFrame | None] = (None, None)
        folder = Path(lattice.path).parent
        context = RFContext(folder, rf_freq, False)
        pending: SequenceItem | None = None
        for item in lattice.sequence:
            if item.number is None:
                context = self._rf_command(item, context)
                if not self._superpose_command(item):
                    pending = self._command(item, pending)
                continue
            element = lattice.elements[item.number - 1]
            self._place(item.number, element)
            if model_class(element.keyword, element) is None:
                raise UnsupportedElementError(
                    f"{element.describe()} is not supported by the embedded engine: run it "
                    "with the TraceWin backend"
                )
            if pending is not None:
                args = [parse_number(a) for a in pending.statement.args[:2]]
                args += [0.0] * (2 - len(args))
                self._steers[item.number] = Steer(args[0], args[1])
                pending = None
            if element.keyword in RF_ELEMENTS:
                if context.freq is None:
                    raise UnsupportedElementError(
                        f"{element.describe()}: no RF frequency: add a FREQ command before it"
                    )
                self._rf[item.number] = context
            self._base.append(_numeric(element))
        if self._placing != (None, None):
            raise UnsupportedElementError(
                "SUPERPOSE_MAP or SUPERPOSE_MAP_OUT at the end of the lattice: a FIELD_MAP "
                "must follow it"
            )
        self.models: list[ElementModel] = [self.build(n) for n in range(1, len(self._base) + 1)]
        for block in {id(b): b for b in self.blocks.values()}.values():
            self._link(self.models, block)
        self.accelerating = frozenset(n for n, m in enumerate(self.models, 1) if m.accelerating)
        for model in self.models:
            self.notes.extend(model.notes())
        for n in self._steers:
            if not self.models[n - 1].steerable:
                el = lattice.elements[n - 1]
                raise UnsupportedElementError(
                    f"{el.describe()}: a STEERER field in a {el.keyword} is not supported by "
                    "the embedded engine (only DRIFT, QUAD and MULTIPOLE): run it with the "
                    "TraceWin backend"
                )

    def _superpose_command(self, item: SequenceItem) -> bool:
        """Record SUPERPOSE_MAP z0 / SUPERPOSE_MAP_OUT for the next FIELD_MAP (see
        :mod:`accelerate_rl.engine.superpose`); False for any other command."""
        stmt = item.statement
        if stmt.keyword not in ("SUPERPOSE_MAP", "SUPERPOSE_MAP_OUT"):
            return False
        try:
            values = [parse_number(a) for a in stmt.args]
        except ValueError:
            raise UnsupportedElementError(
                f"{stmt.keyword} ({stmt.where}): every value must be a number"
            ) from None
        z0, frame = self._placing
        if stmt.keyword == "SUPERPOSE_MAP":
            if not values:
                raise UnsupportedElementError(f"SUPERPOSE_MAP ({stmt.where}): needs z0 [mm]")
            if any(values[1:]):
                self.notes.append(
                    f"SUPERPOSE_MAP ({stmt.where}): x0, y0 and angles ignored without "
                    "SUPERPOSE_MAP_OUT (as HELIX reports TraceWin does)"
                )
            self._placing = (values[0] * 1e-3, frame)
        else:
            try:
                frame = ExitFrame.parse(values, stmt.where)
            except ValueError as exc:
                raise UnsupportedElementError(str(exc)) from None
            self._placing = (z0, frame)
            self.notes.append(
                f"SUPERPOSE_MAP_OUT ({stmt.where}) read as the exit plane (z, x, y, -, "
                "theta_x, theta_y) of its block: the parameter order is a guess (README)"
            )
        return True

    def _place(self, number: int, element: Element) -> None:
        """Put element ``number`` into the open SUPERPOSE block, open one, or close it."""
        z0, frame = self._placing
        if element.keyword != "FIELD_MAP" or (z0 is None and frame is None):
            self._open = None
            if self._placing != (None, None):
                raise UnsupportedElementError(
                    f"{element.describe()}: SUPERPOSE_MAP(_OUT) must be followed by a FIELD_MAP"
                )
            return
        if self._open is None or (frame is not None and self._open.exit is not None):
            self._open = SuperposeBlock()
        block = self._open
        block.numbers.append(number)
        block.offsets[number] = z0 or 0.0
        if frame is not None:
            block.exit = frame
        self.blocks[number] = block
        self._placing = (None, None)

    def _link(self, models: list[ElementModel], block: SuperposeBlock) -> None:
        """Give the block's first map the models of all its maps."""
        if block.trivial:
            return
        carrier = models[block.carrier - 1]
        assert isinstance(carrier, FieldMapTable)
        carrier.members = [models[n - 1] for n in block.numbers]  # type: ignore[misc]

    @staticmethod
    def _rf_command(item: SequenceItem, context: RFContext) -> RFContext:
        stmt = item.statement
        if stmt.keyword == "FREQ":
            try:
                return replace(context, freq=parse_number(stmt.args[0]))
            except (IndexError, ValueError):
                raise UnsupportedElementError(
                    f"FREQ ({stmt.where}): needs a frequency in MHz"
                ) from None
        if stmt.keyword == "FIELD_MAP_PATH":
            if not stmt.args:
                raise UnsupportedElementError(f"FIELD_MAP_PATH ({stmt.where}): needs a folder")
            return replace(context, folder=Path(stmt.path).parent / stmt.args[0])
        if stmt.keyword == "SET_SYNC_PHASE":
            return replace(context, sync_phase=True)
        return context

    def _command(self, item: SequenceItem, pending: SequenceItem | None) -> SequenceItem | None:
        stmt = item.statement
        kw = stmt.keyword
        if kw in RF_COMMANDS:
            return pending
        if kw == "STEERER":
            for tok in stmt.args[:2]:
                try:
                    parse_number(tok)
                except ValueError:
                    raise UnsupportedElementError(
                        f"STEERER ({stmt.where}): field {tok!r} is not a number"
                    ) from None
            return item
        note = nominal_note(stmt)
        if note is not None:
            self.notes.append(note)
            return pending
        if kw in NO_EFFECT_COMMANDS or kw.startswith(NO_EFFECT_PREFIXES):
            if kw and kw not in ("LATTICE", "LATTICE_END", "FREQ", "END", "REPEAT_ELE"):
                self.notes.append(f"{kw} ({stmt.where}) has no effect in the embedded engine")
            return pending
        if not stmt.known:
            raise UnsupportedElementError(f"unknown keyword {kw!r} ({stmt.where})")
        raise UnsupportedElementError(
            f"command {kw} ({stmt.where}) is not supported by the embedded engine: run it "
            "with the TraceWin backend"
        )

    def __len__(self) -> int:
        return len(self.models)

    def build(self, n: int, params: np.ndarray | None = None) -> ElementModel:
        """The model of element ``n`` with ``params`` ((B, P) array) or its base settings."""
        element = self.lattice.elements[n - 1]
        block = self.blocks.get(n)
        if block is not None and not block.trivial:
            cls: type[ElementModel] | None = FieldMapTable
        else:
            cls = model_class(element.keyword, element)
        assert cls is not None
        model = cls(element, self._base[n - 1][None] if params is None else params)
        if block is not None and not block.trivial:
            assert isinstance(model, FieldMapTable)
            model.block = block
        rf = self._rf.get(n)
        if rf is not None:
            model.bind(rf.folder, rf.freq, rf.sync_phase)
        steer = self._steers.get(n)
        if steer is not None:
            model.steer = (steer.bx, steer.by)
        return model

    def with_overrides(
        self, overrides: Mapping[str, object]
    ) -> tuple[list[ElementModel], int, dict[int, str]]:
        """Element models with ``ele[n][v]`` overrides applied.

        Values are numbers or 1-D arrays (a batch of settings); all arrays must share one
        length B. Returns the models, B and the element numbers rebuilt, each with the
        first key that overrides it (to name it in later errors without parsing again).

        Raises:
            InvalidParameterError: a bad key, range or value (naming the key).
        """
        by_element: dict[int, list[tuple[int, np.ndarray]]] = {}
        key_of: dict[int, str] = {}
        batch = 1
        for key, value in overrides.items():
            numeric = isinstance(value, np.ndarray) and value.dtype.kind in "biuf"
            arr = np.atleast_1d(value if numeric else np.asarray(value, dtype=object))
            if arr.ndim != 1:
                raise InvalidParameterError(key, "batched values must be a 1-D sequence")
            n, v, _ = self.lattice.check_override(key, arr[0])
            try:
                values = arr.astype(float) if numeric else np.array([float(x) for x in arr])
            except (TypeError, ValueError):
                raise InvalidParameterError(key, "every batched value must be a number") from None
            if not np.all(np.isfinite(values)):
                raise InvalidParameterError(key, "values must be finite")
            if len(values) > 1:
                if batch not in (1, len(values)):
                    raise InvalidParameterError(
                        key, f"batch of {len(values)} values, other keys have {batch}"
                    )
                batch = len(values)
            by_element.setdefault(n, []).append((v, values))
            key_of.setdefault(n, key)
        models = list(self.models)
        for n, changes in by_element.items():
            base = self._base[n - 1]
            width = max(len(base), max(v for v, _ in changes))
            params = np.zeros((batch, width))
            params[:, : len(base)] = base
            for v, values in changes:
                params[:, v - 1] = values
            try:
                models[n - 1] = self.build(n, params)
            except UnsupportedElementError as exc:
                raise InvalidParameterError(key_of[n], str(exc)) from None
        touched = {id(self.blocks[n]): self.blocks[n] for n in by_element if n in self.blocks}
        for block in touched.values():
            if block.carrier not in by_element:
                models[block.carrier - 1] = self.build(block.carrier)
            member = next(n for n in by_element if self.blocks.get(n) is block)
            key_of.setdefault(block.carrier, key_of[member])
            self._link(models, block)
        return models, batch, key_of
