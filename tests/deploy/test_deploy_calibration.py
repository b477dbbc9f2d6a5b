"""Real images for an export: the seeded calibration/held-out split, where they are found (the
saved model's ``trained_on``, else the run's metrics.json), and the held-out measurement the
exporter writes into the sidecar once."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.calibration import (
    CalibrationError,
    find_real_images,
    split_images,
)
from infovaegan_plugin.deploy.export import export_onnx


def test_split_is_seeded_disjoint_and_sized():
    images = np.arange(50, dtype=np.float32).reshape(50, 1, 1, 1)
    real = split_images(images, 20, "x")
    again = split_images(images, 20, "x")
    np.testing.assert_array_equal(real.calibration, again.calibration)
    assert (len(real.calibration), len(real.held_out)) == (20, 20)
    assert not set(real.calibration.ravel()) & set(real.held_out.ravel())
    assert real.source == "x: 20 held-out images"
    few = split_images(images[:5], 20, "x")
    assert few.held_out is few.calibration and "too few to hold any out" in few.source


def _saved(make_model, folder, **overrides):
    make_model((1, 8, 8), **overrides).save(str(folder))
    return folder


def test_the_trained_on_data_set_is_found(make_model, tmp_path):
    folder = _saved(make_model, tmp_path / "model", trained_on="digits")
    real, why_not = find_real_images(folder, None, None, size=30)
    assert why_not is None and real.source == "digits: 30 held-out images"
    assert real.calibration.shape == (30, 1, 8, 8)


def test_models_saved_before_fall_back_to_the_run_metrics(make_model, tmp_path):
    folder = _saved(make_model, tmp_path / "run" / "final_model")
    raw = json.loads((folder / "model_config.json").read_text())
    del raw["trained_on"]
    (folder / "model_config.json").write_text(json.dumps(raw))
    real, why_not = find_real_images(folder, None, None, size=30)
    assert real is None and "no training-run metrics.json names the data set" in why_not
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"dataset": "digits"}))
    real, why_not = find_real_images(folder, None, None, size=30)
    assert why_not is None and real.source.startswith("digits")


def test_a_path_or_unloadable_recorded_set_only_falls_back(make_model, tmp_path):
    folder = _saved(make_model, tmp_path / "a", trained_on="my_pictures")
    real, why_not = find_real_images(folder, None, None, size=30)
    assert real is None and "a path it does not record" in why_not
    folder = _saved(make_model, tmp_path / "b", trained_on="mnist-train")
    real, why_not = find_real_images(folder, None, None, size=30)
    assert real is None and "(give it with --data-dir)" in why_not


def test_an_explicit_calibration_that_does_not_fit_is_an_error(make_model, tmp_path):
    folder = _saved(make_model, tmp_path / "model")
    with pytest.raises(CalibrationError, match="dsprites has images of shape") as info:
        find_real_images(folder, "dsprites", None, size=10)
    assert info.value.needs_data_dir is False
    with pytest.raises(CalibrationError) as info:
        find_real_images(folder, "mnist", None, size=10)
    assert info.value.needs_data_dir is True


def test_export_measures_variants_on_held_out_images_in_one_sidecar(make_model, tmp_path):
    from infovaegan_plugin.data import load_digits_data

    real = split_images(load_digits_data().images, 40, "digits")
    result = export_onnx(make_model((1, 8, 8)), tmp_path / "onnx", fp16=True,
                         calibration_images=real.calibration, held_out_images=real.held_out,
                         held_out_label=real.source)
    held = result.held_out_deviation["fp16"]
    assert held["n_images"] == 40 and held["images"] == "digits: 40 held-out images"
    assert 0 <= held["max_abs_error"]["categorical_probs"] < 0.05
    sidecar = md.read_sidecar(result.sidecar_path)
    assert sidecar["held_out_deviation"] == json.loads(json.dumps(result.held_out_deviation))
    plain = export_onnx(make_model((1, 8, 8)), tmp_path / "plain", fp16=True)
    assert plain.held_out_deviation == {} and "held_out_deviation" not in plain.metadata


def test_the_recorded_data_set_is_stamped_without_being_passed(make_model, tmp_path):
    result = export_onnx(make_model((1, 8, 8), trained_on="digits"), tmp_path / "a")
    assert result.metadata["models"]["encoder.onnx"][md.TRAINING_DATASET] == "digits"
    named = export_onnx(make_model((1, 8, 8), trained_on="digits"), tmp_path / "b",
                        dataset_name="mnist-train")
    assert named.metadata["models"]["encoder.onnx"][md.TRAINING_DATASET] == "mnist-train"
    unknown = export_onnx(make_model((1, 8, 8)), tmp_path / "c")
    assert unknown.metadata["models"]["encoder.onnx"][md.TRAINING_DATASET] is None
