"""The multiparticle mesh space-charge solver against Coulomb's law and the ellipsoid's
exact linear field (independent of the mesh), and its effect in tracking: the rms
envelope of :mod:`accelerate_rl.engine.spacecharge`, emittance growth only from
non-linear fields, repulsion for negative ions too."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from accelerate_rl.engine import Beam, Engine
from accelerate_rl.engine.spacecharge import EPSILON_0, depolarisation
from accelerate_rl.engine.spacecharge_mesh import MeshSolver, green_spectrum, integrated_green
from accelerate_rl.tracewin import InvalidParameterError, parse_dat_text
from test_space_charge import BEAM


@pytest.mark.parametrize("index", [(1, 0, 0), (0, 2, 1), (7, 6, 5), (4, 4, 4), (5, 3, 0)])
def test_the_cell_integrated_kernel_matches_quadrature(index):
    h = (0.3, 0.5, 0.7)  # anisotropic cells
    green = integrated_green((4, 4, 4), h)
    offset = [(i if i <= 4 else i - 8) * step for i, step in zip(index, h, strict=True)]
    ranges = [[o - step / 2, o + step / 2] for o, step in zip(offset, h, strict=True)]
    expect, _ = integrate.nquad(lambda x, y, z: 1 / np.sqrt(x * x + y * y + z * z), ranges)
    assert green[index] == pytest.approx(expect, rel=1e-10)


def _uniform_ellipsoid(n: int, axes: tuple[float, float, float], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((3, n))
    u /= np.linalg.norm(u, axis=0)
    return u * rng.random(n) ** (1 / 3) * np.array(axes)[:, None]


def test_a_uniform_sphere_has_coulombs_field_inside():
    radius, charge, n = 1e-3, 1e-12, 200_000
    pos = _uniform_ellipsoid(n, (radius,) * 3)
    field = MeshSolver().field(pos, charge / n)
    r = np.linalg.norm(pos, axis=0)
    radial = (field * pos).sum(axis=0) / r
    expect = charge * r / (4 * np.pi * EPSILON_0 * radius**3)
    core = (r > 0.2 * radius) & (r < 0.9 * radius)
    ratio = radial[core] / expect[core]
    assert np.mean(ratio) == pytest.approx(1.0, abs=0.01)
    assert np.median(np.abs(ratio - 1)) < 0.02
    tangential = field - radial * pos / r
    assert np.median(np.linalg.norm(tangential[:, core], axis=0) / expect[core]) < 0.05


def test_a_uniform_ellipsoid_has_the_linear_field_of_its_depolarisation_factors():
    axes, charge, n = (1e-3, 2e-3, 4e-3), 1e-12, 200_000
    pos = _uniform_ellipsoid(n, axes, seed=1)
    field = MeshSolver().field(pos, charge / n)
    density = 3 * charge / (4 * np.pi * np.prod(axes))
    for k, factor in enumerate(depolarisation(*axes)):
        core = np.abs(pos[k]) < 0.7 * axes[k]
        slope = np.polyfit(pos[k][core], field[k][core], 1)[0]
        assert slope == pytest.approx(density * factor / EPSILON_0, rel=0.02), k


def test_the_mesh_rejects_a_shape_it_cannot_use():
    with pytest.raises(ValueError, match="at least 4"):
        MeshSolver((32, 2, 32))
    with pytest.raises(ValueError, match="threads must be at least 1"):
        MeshSolver(threads=0)


@pytest.mark.parametrize("shape", [(8, 12, 6), (32, 32, 32)])
def test_the_kernel_spectrum_from_the_octant_is_the_fft_of_the_doubled_kernel(shape):
    h = (1e-4, 2e-4, 5e-4)
    spectrum = np.fft.rfftn(integrated_green(shape, h))
    assert np.abs(spectrum.imag).max() < 1e-12 * np.abs(spectrum).max()  # even: real
    np.testing.assert_allclose(
        green_spectrum(shape, h), spectrum.real, rtol=0, atol=1e-12 * np.abs(spectrum).max()
    )


def test_the_field_does_not_depend_on_the_fft_threads():
    pos = _uniform_ellipsoid(3000, (1e-3, 2e-3, 5e-3), seed=4)
    one = MeshSolver(threads=1).field(pos, 1e-16)
    np.testing.assert_array_equal(MeshSolver(threads=2).field(pos, 1e-16), one)


def _reference_field(pos: np.ndarray, charge: float, shape: tuple[int, int, int]) -> np.ndarray:
    """The solver written plainly in numpy: cells fitted to the beam, cloud-in-cell with
    bincount, the full doubled-mesh FFT convolution, gradients, trilinear gathers."""
    lo, hi = pos.min(axis=1), pos.max(axis=1)
    n = np.array(shape)
    h = (hi - lo) / (n - 3)
    origin = 0.5 * (lo + hi) - 0.5 * h * (n - 1)
    u = (pos - origin[:, None]) / h[:, None]
    i = np.clip(np.floor(u).astype(int), 0, n[:, None] - 2)
    f = u - i
    corners = []
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = (
                    (f[0] if dx else 1 - f[0])
                    * (f[1] if dy else 1 - f[1])
                    * (f[2] if dz else 1 - f[2])
                )
                flat = ((i[0] + dx) * shape[1] + (i[1] + dy)) * shape[2] + (i[2] + dz)
                corners.append((flat, w))
    rho = sum(np.bincount(c, weights=w, minlength=int(n.prod())) for c, w in corners)
    green = integrated_green(shape, tuple(h)) / np.prod(h)
    doubled = tuple(2 * n)
    spectrum = np.fft.rfftn(rho.reshape(shape) * charge, doubled, axes=(0, 1, 2)) * np.fft.rfftn(
        green
    )
    phi = np.fft.irfftn(spectrum, doubled, axes=(0, 1, 2))[: shape[0], : shape[1], : shape[2]]
    grads = np.gradient(phi / (4 * np.pi * EPSILON_0), *h)
    return np.array([sum(-g.reshape(-1)[c] * w for c, w in corners) for g in grads])


@pytest.mark.parametrize("shape", [(32, 32, 32), (8, 12, 6)])
def test_the_compiled_kernels_and_pruned_ffts_equal_the_plain_numpy_solver(shape):
    pos = _uniform_ellipsoid(3000, (1e-3, 2e-3, 5e-3), seed=2) + np.array([[1e-3], [0], [0]])
    expect = _reference_field(pos, 1e-16, shape)
    field = MeshSolver(shape, reuse=0.0).field(pos, 1e-16)
    # single-precision FFTs: ~1e-5 of the largest field
    np.testing.assert_allclose(field, expect, rtol=0, atol=3e-5 * np.abs(expect).max())


def test_a_kept_mesh_changes_the_field_by_far_less_than_a_percent():
    solver = MeshSolver()
    pos = _uniform_ellipsoid(20_000, (1e-3, 1.5e-3, 4e-3), seed=3)
    first = solver.field(pos, 1e-16)
    cells = solver._h
    grown = pos * 1.03  # within the band: the same cells, a looser fit
    field = solver.field(grown, 1e-16)
    assert solver._h is cells
    expect = _reference_field(grown, 1e-16, solver.shape)
    scale = np.abs(expect).max(axis=1, keepdims=True)
    assert np.median(np.abs(field - expect) / scale) < 2e-3
    assert not np.allclose(first, field)
    solver.field(pos * 1.5, 1e-16)  # out of the band: new cells
    assert solver._h is not cells


LATTICE = "DRIFT 500 0\nQUAD 100 8 0\nDRIFT 400 0\nEND\n"


def _final(beam: Beam, **kw):
    engine = Engine(parse_dat_text(LATTICE), beam)
    return engine.run().table, engine.run(mode="multiparticle", seed=3, **kw).table


def test_mesh_space_charge_follows_the_envelope_and_grows_emittance_only_when_nonlinear():
    """A 30 mA bunch: the rms sizes follow the envelope's (Sacherer); the uniform
    (waterbag) bunch keeps its emittances better than the Gaussian, whose field is
    non-linear; the linear solver keeps them exactly (to sampling noise)."""
    growth = {}
    for dist in ("waterbag", "gaussian"):
        beam = Beam(**{**BEAM, "distribution": dist})
        env, mesh = _final(beam, sc_mesh=(16, 16, 16))
        for col in ("SizeX", "SizeY", "SizeZ"):
            assert mesh[col].iloc[-1] == pytest.approx(env[col].iloc[-1], rel=0.04), (dist, col)
        growth[dist] = mesh["ep"].iloc[-1] / mesh["ep"].iloc[0] - 1
        _, linear = _final(beam, sc_solver="linear")
        assert linear["ep"].iloc[-1] == pytest.approx(linear["ep"].iloc[0], rel=0.01)
    assert growth["gaussian"] > 0.1
    assert growth["waterbag"] < 0.5 * growth["gaussian"]


@pytest.mark.parametrize("solver", ["mesh", "linear"])
def test_space_charge_repels_negative_ions_too(solver):
    for charge in (1.0, -1.0):
        beam = Beam(**{**BEAM, "charge": charge, "n_particles": 5000})
        engine = Engine(parse_dat_text("DRIFT 500 0\nEND\n"), beam)
        run = {"sc_solver": solver, "sc_mesh": "16,16,16", "partran": 1, "random_seed": 1}
        with_sc = engine.run(run).table.iloc[-1]
        free = engine.run(run, space_charge=False).table.iloc[-1]
        assert with_sc["SizeX"] > 1.05 * free["SizeX"], charge
        env = engine.run().table.iloc[-1]
        assert env["SizeX"] > 1.05 * engine.run(space_charge=False).table.iloc[-1]["SizeX"]


@pytest.mark.parametrize(
    "key, value", [("sc_solver", "fft"), ("sc_mesh", "32,32"), ("sc_mesh", "2,32,32")]
)
def test_bad_space_charge_keys_name_the_key(key, value):
    engine = Engine(parse_dat_text(LATTICE), Beam(**BEAM))
    with pytest.raises(InvalidParameterError, match=key):
        engine.run({key: value, "partran": 1})


def test_mesh_space_charge_through_rf_maps_follows_the_envelope(spoke):
    """The spoke cavities with 5 mA: kicked between the field maps' integration steps,
    the rms sizes follow the envelope's linear space charge; without current they would
    be more than 20 % smaller."""
    from accelerate_rl.tracewin import read_ini

    beam = Beam.from_ini(read_ini(spoke / "work_field_map.ini"))
    engine = Engine(spoke / "work_field_map.dat", beam)
    keys = {"current1": 5, "nbr_part1": 5000}
    env = engine.run(keys).table.iloc[-1]
    mesh = engine.run({**keys, "partran": 1, "random_seed": 2, "sc_mesh": "16,16,16"})
    free = engine.run({**keys, "current1": 0}).table.iloc[-1]
    got = mesh.table.iloc[-1]
    for col in ("SizeX", "SizeY", "SizeZ"):
        assert got[col] == pytest.approx(env[col], rel=0.04), col
    assert free["SizeX"] < 0.8 * env["SizeX"]
    assert got["npart"] == 5000
