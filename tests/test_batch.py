"""Batched settings: the fast path of a few knobs (maps multiplied between the knobs, the
final row and transmission only) equals tracking every element for every setting, and
single runs."""

from __future__ import annotations

import numpy as np
import pytest

from accelerate_rl.engine import Beam, Engine
from accelerate_rl.tracewin import parse_dat_text

BEAM = Beam(energy=5.0, etnx=0.2, etny=0.25, eln=0.3, alpx=-1.0, betx=2.0, alpy=0.5, bety=1.5)

#: Steering (a centroid off axis), a coupling-free but chromatic line, rectangular,
#: circular and offset apertures tight enough to cut the Gaussian tails, a solenoid
#: (x-y coupling) and a bend (dispersion).
LINE = """DRIFT 200 12 0 0.5 -0.3
QUAD 150 6 10
THIN_STEERING 0.002 -0.001 10 0
DRIFT 300 8 6
QUAD 150 -6 10
SOLENOID 200 0.3 10
DRIFT 400 7 0 0 0.4
BEND 20 1000 0.4 20 0
QUAD 150 5 9
APERTURE 6 5 0
DRIFT 300 9
QUAD 150 -5 9
DRIFT 300 6
END
"""


def engine() -> Engine:
    return Engine(parse_dat_text(LINE, "batch.dat"), BEAM)


def single(eng: Engine, settings: dict[str, np.ndarray], b: int) -> dict[str, float]:
    return eng.run(
        {
            k: float(np.broadcast_to(v, (len(next(iter(settings.values()))),))[b])
            for k, v in settings.items()
        }
    ).summary


