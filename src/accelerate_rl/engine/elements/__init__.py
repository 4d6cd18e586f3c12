"""Element models of the embedded engine: one physical element per file.

Adding an element: write its model (a subclass of :class:`ElementModel`) in its own file
and add one line to :data:`ELEMENT_MODELS`.
"""

from __future__ import annotations

from ...tracewin.dat import Element
from .aperture import ApertureElement
from .base import Aperture, ElementModel, UnsupportedElementError
from .bend import Bend
from .diag import Diagnostic
from .drift import Drift
from .dtl_cell import DtlCell
from .edge import Edge
from .electrostatic_acc import ElectrostaticAcc
from .field_map import FieldMap
from .field_map_3d import ONE_D, FieldMapTable
from .gap import Gap
from .multipole import Multipole
from .ncells import NCells
from .quad import Quad
from .quad_ele import QuadEle
from .solenoid import Solenoid
from .steering import ThinSteering
from .thin_lens import ThinLens

ELEMENT_MODELS: dict[str, type[ElementModel]] = {
    "DRIFT": Drift,
    "QUAD": Quad,
    "QUAD_ELE": QuadEle,
    "SOLENOID": Solenoid,
    "THIN_STEERING": ThinSteering,
    "BEND": Bend,
    "EDGE": Edge,
    "MULTIPOLE": Multipole,
    "THIN_LENS": ThinLens,
    "APERTURE": ApertureElement,
    "FIELD_MAP": FieldMap,
    "GAP": Gap,
    "DTL_CEL": DtlCell,
    "NCELLS": NCells,
    "ELECTROSTA_ACC": ElectrostaticAcc,
}


def model_class(keyword: str, element: Element | None = None) -> type[ElementModel] | None:
    """The model for ``keyword``; every ``DIAG_*`` is a no-effect diagnostic; a FIELD_MAP
    ``element`` beyond the 1D geometries 100 and 10 is integrated through its tables."""
    if keyword.startswith("DIAG_"):
        return Diagnostic
    if keyword == "FIELD_MAP" and element is not None and element.args:
        try:
            geometry = float(element.args[0])
        except ValueError:
            geometry = None
        if geometry is not None and geometry not in ONE_D:
            return FieldMapTable
    return ELEMENT_MODELS.get(keyword)


__all__ = [
    "Aperture",
    "ELEMENT_MODELS",
    "ElementModel",
    "UnsupportedElementError",
    "model_class",
]
