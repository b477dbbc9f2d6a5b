"""``benchmarks/checkpoint_scores.py --pair``: paired differences of two variants, seed by seed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from checkpoint_scores import paired_differences, parse_pair  # noqa: E402


def run(*accuracies: float) -> dict[int, dict]:
    return {epoch: {"test_accuracy": a} for epoch, a in enumerate(accuracies, start=1)}


def test_differences_are_paired_by_seed_and_epoch():
    runs = {("a", 0): run(0.90, 0.97), ("a", 1): run(0.80, 0.95), ("a", 2): run(0.70),
            ("b", 0): run(0.88, 0.98), ("b", 1): run(0.84, 0.93), ("b", 3): run(0.99, 0.99)}
    rows = paired_differences(runs, "a", "b")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[0]["seeds"] == [0, 1]  # seed 2 (a only) and 3 (b only) are not paired
    assert rows[0]["differences"] == pytest.approx([0.02, -0.04])
    assert rows[0]["mean"] == pytest.approx(-0.01)
    assert rows[0]["standard_error"] == pytest.approx(0.03)  # sd 0.0424 / sqrt(2)
    assert (rows[0]["ahead"], rows[0]["behind"]) == (1, 1)
    assert rows[1]["differences"] == pytest.approx([-0.01, 0.02])
    assert (rows[1]["ahead"], rows[1]["behind"]) == (1, 1)


def test_one_shared_seed_has_no_standard_error_and_ties_count_neither_way():
    rows = paired_differences({("a", 5): run(0.5), ("b", 5): run(0.5)}, "a", "b")
    assert rows == [{"epoch": 1, "seeds": [5], "differences": [0.0], "mean": 0.0,
                     "standard_error": None, "ahead": 0, "behind": 0}]


def test_an_epoch_only_some_seeds_reached_uses_those_seeds():
    runs = {("a", 0): run(0.9, 0.95), ("a", 1): run(0.9), ("b", 0): run(0.8, 0.90),
            ("b", 1): run(0.7)}
    rows = paired_differences(runs, "a", "b")
    assert rows[1]["seeds"] == [0] and rows[1]["differences"] == pytest.approx([0.05])


@pytest.mark.parametrize("bad", ["infovaegan", "infovaegan:", ":infogan"])
def test_a_malformed_pair_is_refused_by_name(bad):
    with pytest.raises(SystemExit, match="--pair takes VARIANT_A:VARIANT_B"):
        parse_pair(bad)
    assert parse_pair("infovaegan:infogan") == ("infovaegan", "infogan")
