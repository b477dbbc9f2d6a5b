"""Reading a saved model's config without building it, and the data set it was trained on:
the config's ``trained_on``, else (models saved before it existed) the run's metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infovaegan_plugin import InfoVAEGAN
from infovaegan_plugin.saved_models import (
    load_saved_model,
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


def test_load_saved_model_loads_infovaegan_from_its_weights(make_model, tmp_path):
    import torch

    model = make_model(seed=3)
    model.save(str(tmp_path / "model"))
    loaded = load_saved_model(tmp_path / "model")
    assert isinstance(loaded, InfoVAEGAN)
    for (name, saved), (_, got) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(saved, got), name


def test_load_saved_model_refuses_pickled_models_and_bad_configs(tmp_path):
    from infovaegan_plugin import ModelLoadError

    folder = tmp_path / "vae"
    folder.mkdir()
    (folder / "model_config.json").write_text(json.dumps({"name": "VAEConfig"}))
    with pytest.raises(ModelLoadError) as error:
        load_saved_model(folder)  # refused before any file with code is opened
    assert str(error.value) == (
        f"{folder} holds a pythae VAEConfig model; pythae saves custom networks with "
        "cloudpickle, which runs code when loaded. Pass allow_pickle=True if you trust this "
        "folder.")
    (folder / "model_config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"model_config.json is not valid JSON: "):
        load_saved_model(folder, allow_pickle=True)


HOSTILE_FIELDS = [
    ("input_dim", [1, 200_000, 200_000],
     "input_dim (1, 200000, 200000): 200000x200000 pixels has a side above the limit of 4096."),
    ("categorical_dims", [10**9], "categorical_dims [1000000000]: each code may have at most "
                                  "10,000 values."),
    ("continuous_dim", 10**9, "continuous_dim must be <= 1,000, got 1000000000."),
    ("noise_dim", 10**9, "noise_dim must be <= 10,000, got 1000000000."),
    ("hidden_dim", 10**9, "hidden_dim must be in [1, 16,384], got 1000000000."),
    ("base_channels", 10**9, "base_channels must be in [1, 1,024], got 1000000000."),
]


@pytest.mark.parametrize(("field", "value", "why"), HOSTILE_FIELDS,
                         ids=[f for f, _, _ in HOSTILE_FIELDS])
def test_a_config_sizing_absurd_networks_is_refused_before_building(make_model, tmp_path,
                                                                    monkeypatch, field, value,
                                                                    why):
    from pythae.models import AutoModel
    from pythae.models.auto_model import AutoConfig

    from infovaegan_plugin import ModelLoadError
    from infovaegan_plugin.models.infovaegan import infovaegan_model

    folder = _save(make_model, tmp_path / "model")
    raw = read_model_config(folder)
    raw[field] = value
    config_path = folder / "model_config.json"
    config_path.write_text(json.dumps(raw))

    def refuse(*args, **kwargs):
        raise AssertionError("built or loaded before the config was checked")

    monkeypatch.setattr(infovaegan_model, "build_networks", refuse)
    monkeypatch.setattr(infovaegan_model.torch, "load", refuse)
    expected = f"{config_path}: invalid InfoVAEGAN model config: {why}"
    for load in (InfoVAEGAN.load_from_folder, AutoModel.load_from_folder):
        with pytest.raises(ModelLoadError) as refused:
            load(str(folder))
        assert str(refused.value) == expected
    with pytest.raises(ValueError) as refused:
        AutoConfig.from_json_file(str(config_path))
    assert str(refused.value) == expected
