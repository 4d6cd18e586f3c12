"""Commands of real lattices that have no effect on a nominal run in the state the
lattice leaves them, accepted with a note in the run's ``notes`` (and refused, naming the
line, in a state that would act on the beam).

* ``CHOPPER n V gap d plane`` (a deflector over the next n elements): off when V = 0, as
  ESS's MEBT writes it (``CHOPPER 3 0 10 0 1 ; V chopper off``) and PIP-II's MEBT
  (``CHOPPER 2 00 8 0 1``). The reading of the second value as the voltage is taken from
  that comment **[low]**; a chopper that is on is refused.
"""

from __future__ import annotations

from ..tracewin.dat import Statement, parse_number
from .elements import UnsupportedElementError


def _chopper(stmt: Statement) -> str:
    try:
        volts = parse_number(stmt.args[1]) if len(stmt.args) > 1 else 0.0
    except ValueError:
        raise UnsupportedElementError(f"CHOPPER ({stmt.where}): V is not a number") from None
    if volts != 0:
        raise UnsupportedElementError(
            f"CHOPPER ({stmt.where}) with V = {volts:g}: a chopper that is on is not "
            "supported by the embedded engine: run it with the TraceWin backend"
        )
    return f"CHOPPER ({stmt.where}) is off (V = 0): no effect on a nominal run"


#: keyword -> the check returning the note (raising when the command would act).
NOMINAL_COMMANDS = {"CHOPPER": _chopper}


def nominal_note(stmt: Statement) -> str | None:
    """The note of an accepted command, None when it is not one of these."""
    check = NOMINAL_COMMANDS.get(stmt.keyword)
    return None if check is None else check(stmt)
