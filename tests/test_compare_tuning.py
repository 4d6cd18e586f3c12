"""compare_tuning.py: a run continued with --first and merged equals one run over all
its trials (means and success rate; the medians are unknown and say so)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import compare_tuning  # noqa: E402


def _run(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / f"{name}.json"
    compare_tuning.main(["--methods", "random", "--machines", "design", *args, "--out", str(out)])
    return out


def test_a_continued_run_merges_into_the_run_over_all_its_trials(tmp_path):
    whole = json.loads(_run(tmp_path, "whole", "--trials", "3").read_text())
    head = _run(tmp_path, "head", "--trials", "1")
    tail = _run(tmp_path, "tail", "--trials", "3", "--first", "1")
    report = compare_tuning.main(["--merge", str(head), str(tail), "--out", str(tmp_path / "m")])
    row, expected = (r["machines"]["design"]["random"] for r in (report, whole))
    assert row["trials"] == 3 and row["first"] == 0
    for key in ("success_rate", "simulations_mean", "final_error_mean", "travel_mean"):
        assert row[key] == pytest.approx(expected[key], rel=1e-9), key
    assert row["final_error_median"] is None and expected["final_error_median"] is not None
    assert "| design | random | 3 |" in compare_tuning.markdown(report)


def test_a_run_that_does_not_continue_the_earlier_one_replaces_it(tmp_path):
    head = _run(tmp_path, "head", "--trials", "1")
    again = _run(tmp_path, "again", "--trials", "2")
    report = compare_tuning.merged([json.loads(p.read_text()) for p in (head, again)])
    assert report["machines"]["design"]["random"]["trials"] == 2
