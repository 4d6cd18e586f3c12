"""experiments/helix_peer.py's ``extent`` grid (the like-for-like comparison of issue 19):
HELIX's PIC solver given our mesh's grid gives our rms field strengths, and with its own
5-sigma grid a weaker field. Runs HELIX (``linac_gen``, GPL, never a dependency) in the
interpreter named by ``ARL_HELIX_PYTHON``; skipped without it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from accelerate_rl.engine.spacecharge_mesh import MeshSolver

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "sc_kick_reference.py"
HELIX = os.environ.get("ARL_HELIX_PYTHON")


def _reference():
    spec = importlib.util.spec_from_file_location("sc_kick_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not HELIX, reason="ARL_HELIX_PYTHON (an interpreter with linac_gen) unset")
def test_helix_on_our_grid_gives_our_field_and_on_its_own_a_weaker_one(tmp_path):
    ref = _reference()
    rng = np.random.default_rng(7)
    energy, bunch_mhz, n = 20.0, 100.0, 4000
    pos = rng.standard_normal((3, n)) * np.array([[2e-3], [1.2e-3], [1.5e-3]])  # lab [m]
    data = tmp_path / "beams.npz"
    np.savez(data, energies=[energy], positions=pos[None], bunch_mhz=bunch_mhz)
    argv = [HELIX, str(SCRIPT), "--helix-only", "prefix", "--data", str(data), "--mesh", "16"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    helix = json.loads(done.stdout.strip().splitlines()[-1])
    rest = pos * np.array([[1.0], [1.0], [1 + energy / ref.PROTON_MC2]])
    charge = ref.CURRENT_MA * 1e-3 / (bunch_mhz * 1e6) / n
    ours = ref.rms_strengths(rest, MeshSolver((16, 16, 16), reuse=0.0).field(rest, charge))
    direct = ref.rms_strengths(rest, ref.coulomb_field(rest, charge))
    np.testing.assert_allclose(helix["extent"][0], ours, rtol=1e-5)
    assert np.all(np.array(helix["adaptive"][0]) < ours)  # coarser cells: a smoother field
    assert np.all(ours < direct)
