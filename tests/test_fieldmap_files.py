"""TraceWin field-map files: the geometry code and the 1D, 2D and 3D ASCII tables,
written here by the tests in the layouts of TraceWin's manual (as HELIX quotes it)."""

from __future__ import annotations

import numpy as np
import pytest

from accelerate_rl.tracewin.errors import TraceWinFormatError
from accelerate_rl.tracewin.fieldmaps import (
    FieldMap2D,
    FieldMap3D,
    Geometry,
    extensions,
    prefix_path,
    read_field_map,
    read_table,
)


def write_3d(path, fn, nz=4, zmax=0.2, nx=3, x=(-0.01, 0.02), ny=2, y=(-0.02, 0.02), norm=2.0):
    """A 3D table of fn(x, y, z) * norm: z outer, y, x innermost."""
    z_grid = np.linspace(0, zmax, nz + 1)
    y_grid, x_grid = np.linspace(*y, ny + 1), np.linspace(*x, nx + 1)
    rows = [f"{fn(xx, yy, zz) * norm:.15e}" for zz in z_grid for yy in y_grid for xx in x_grid]
    head = f"{nz} {zmax}\n{nx} {x[0]} {x[1]}\n{ny} {y[0]} {y[1]}\n{norm}\n"
    path.write_text(head + "\n".join(rows) + "\n")


def test_the_geometry_code_has_one_digit_per_channel():
    g = Geometry.parse(7700)
    assert (g.static_e, g.static_b, g.rf_e, g.rf_b, g.aperture) == (0, 0, 7, 7, 0)
    assert g.rf and g.dimensions == 3 and g.code == 7700
    assert extensions(g) == {
        "rf_e": (".edx", ".edy", ".edz"),
        "rf_b": (".bdx", ".bdy", ".bdz"),
    }
    assert extensions(Geometry.parse(50)) == {"static_b": (".bsr", ".bsz")}
    assert extensions(Geometry.parse(7)) == {"static_e": (".esx", ".esy", ".esz")}
    assert extensions(Geometry.parse(100)) == {"rf_e": (".edz",)}
    assert Geometry.parse(10070).aperture == 1 and not Geometry.parse(70).rf
    for bad in (-70, 7.5, 300, 123456):
        with pytest.raises(ValueError, match="geometry"):
            Geometry.parse(bad)


def test_a_3d_table_is_z_outer_then_y_then_x(tmp_path):
    path = tmp_path / "m.bsy"
    write_3d(path, lambda x, y, z: 1 + 10 * x + 100 * y + 1000 * z)
    t = read_table(path, 3)
    assert isinstance(t, FieldMap3D)
    assert t.values.shape == (5, 3, 4) and t.length == 0.2
    assert t.x == (-0.01, 0.02) and t.y == (-0.02, 0.02)
    # node (k, j, i): z = 0.05 k, y = -0.02 + 0.02 j, x = -0.01 + 0.01 i; Norm divided out
    assert t.values[2, 1, 3] == pytest.approx(1 + 10 * 0.02 + 100 * 0.0 + 1000 * 0.1)
    assert read_table(path, 3) is t  # read once, shared


def test_a_2d_table_is_z_outer_then_r(tmp_path):
    path = tmp_path / "s.bsr"
    nz, nr, zmax, rmax = 3, 2, 0.3, 0.02
    vals = [(k + 1) * 10 + i for k in range(nz + 1) for i in range(nr + 1)]
    path.write_text(f"{nz} {zmax}\n{nr} {rmax}\n10\n" + " ".join(map(str, vals)))
    t = read_table(path, 2)
    assert isinstance(t, FieldMap2D) and t.values.shape == (4, 3) and t.rmax == rmax
    assert t.values[2, 1] == pytest.approx(3.1)


def test_a_rewritten_file_is_read_again(tmp_path):
    path = tmp_path / "a.bsz"
    path.write_text("2 0.1\n1\n0 1 0\n")
    assert read_table(path, 1).values[1] == 1.0
    path.write_text("2 0.1\n1\n0 2.5 0\n")
    assert read_table(path, 1).values[1] == 2.5


def test_every_table_of_a_map_is_read(tmp_path):
    for comp in "xyz":
        write_3d(tmp_path / f"dip.bs{comp}", lambda x, y, z, c=comp: ord(c))
    files = read_field_map(tmp_path, "dip", 70)
    assert set(files.tables) == {"static_b"} and set(files.tables["static_b"]) == set("xyz")
    assert files.tables["static_b"]["y"].values[0, 0, 0] == ord("y")
    assert files.length == 0.2
    # a name given with an extension, or an absolute one, finds the same files
    assert prefix_path(tmp_path, "dip.bsz") == tmp_path / "dip"
    assert read_field_map("/nowhere", str(tmp_path / "dip"), 70).tables == files.tables


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4 0.2\n3 -0.01 0.02\n", "missing header line 'ny ymin"),
        ("4 0.2\n3 0.02 0.01\n2 -0.02 0.02\n1\n", "xmin < xmax"),
        ("4 0.2\n3 -0.01 0.02\n2 -0.02 0.02\n0\n1 2", "Norm is 0"),
        ("4 0.2\n3 -0.01 0.02\n2 -0.02 0.02\n1\n1 2 x", r":5: 'x' is not a number"),
        ("4 0.2\n3 -0.01 0.02\n2 -0.02 0.02\n1\n1 2 3", r"3 field values.*= 60"),
        ("4.5 0.2\n", "nz = 4.5"),
    ],
)
def test_bad_tables_are_named_with_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.edx"
    path.write_text(text)
    with pytest.raises(TraceWinFormatError, match=message) as err:
        read_table(path, 3)
    assert "bad.edx" in str(err.value)


def test_missing_and_binary_maps_say_what_to_do(tmp_path):
    with pytest.raises(TraceWinFormatError, match="field map not found: check FIELD_MAP_PATH"):
        read_field_map(tmp_path, "none", 70)
    (tmp_path / "b.bsz").write_bytes(b"\x10\x00\x00\x00" + bytes(64))
    with pytest.raises(TraceWinFormatError, match="binary field map"):
        read_table(tmp_path / "b.bsz", 1)
