"""APERTURE dx dy n: a zero-length aperture. n 0 rectangular (half-widths dx, dy [mm]),
1 circular (radius dx [mm]); n 4 and 5 (TraceWin's horizontal and vertical "finger"
apertures: an intercepting jaw, e.g. an MEBT chopper absorber, whose exact shape TraceWin's
documentation does not make clear; HELIX treats them as rectangular) are accepted as
passing every particle, with a note (no effect on a nominal beam that clears the jaw; the
losses on it are not modelled); pepperpot (2), beam fraction (3) and ring (6) are not
modelled."""

from __future__ import annotations

import numpy as np

from .base import Aperture as ApertureShape
from .base import ElementModel

#: APERTURE kinds accepted without losses (fingers).
FINGERS = (4, 5)


class ApertureElement(ElementModel):
    keyword = "APERTURE"

    def validate(self) -> None:
        kind = self.p(3)
        if np.any(np.isin(kind, FINGERS)) and not np.all(kind == kind[0]):
            raise self.unsupported("a batch mixing finger APERTURE kinds with others")
        if np.any(~np.isin(kind, (0, 1, *FINGERS))):
            raise self.unsupported(
                f"APERTURE kind {int(kind[0])} (only 0, 1 and the fingers 4, 5 are)"
            )

    @property
    def finger(self) -> bool:
        return int(self.p(3)[0]) in FINGERS

    def notes(self) -> list[str]:
        if not self.finger:
            return []
        return [
            f"{self.source.describe()}: APERTURE kind {int(self.p(3)[0])} (a finger, "
            "e.g. a chopper absorber's jaw) passes every particle: no losses on it are "
            "modelled (no effect on a nominal beam that clears it)"
        ]

    def aperture(self) -> ApertureShape | None:
        if self.finger:
            return None
        circular = self.p(3) == 1
        if np.all(circular):
            return ApertureShape("circular", self.p(1), self.p(1))
        return ApertureShape("rectangular", self.p(1), self.p(2))
