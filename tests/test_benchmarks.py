"""The benchmark scripts' arithmetic, against values worked out by hand (the benchmarks themselves are `make bench`)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import distill_table  # noqa: E402


def test_paired_difference_matches_a_hand_computed_t_interval():
    # differences 2, 1, 2 points: mean 5/3, sample sd 0.57735, t(0.975, 2 df) = 4.30265 -> half width 1.43424
    d = distill_table.paired_difference([0.90, 0.90, 0.89], [0.88, 0.89, 0.87])
    assert d["values"] == pytest.approx([2.0, 1.0, 2.0])
    assert d["mean"] == pytest.approx(5 / 3)
    assert (d["low"], d["high"]) == pytest.approx((5 / 3 - 1.43424, 5 / 3 + 1.43424), abs=1e-4)


def test_paired_difference_of_one_seed_has_no_interval():
    d = distill_table.paired_difference([0.80], [0.81])
    assert d["mean"] == pytest.approx(-1.0) and d["low"] is None and d["high"] is None


def test_per_seed_rows_follow_the_seeds():
    vals = lambda *v: {"values": list(v)}
    result = {"seeds": [3, 7], "summary": {"teacher (acc + gyro), head": vals(0.95, 0.94), "student alone (acc)": vals(0.88, 0.90),
                                           "student distilled (acc)": vals(0.91, 0.89),
                                           "student distilled, ONNX INT8": vals(0.905, 0.885)}}
    rows = distill_table.per_seed(result)
    assert rows[2] == "| 3 | 95.0% | 88.0% | 91.0% | 90.5% | +3.0 |  |"
    assert rows[3] == "| 7 | 94.0% | 90.0% | 89.0% | 88.5% | -1.0 |  |"
    result["best_epochs"] = {"3": {"student_scratch": 4, "student_kd": 19}}
    assert distill_table.per_seed(result)[2].endswith("| +3.0 | 4 / 19 |")


def test_best_epochs_read_from_the_run_folders(tmp_path):
    import json
    (tmp_path / "seed5" / "student_kd").mkdir(parents=True)
    (tmp_path / "seed5" / "student_kd" / "history.json").write_text(json.dumps(
        [{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2, "val_accuracy": 0.8}, {"epoch": 3, "val_accuracy": 0.7}]))
    assert distill_table.best_epochs(tmp_path, [5]) == {"5": {"student_scratch": None, "student_kd": 2}}


def test_each_recipe_has_its_own_results_section():
    assert distill_table.section_name({"config": {"recipe": "full"}}) == "distill"
    assert distill_table.section_name({"config": {}}) == "distill"   # results written before recipes had names
    assert distill_table.section_name({"config": {"recipe": "light"}}) == "distill_light"
    assert "distill_light" in distill_table._results.SECTIONS


def test_last_epoch_diagnostic_needs_every_student(tmp_path):
    (tmp_path / "seed0" / "student_kd").mkdir(parents=True)
    (tmp_path / "seed0" / "student_kd" / "latest.safetensors").write_bytes(b"")
    assert distill_table.last_epoch_accuracy(tmp_path, [0]) is None   # student_scratch/latest.safetensors is missing