@pytest.mark.parametrize(
    "settings",
    [
        {"ele[2][2]": np.linspace(2, 14, 9)},
        {"ele[2][2]": np.linspace(2, 14, 9), "ele[9][2]": np.linspace(8, 1, 9)},
        # a knob, a scalar override of another element (it becomes a knob), a length
        {"ele[5][2]": np.linspace(-9, -2, 9), "ele[11][1]": 450.0, "ele[6][2]": 0.5},
        # the steerer and the aperture of a drift as knobs
        {"ele[3][1]": np.linspace(-0.003, 0.003, 9), "ele[4][2]": np.linspace(3, 9, 9)},
    ],
)
def test_the_fast_path_equals_every_element_tracked_and_single_runs(settings):
    eng = engine()
    batch = eng.run_batch(settings)
    final, trans = dict(batch.final), batch.final_transmission.copy()
    assert trans.min() < 0.999  # the apertures matter
    columns, per_row = batch.columns, batch.transmission  # the per-element path
    for name, values in final.items():
        np.testing.assert_allclose(values, columns[name][-1], rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(trans, per_row[-1], rtol=1e-12, atol=1e-15)
    assert not batch.lost.any()  # summary_of() is that of a setting keeping its beam
    for b in range(batch.size):
        one = single(eng, settings, b)
        fast = batch.summary_of(b)
        for key in ("SizeX", "SizeY", "x0", "y'0", "ex", "ep", "transmission", "length"):
            assert fast[key] == pytest.approx(one[key], rel=1e-12, abs=1e-12), key


def test_losses_and_summaries_of_a_batch_match_single_runs():
    eng = engine()
    fields = np.linspace(-0.02, 0.02, 7)  # strong kicks steer the beam into the pipe
    batch = eng.run_batch({"ele[3][1]": fields})
    lost = [eng.run({"ele[3][1]": f}).beam_lost for f in fields]
    assert batch.lost.tolist() == lost
    assert any(lost) and not all(lost)
    table = batch.summary()
    assert table.shape[0] == 7
    np.testing.assert_allclose(table["SizeX"], batch.columns["SizeX"][-1], rtol=1e-12)


def test_cached_maps_follow_the_knobs_of_each_call():
    eng = engine()
    grads = np.linspace(3, 9, 4)
    eng.run_batch({"ele[2][2]": grads})
    other = eng.run_batch({"ele[2][2]": grads, "ele[9][2]": 2.0})  # another element moved
    again = eng.run_batch({"ele[2][2]": grads})
    for b, g in enumerate(grads):
        moved = eng.run({"ele[2][2]": g, "ele[9][2]": 2.0}).summary
        base = eng.run({"ele[2][2]": g}).summary
        assert other.summary_of(b)["SizeX"] == pytest.approx(moved["SizeX"], rel=1e-12)
        assert again.summary_of(b)["SizeX"] == pytest.approx(base["SizeX"], rel=1e-12)
    assert moved["SizeX"] != pytest.approx(base["SizeX"], rel=1e-6)


#: Per-row incoming beams: offsets, angles, Twiss parameters and emittances (one reference).
ROW_BEAMS = {
    "x1": np.linspace(-0.5, 0.5, 6),  # [mm]
    "yp1": np.linspace(0.4, -0.4, 6),  # [mrad]
    "alpx1": np.linspace(-1.2, 0.3, 6),
    "betx1": np.linspace(1.0, 2.5, 6),  # [mm/mrad]
    "etny1": np.linspace(0.15, 0.35, 6),  # [mm.mrad]
}


def _row(params: dict, b: int) -> dict:
    return {k: v if np.ndim(v) == 0 else float(v[b]) for k, v in params.items()}


@pytest.mark.parametrize(
    "params",
    [
        {"ele[2][2]": np.linspace(2, 14, 6), **ROW_BEAMS},  # knobs and beams per row
        {"ele[3][1]": 0.001, **ROW_BEAMS},  # a scalar override, beams per row
        {**ROW_BEAMS, "etnx1": 0.3},  # no override: the beam keys set the batch
        # another reference particle in some rows: those rows are their own batch
        {"ele[2][2]": np.linspace(2, 14, 6), **ROW_BEAMS, "energy1": [5.0, 6, 5, 6, 5, 7]},
    ],
)
def test_per_row_beams_equal_single_runs(params):
    eng = engine()
    batch = eng.run_batch(params)
    assert batch.size == 6
    columns = batch.columns  # the per-element path carries the per-row beams too
    for b in range(6):
        one = eng.run(_row(params, b))
        fast = batch.summary_of(b)
        for key in ("SizeX", "SizeY", "x0", "y'0", "ex", "ey", "transmission", "energy"):
            assert fast[key] == pytest.approx(one.summary[key], rel=1e-12, abs=1e-12), key
        for name in ("SizeX", "y0", "x'0"):
            np.testing.assert_allclose(
                columns[name][:, b], one.columns[name], rtol=1e-12, atol=1e-15
            )
    sizes = batch.final["SizeX"]
    assert len(set(np.round(sizes, 9))) == 6  # the rows' beams really differ


def test_per_row_beams_with_space_charge_equal_single_runs():
    eng = engine()
    params = {"ele[2][2]": np.linspace(4, 10, 3), "betx1": [1.0, 2.0, 3.0], "current1": 5.0}
    batch = eng.run_batch(params)
    for b in range(3):
        one = eng.run(_row(params, b)).summary
        assert batch.summary_of(b)["SizeX"] == pytest.approx(one["SizeX"], rel=1e-12)


def test_a_beam_key_array_of_another_length_is_an_error_naming_it():
    from accelerate_rl.tracewin.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="betx1"):
        engine().run_batch({"ele[2][2]": np.linspace(2, 14, 6), "betx1": [1.0, 2.0]})
    with pytest.raises(InvalidParameterError, match="betx1"):  # a bad value in one row
        engine().run_batch({"ele[2][2]": np.linspace(2, 14, 3), "betx1": [1.0, -2.0, 1.0]})


#: Observed exits: the input beam, element 1, a knob of some sets (2, 3, 5), base
#: elements (the steerer 3 in most sets, the aperture 10), the last element (13), an
#: element twice, out of order.
EXITS = [0, 1, 2, 3, 5, 7, 10, 13, 4, 5]


