"""Reading a saved model's config without building it, and the data set it was trained on:
the config's ``trained_on``, else (models saved before it existed) the run's metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infovaegan_plugin import InfoVAEGAN
from infovaegan_plugin.saved_models import (
    read_json_object,
    read_model_config,
    recorded_dataset,
    saved_input_dim,
)


def _save(make_model, folder: Path, **overrides) -> Path:
    model = make_model(**overrides)
    model.save(str(folder))
    return folder


def test_trained_on_travels_with_the_saved_model(make_model, tmp_path):
    folder = _save(make_model, tmp_path / "model", trained_on="digits")
    assert read_model_config(folder)["trained_on"] == "digits"
    assert recorded_dataset(folder) == "digits"
    assert InfoVAEGAN.load_from_folder(str(folder)).model_config.trained_on == "digits"
    from pythae.models import AutoModel

    assert AutoModel.load_from_folder(str(folder)).model_config.trained_on == "digits"


def test_a_model_saved_before_trained_on_falls_back_to_the_run_metrics(make_model, tmp_path):
    run = tmp_path / "InfoVAEGAN_training_x"
    folder = _save(make_model, run / "final_model")
    raw = read_model_config(folder)
    del raw["trained_on"]  # exactly what an older version wrote
    (folder / "model_config.json").write_text(json.dumps(raw))
    assert InfoVAEGAN.load_from_folder(str(folder)).model_config.trained_on is None
    assert recorded_dataset(folder) is None
    (run / "metrics.json").write_text(json.dumps({"dataset": "mnist-train"}))
    assert recorded_dataset(folder) == "mnist-train"


def test_the_config_wins_over_the_metrics(make_model, tmp_path):
    run = tmp_path / "run"
    folder = _save(make_model, run / "final_model", trained_on="dsprites")
    (run / "metrics.json").write_text(json.dumps({"dataset": "digits"}))
    assert recorded_dataset(folder) == "dsprites"


def test_input_dim_and_unreadable_configs(make_model, tmp_path):
    folder = _save(make_model, tmp_path / "model")
    assert saved_input_dim(folder) == (1, 8, 8)
    (folder / "model_config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        read_model_config(folder)
    assert saved_input_dim(folder) is None
    assert saved_input_dim(tmp_path / "missing") is None
    with pytest.raises(OSError):
        read_model_config(tmp_path / "missing")


def test_read_json_object_refuses_what_is_not_an_object(tmp_path):
    path = tmp_path / "model_config.json"
    path.write_text(json.dumps({"name": "InfoVAEGANConfig"}))
    assert read_json_object(path) == {"name": "InfoVAEGANConfig"}
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"model_config.json holds list, not a JSON object"):
        read_json_object(path)
    with pytest.raises(OSError):
        read_json_object(tmp_path / "missing.json")
