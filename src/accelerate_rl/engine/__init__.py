"""The embedded TraceWin-compatible engine: an open tracker that reads TraceWin `.dat`
lattices and writes TraceWin-format outputs (transport core: magnetic and electrostatic
lines; see the README for the element list)."""

from .beam import Beam
from .elements import UnsupportedElementError
from .simulation import BatchResult, Engine, EngineResult
from .species import Kinematics, Species

__all__ = [
    "BatchResult",
    "Beam",
    "Engine",
    "EngineResult",
    "Kinematics",
    "Species",
    "UnsupportedElementError",
]
