"""Reading and writing TraceWin's output and binary files, on the real run and on files
made here for every branch."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest

from accelerate_rl.tracewin import (
    Distribution,
    Plt,
    PltRecord,
    TraceWinFormatError,
    TransferMatrices,
    read_dst,
    read_ini,
    read_out,
    read_plt,
    read_transfer_matrices,
    write_dst,
    write_out,
    write_plt,
    write_transfer_matrices,
)
from accelerate_rl.tracewin.plt import QUANT

# ---------------------------------------------------------------- tracewin.out / partran1.out


def test_out_header_values_land_in_attrs(spoke):
    df = read_out(spoke / "tracewin.out")
    assert df.attrs["mc2"] == pytest.approx(938.272029)
    assert df.attrs["freq"] == pytest.approx(176.1)
    assert df.attrs["npart"] == 10
    assert df["##"].iloc[0] == 0 and df["##"].iloc[-1] == 39
    assert df["SizeX"].iloc[0] == pytest.approx(2.964078)


def test_partran_and_tracewin_out_share_column_names(spoke):
    env = read_out(spoke / "tracewin.out")
    part = read_out(spoke / "partran1.out")
    assert list(env.columns) == list(part.columns)
    assert part["e6D"].notna().all() and "E6D" not in part.columns
    # Fortran numbers such as -.9822543E-08 are read
    assert part["y'0"].iloc[0] == pytest.approx(-0.9822543e-08)


def test_out_rows_inside_field_maps_are_kept(spoke):
    df = read_out(spoke / "tracewin.out")
    assert (df["##"] == 6).sum() > 1
    assert df["z(m)"].is_monotonic_increasing


def test_out_writer_round_trips_through_the_reader(tmp_path, spoke):
    df = read_out(spoke / "tracewin.out")
    path = write_out(
        tmp_path / "tracewin.out", df, mc2=938.272029, freq=176.1, charge=1, current=0.0, npart=10
    )
    again = read_out(path)
    assert list(again.columns) == list(df.columns)
    np.testing.assert_allclose(again.to_numpy(float), df.to_numpy(float), rtol=1e-6, atol=1e-12)
    assert again.attrs["freq"] == pytest.approx(176.1)


def test_out_writer_fills_missing_columns_with_zeros(tmp_path):
    table = {"##": np.array([0, 1]), "z(m)": np.array([0.0, 0.5]), "SizeX": np.array([1.0, 2.0])}
    df = read_out(
        write_out(tmp_path / "t.out", table, mc2=1.0, freq=1.0, charge=1, current=0, npart=0)
    )
    assert df["SizeX"].tolist() == [1.0, 2.0] and df["SizeY"].tolist() == [0.0, 0.0]


def test_ragged_out_row_names_its_line(tmp_path, spoke):
    lines = (spoke / "tracewin.out").read_text().splitlines()
    lines[13] = " ".join(lines[13].split()[:20])
    path = tmp_path / "tracewin.out"
    path.write_text("\n".join(lines))
    with pytest.raises(TraceWinFormatError) as err:
        read_out(path)
    assert err.value.line == 14 and "truncated" in str(err.value)


@pytest.mark.parametrize("content", [b"", b"garbage\nno header\n"])
def test_empty_or_headerless_out_is_a_format_error(tmp_path, content):
    path = tmp_path / "tracewin.out"
    path.write_bytes(content)
    with pytest.raises(TraceWinFormatError, match="tracewin.out"):
        read_out(path)


# ---------------------------------------------------------------- .dst


def test_dst_reads_the_real_file_in_explicit_units(spoke):
    dist = read_dst(spoke / "part_rfq.dst")
    assert dist.n_particles == 10
    assert dist.freq == pytest.approx(176.1) and dist.mass == pytest.approx(938.272029)
    # file stores cm and rad; we expose mm and deg
    assert dist.particles[0, 0] == pytest.approx(dist.raw[0, 0] * 10)
    assert dist.particles[0, 4] == pytest.approx(np.degrees(dist.raw[0, 4]))
    assert dist.particles[:, 5].mean() == pytest.approx(16.6, abs=0.05)


def test_dst_round_trip_is_exact(tmp_path, spoke):
    original = (spoke / "part_dtl1.dst").read_bytes()
    dist = read_dst(spoke / "part_dtl1.dst")
    written = write_dst(tmp_path / "x.dst", dist).read_bytes()
    # identical but for TraceWin's 3 filler bytes (offsets 0, 1 and 22), which we write as 0
    fillers = {0, 1, 22}
    assert len(written) == len(original)
    assert [
        i for i, (a, b) in enumerate(zip(written, original)) if a != b and i not in fillers
    ] == []
    again = read_dst(tmp_path / "x.dst")
    np.testing.assert_array_equal(again.raw, dist.raw)
    assert (again.current, again.freq, again.mass) == (dist.current, dist.freq, dist.mass)


def test_dst_seven_columns_are_inferred_from_size(tmp_path):
    rng = np.random.default_rng(1)
    dist = Distribution(rng.normal(size=(5, 6)), 2.0, 352.2, 938.0, extra=np.arange(5.0))
    again = read_dst(write_dst(tmp_path / "seven.dst", dist))
    np.testing.assert_array_equal(again.raw, dist.raw)
    np.testing.assert_array_equal(again.extra, dist.extra)


def test_dst_from_physical_converts_units():
    dist = Distribution.from_physical(
        np.array([[10.0, 1.0, -5.0, 2.0, 180.0, 3.0]]), current=1, freq=100, mass=938
    )
    np.testing.assert_allclose(dist.raw[0], [1.0, 1e-3, -0.5, 2e-3, np.pi, 3.0])


@pytest.mark.parametrize("cut", [0, 10, 100, 510])
def test_truncated_dst_is_a_format_error_with_offset(tmp_path, spoke, cut):
    path = tmp_path / "cut.dst"
    path.write_bytes((spoke / "part_rfq.dst").read_bytes()[:cut])
    with pytest.raises(TraceWinFormatError) as err:
        read_dst(path)
    assert err.value.offset is not None and "cut.dst" in str(err.value)


# ---------------------------------------------------------------- .plt


def test_compressed_plt_first_and_last_records_match_the_dst_files(spoke):
    plt = read_plt(spoke / "dtl1.plt")
    assert plt.compressed and plt.n_particles == 10 and plt.n_elements == 39
    for rec, dst in ((plt.records[0], "part_rfq.dst"), (plt.records[-1], "part_dtl1.dst")):
        raw = read_dst(spoke / dst).raw
        step = (raw.max(axis=0) - raw.min(axis=0)) / QUANT
        # half a step, plus float32 rounding of the stored minima and ranges
        assert np.all(np.abs(rec.raw - raw) <= 0.5 * step + 1e-7 * np.abs(raw).max(axis=0))
    assert plt.records[-1].element == 39
    assert plt.records[1].z == pytest.approx(0.2)


def test_plt_round_trip_within_float32_both_layouts(tmp_path, spoke):
    plt = read_plt(spoke / "dtl1.plt")
    for compressed in (True, False):
        again = read_plt(write_plt(tmp_path / "x.plt", plt, compressed=compressed))
        assert again.compressed is compressed and len(again.records) == len(plt.records)
        for a, b in zip(again.records, plt.records):
            span = np.maximum(np.abs(b.raw).max(axis=0), 1e-30)
            assert np.all(
                np.abs(a.raw - b.raw) <= 1e-6 * span + (span / QUANT if compressed else 0)
            )
            assert a.element == b.element and a.z == pytest.approx(b.z)


def test_plt_loss_flags_survive_a_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    records = [
        PltRecord(k, 0.1 * k, 0.0, 5.0, rng.normal(size=(4, 6)), np.array([0, 0, k, 0]))
        for k in range(3)
    ]
    plt = Plt(2, 1.5, 352.2, 938.0, records, compressed=False)
    again = read_plt(write_plt(tmp_path / "l.plt", plt))
    assert [list(r.loss) for r in again.records] == [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 2, 0]]
    assert again.current == pytest.approx(1.5)
    assert list(again.at_element(1).alive) == [True, True, False, True]


def test_truncated_plt_names_an_offset(tmp_path, spoke):
    path = tmp_path / "cut.plt"
    path.write_bytes((spoke / "dtl1.plt").read_bytes()[:1000])
    with pytest.raises(TraceWinFormatError) as err:
        read_plt(path)
    assert err.value.offset is not None


# ---------------------------------------------------------------- Transfer_matrix1.dat


def test_transfer_matrices_of_the_real_run(spoke):
    tm = read_transfer_matrices(spoke / "Transfer_matrix1.dat")
    assert tm.matrices.shape == (39, 6, 6)
    assert list(tm.elements) == list(range(1, 40))
    assert tm.s[0] == pytest.approx(0.2)
    # a 150 mm drift after the first quad: R12 grows by 0.15 m times R22
    m1, m2 = tm.of_element(1), tm.of_element(2)
    assert m2[0, 1] == pytest.approx(m1[0, 1] + 0.15 * m1[1, 1], rel=1e-5)


def test_transfer_matrices_round_trip(tmp_path, spoke):
    tm = read_transfer_matrices(spoke / "Transfer_matrix1.dat")
    again = read_transfer_matrices(write_transfer_matrices(tmp_path / "T.dat", tm))
    np.testing.assert_allclose(again.matrices, tm.matrices, rtol=1e-6)
    np.testing.assert_array_equal(again.elements, tm.elements)


def test_truncated_transfer_matrix_block_names_its_line(tmp_path):
    tm = TransferMatrices(np.array([1]), np.array([0.5]), np.eye(6)[None])
    path = write_transfer_matrices(tmp_path / "T.dat", tm)
    path.write_text("\n".join(path.read_text().splitlines()[:4]))
    with pytest.raises(TraceWinFormatError, match="truncated"):
        read_transfer_matrices(path)


# ---------------------------------------------------------------- .ini


def test_ini_beam_agrees_with_the_output_headers(spoke):
    beam = read_ini(spoke / "work_field_map.ini")
    head = read_out(spoke / "tracewin.out").attrs
    assert beam.freq == pytest.approx(head["freq"])
    assert beam.mass == pytest.approx(head["mc2"])
    assert beam.n_particles == head["npart"]
    assert beam.current == pytest.approx(head["I"])
    assert beam.charge == head["Z"]
    assert beam.energy == pytest.approx(16.6)
    assert (beam.etnx, beam.etny) == pytest.approx((0.24, 0.24))
    assert (beam.alpx, beam.betx) == pytest.approx((-2.7324083, 6.9164778))
    out = read_out(spoke / "tracewin.out")
    assert out["ex"].iloc[0] == pytest.approx(beam.etnx)


def test_ini_of_the_502_mev_linac(samples):
    beam = read_ini(samples / "lightwin-example/example.ini")
    assert beam.energy == pytest.approx(20.0) and beam.current == pytest.approx(5.0)
    assert beam.n_particles == 50000 and beam.freq == pytest.approx(100.0)


def _ini_bytes(size: int) -> bytearray:
    data = bytearray(size)
    data[: len(b"TraceWin_options_file")] = b"TraceWin_options_file"
    struct.pack_into("<i", data, 0x2ED0, 1000)
    for off, val in (
        (0x2F24, 352.2),
        (0x2F34, 0.01),
        (0x2F44, 3e6),
        (0x2F54, 2e-7),
        (0x2F64, 2e-7),
        (0x2F74, 3e-7),
        (0x30E4, 1.0),
        (0x3104, 2.0),
        (0x3124, 3.0),
        (0x3254, 938272088.16),
    ):
        struct.pack_into("<d", data, off, val)
    struct.pack_into("<i", data, 0x325C, -1)
    return data


@pytest.mark.parametrize("size", [31_624, 44_824])
def test_ini_both_layouts(tmp_path, size):
    path = tmp_path / "p.ini"
    path.write_bytes(_ini_bytes(size))
    beam = read_ini(path)
    assert beam.energy == pytest.approx(3.0) and beam.current == pytest.approx(10.0)
    assert beam.charge == -1 and beam.bety == 2.0 and beam.n_particles == 1000


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b.__setitem__(slice(0, 8), b"Garbage!"), "must start with"),
        (lambda b: b.__delitem__(slice(40_000, None)), "known .ini layouts"),
        (lambda b: struct.pack_into("<d", b, 0x2F44, -1.0), "energy"),
    ],
)
def test_bad_ini_is_a_format_error(tmp_path, mutate, match):
    data = _ini_bytes(44_824)
    mutate(data)
    path = tmp_path / "bad.ini"
    path.write_bytes(bytes(data))
    with pytest.raises(TraceWinFormatError, match=match):
        read_ini(path)


def test_every_reader_reports_missing_files_as_format_errors(tmp_path):
    for reader in (read_out, read_dst, read_plt, read_transfer_matrices, read_ini):
        with pytest.raises(TraceWinFormatError, match="nothere"):
            reader(tmp_path / "nothere")


def test_out_reader_returns_dataframe(spoke):
    assert isinstance(read_out(spoke / "partran1.out"), pd.DataFrame)


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("part_rfq.dst", read_dst),
        ("dtl1.plt", read_plt),
        ("work_field_map.ini", read_ini),
        ("tracewin.out", read_out),
        ("Transfer_matrix1.dat", read_transfer_matrices),
    ],
)
def test_every_truncation_or_corruption_is_a_format_error_or_a_clean_read(
    tmp_path, spoke, name, reader
):
    """Cut the real file at many lengths and flip bytes: nothing but TraceWinFormatError."""
    data = (spoke / name).read_bytes()
    rng = np.random.default_rng(0)
    cuts = sorted({0, 1, 2, 5, 33, len(data) - 1, *rng.integers(0, len(data), 40).tolist()})
    path = tmp_path / name
    for cut in cuts:
        path.write_bytes(data[:cut])
        try:
            reader(path)
        except TraceWinFormatError as exc:
            assert name in str(exc)
    for _ in range(20):
        corrupt = bytearray(data)
        for pos in rng.integers(0, len(data), 8):
            corrupt[pos] = int(rng.integers(0, 256))
        path.write_bytes(bytes(corrupt))
        try:
            reader(path)
        except TraceWinFormatError:
            pass