@pytest.mark.parametrize(
    "params",
    [
        {"ele[2][2]": np.linspace(2, 14, 5)},
        {"ele[5][2]": np.linspace(-9, -2, 5), "ele[13][1]": 450.0, "ele[6][2]": 0.5},
        {"ele[3][1]": np.linspace(-0.003, 0.003, 5), "ele[1][1]": np.linspace(100, 300, 5)},
        {"x1": np.linspace(-0.5, 0.5, 5), "betx1": np.linspace(1.0, 2.5, 5)},  # no knob
        # the cases the fast path leaves to the table: space charge, several references
        {"ele[2][2]": np.linspace(4, 10, 3), "current1": 5.0},
        {"ele[2][2]": np.linspace(2, 14, 3), "energy1": [5.0, 6.0, 5.0]},
        {"ele[2][2]": np.linspace(2, 14, 3), "current1": [0.0, 5.0, 0.0]},  # one group tabled
    ],
)
def test_the_exits_of_the_fast_path_equal_the_tables_rows(params):
    eng = engine()
    batch = eng.run_batch(params, exits=EXITS)
    exits = {k: v.copy() for k, v in batch.exits.items()}
    assert batch._full is None  # no table was needed (or it came with the batch)
    assert exits["##"][:, 0].tolist() == EXITS
    final, trans = dict(batch.final), batch.final_transmission.copy()
    columns = batch.columns
    assert trans.min() < 0.999  # the apertures matter, those of the cut elements too
    np.testing.assert_allclose(trans, batch.transmission[-1], rtol=1e-12, atol=1e-15)
    for name, values in final.items():
        np.testing.assert_allclose(values, columns[name][-1], rtol=1e-12, atol=1e-12, err_msg=name)
    for name, values in exits.items():
        assert values.shape == (len(EXITS), batch.size), name
        want = columns[name][EXITS]
        np.testing.assert_allclose(values, want, rtol=1e-12, atol=1e-12, err_msg=name)
    assert {"x0", "y0", "SizeX", "SizeY", "x'0", "ex", "ep", "W0"} <= set(exits)
    assert len({round(v, 9) for v in exits["SizeX"][4]}) > 1  # the settings differ there


def test_exits_outside_the_lattice_are_an_error_naming_the_element():
    with pytest.raises(ValueError, match="element 14 .*0..13"):
        engine().run_batch({"ele[2][2]": np.linspace(2, 14, 3)}, exits=[3, 14])


def _embedded(tmp_path, observe):
    from accelerate_rl.simulators.embedded import EmbeddedSimulator

    (tmp_path / "batch.dat").write_text(LINE)
    (tmp_path / "batch.toml").write_text(
        'lattice = "batch.dat"\n[beam]\nenergy = 5.0\netnx = 0.2\netny = 0.25\neln = 0.3\n'
        "alpx = -1.0\nbetx = 2.0\nalpy = 0.5\nbety = 1.5\n"
    )
    return EmbeddedSimulator(tmp_path / "batch.toml", observe=observe)


@pytest.mark.parametrize(
    "observe",
    [
        ["x0@13", "y0@9", "SizeX@5", "x'0@1", "SizeY@0", "ey@3"],  # core columns: no table
        ["x0@13", "z(m)@5", "Hdisp@9", "npart@13"],  # columns only the table has
    ],
)
def test_simulate_batch_metrics_at_exits_equal_single_runs(tmp_path, monkeypatch, observe):
    sim = _embedded(tmp_path, observe)
    requests = [
        {"ele[3][1]": f, "ele[5][2]": g}
        for f, g in zip(np.linspace(-0.003, 0.003, 4), np.linspace(-9, -3, 4))
    ]
    singles = [sim.simulate(r) for r in requests]
    with monkeypatch.context() as patch:  # a single run would fail the batch's call
        patch.setattr(sim.engine, "run", None)
        batched = sim.simulate_batch(requests)
    for one, many in zip(singles, batched):
        assert many.ok and set(many.metrics) == set(one.metrics)
        for key, value in one.metrics.items():
            assert many.metrics[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert len({r.metrics["x0@13"] for r in batched}) == 4


def test_simulate_batch_with_exits_reruns_a_lost_beam_alone(tmp_path):
    """A set losing its beam in a batch read at the observed exits is re-run alone: its
    status and error are the single run's, and its neighbours' metrics are theirs."""
    sim = _embedded(tmp_path, ["x0@13", "SizeX@5"])
    requests = [{"ele[3][1]": float(f)} for f in np.linspace(-0.02, 0.02, 7)]
    singles = [sim.simulate(r) for r in requests]
    batched = sim.simulate_batch(requests)
    statuses = [str(s.status) for s in singles]
    assert [str(r.status) for r in batched] == statuses
    assert "lost" in statuses and "ok" in statuses
    for one, many in zip(singles, batched):
        assert many.error == one.error
        assert many.metrics == pytest.approx(one.metrics, rel=1e-12, abs=1e-12)
