"""Reading, modifying and writing `.dat` lattices."""

from __future__ import annotations

import pytest

from accelerate_rl.tracewin import (
    DatSyntaxError,
    InvalidParameterError,
    parse_dat_text,
    read_dat,
    read_out,
)

REAL_LATTICES = [
    "lattices/ess-mebt-tgt-bl14.dat",
    "lattices/jaea-ads-026.dat",
    "lattices/lightwin-bigger_repeat_ele.dat",
    "lattices/lightwin-repeat_ele.dat",
    "lattices/lightwin-set_sync_phase.dat",
    "lattices/lightwin-superpose_map.dat",
    "lattices/myrrha-transi-100MeV.dat",
    "lattices/pip2-linac.dat",
    "lightwin-spoke-run/work_field_map.dat",
    "lightwin-example/example.dat",
]


@pytest.mark.parametrize("name", REAL_LATTICES)
def test_every_real_lattice_reads_and_numbers_elements_consecutively(samples, name):
    lattice = read_dat(samples / name)
    assert len(lattice) > 0
    assert [e.number for e in lattice] == list(range(1, len(lattice) + 1))


@pytest.mark.parametrize("name", REAL_LATTICES)
def test_real_lattice_survives_write_and_reread(samples, name, tmp_path):
    lattice = read_dat(samples / name)
    again = read_dat(lattice.write(tmp_path / "copy.dat"))
    assert [(e.keyword, e.args, e.label) for e in again] == [
        (e.keyword, e.args, e.label) for e in lattice
    ]


def test_spoke_lattice_numbers_match_the_real_tracewin_out(spoke):
    lattice = read_dat(spoke / "work_field_map.dat")
    assert len(lattice) == 39
    numbers = set(read_out(spoke / "tracewin.out")["##"])
    assert numbers == set(range(0, 40))
    assert lattice.element(6).keyword == "FIELD_MAP"
    assert lattice.element(6).args[-2] == "Simple_Spoke_1D"


def test_repeat_ele_expands_blocks_as_tracewin_numbers_them(samples):
    assert len(read_dat(samples / "lattices/lightwin-bigger_repeat_ele.dat")) == 2 + 4 * 100 + 2
    small = read_dat(samples / "lattices/lightwin-repeat_ele.dat")
    assert [e.keyword for e in small] == ["DRIFT"] + ["QUAD"] * 10 + ["DRIFT"]


def test_override_of_a_repeated_element_unrolls_the_block_and_touches_only_that_copy(samples):
    lattice = read_dat(samples / "lattices/lightwin-repeat_ele.dat")
    changed = lattice.with_params({"ele[5][2]": 7.5})
    assert len(changed) == 12
    grads = [e.param(2) for e in changed if e.keyword == "QUAD"]
    assert grads == [15, 15, 15, 7.5] + [15] * 6
    assert "REPEAT_ELE" not in [s.keyword for s in changed.statements]


DAT = """; header comment
FIELD_MAP_PATH C:\\maps
freq 352.2
Louise: DRIFT 76 ; trailing comment
AD.ST.01 : THIN_STEERING 0.01 0 150 0
ACCT :
HWR CM:
lattice 2 0
quad 100 -.98E-08 30
DIAG_SIZE(1e3) 7 1 2
STEERER 0.001 0
Drift 1e-008 20
end
QUAD this is ignored after END
"""


def test_lexical_rules_labels_comments_case_and_end():
    lattice = parse_dat_text(DAT, "mem.dat")
    assert [e.keyword for e in lattice] == ["DRIFT", "THIN_STEERING", "QUAD", "DIAG_SIZE", "DRIFT"]
    assert lattice.element(1).label == "Louise"
    assert lattice.element(2).label == "AD.ST.01"
    assert lattice.element(3).param(2) == pytest.approx(-0.98e-8)
    assert lattice.element(4).statement.weight == "1e3"
    assert lattice.element(5).param(1) == 1e-8
    commands = [s.keyword for s in lattice.statements if not s.is_element]
    assert commands == ["FIELD_MAP_PATH", "FREQ", "", "", "LATTICE", "STEERER"]
    markers = [s.label for s in lattice.statements if s.keyword == ""]
    assert markers == ["ACCT", "HWR CM"]
    assert lattice.statements[0].args == ("C:\\maps",)


