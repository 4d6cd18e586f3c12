"""APERTURE dx dy n: a zero-length aperture. n 0 rectangular (half-widths dx, dy [mm]),
1 circular (radius dx [mm]); other kinds (pepperpot, beam fraction, fingers, ring) are
not modelled."""

from __future__ import annotations

import numpy as np

from .base import Aperture as ApertureShape
from .base import ElementModel


class ApertureElement(ElementModel):
    keyword = "APERTURE"

    def validate(self) -> None:
        if np.any((self.p(3) != 0) & (self.p(3) != 1)):
            raise self.unsupported(f"APERTURE kind {int(self.p(3)[0])} (only 0 and 1 are)")

    def aperture(self) -> ApertureShape | None:
        circular = self.p(3) == 1
        if np.all(circular):
            return ApertureShape("circular", self.p(1), self.p(1))
        return ApertureShape("rectangular", self.p(1), self.p(2))
