"""APERTURE kinds: 0 rectangular and 1 circular cut the beam; 4 and 5 (fingers, e.g. a
chopper absorber's jaws) pass every particle with a note; the others are refused naming
the line."""

from __future__ import annotations

import pytest

from accelerate_rl.engine import Beam, Engine
from accelerate_rl.engine.elements import UnsupportedElementError
from accelerate_rl.tracewin import parse_dat_text

BEAM = Beam(energy=3.0, etnx=1.0, etny=1.0, eln=0.2, betx=1.0, bety=1.0, betz=0.3, n_particles=2000)


def _line(kind: int) -> str:
    return f"DRIFT 100 100 0\nAPERTURE 1.5 1.5 {kind}\nDRIFT 100 100 0\nEND\n"


@pytest.mark.parametrize("kind", [4, 5])
def test_a_finger_aperture_passes_the_beam_that_a_rectangle_of_its_size_cuts(kind):
    cut = Engine(parse_dat_text(_line(0), "a.dat"), BEAM).run(mode="multiparticle", seed=1)
    finger = Engine(parse_dat_text(_line(kind), "a.dat"), BEAM).run(mode="multiparticle", seed=1)
    assert cut.summary["transmission"] < 0.9
    assert finger.summary["transmission"] == 1.0
    assert any(f"a.dat:2): APERTURE kind {kind} (a finger" in n for n in finger.notes)


def test_an_aperture_kind_not_modelled_is_refused_naming_its_line():
    with pytest.raises(UnsupportedElementError, match=r"a.dat:2\): APERTURE kind 2"):
        Engine(parse_dat_text(_line(2), "a.dat"), BEAM)