def test_write_keeps_comments_labels_and_the_trailer(tmp_path):
    lattice = parse_dat_text(DAT, "mem.dat").with_params({"ele[1][1]": 80})
    text = lattice.write(tmp_path / "out.dat").read_text()
    assert "; header comment" in text
    assert "Louise : DRIFT 80 ; trailing comment" in text
    assert "QUAD this is ignored after END" in text
    assert read_dat(tmp_path / "out.dat").element(1).param(1) == 80


def test_non_utf8_bytes_are_tolerated_and_written_back(tmp_path):
    path = tmp_path / "latin.dat"
    path.write_bytes(b"; Ma\xdfe in \xb0\nDRIFT 10 20\nEND\n")
    lattice = read_dat(path)
    assert len(lattice) == 1
    lattice.write(tmp_path / "again.dat")
    assert (tmp_path / "again.dat").read_bytes().startswith(b"; Ma\xdfe in \xb0")


def test_unknown_keyword_names_file_line_and_keyword(tmp_path):
    path = tmp_path / "typo.dat"
    path.write_text("DRIFT 10 20\nQAUD 100 5 20\nEND\n")
    with pytest.raises(DatSyntaxError) as err:
        read_dat(path)
    assert err.value.line == 2
    assert "typo.dat:2" in str(err.value) and "QAUD" in str(err.value)


def test_lenient_mode_keeps_unknown_keywords_unnumbered(tmp_path):
    path = tmp_path / "typo.dat"
    path.write_text("DRIFT 10 20\nuscita CB\nQUAD 100 5 20\nEND\n")
    lattice = read_dat(path, strict=False)
    assert [e.keyword for e in lattice] == ["DRIFT", "QUAD"]


def test_malformed_number_is_an_error_naming_the_parameter(tmp_path):
    path = tmp_path / "bad.dat"
    path.write_text("DRIFT 1O0 20\n")
    with pytest.raises(DatSyntaxError, match=r"bad.dat:1.*parameter 1 \(L\)"):
        read_dat(path)


def test_missing_lattice_file_is_a_format_error(tmp_path):
    with pytest.raises(DatSyntaxError, match="missing.dat"):
        read_dat(tmp_path / "missing.dat")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("ele[40][1]", 1.0, r"valid range 1..39"),
        ("ele[0][1]", 1.0, r"valid range 1..39"),
        ("ele[1][10]", 1.0, r"parameters 1..9"),
        ("ele[6][9]", 1.0, r"text"),
        ("ele[1][2]", "abc", r"not a number"),
        ("ele[1][2]", float("nan"), r"not finite"),
        ("nbr_part1", 10, r"not an ele\[n\]\[v\] key"),
    ],
)
def test_bad_overrides_name_the_key_and_the_valid_range(spoke, key, value, match):
    lattice = read_dat(spoke / "work_field_map.dat")
    with pytest.raises(InvalidParameterError, match=match) as err:
        lattice.with_params({key: value})
    assert err.value.key == key


def test_with_params_returns_a_new_lattice_and_leaves_the_original(spoke):
    lattice = read_dat(spoke / "work_field_map.dat")
    changed = lattice.with_params({"ele[1][2]": -3.25, "ele[6][3]": "120.5"})
    assert changed.element(1).param(2) == -3.25
    assert changed.element(6).param(3) == 120.5
    assert lattice.element(1).param(2) == pytest.approx(4.91137)


def test_override_can_set_an_omitted_trailing_parameter():
    lattice = parse_dat_text("DRIFT 100\nEND\n")
    assert lattice.with_params({"ele[1][2]": 25}).element(1).args == ("100", "25")
