"""Benchmark settings: validation, resolution from the presets, fingerprints, resumability,
and the configs the compared models are built from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infovaegan_plugin.evaluation.comparison import (
    EVALUATION_FIELDS,
    MODEL_NAMES,
    RESULT_FILE,
    BenchmarkError,
    BenchmarkSettings,
    base_config,
    existing_result,
    needs_rescore,
    saved_model_dir,
)
from infovaegan_plugin.presets import PRESETS


def settings(tmp_path: Path, **kwargs) -> BenchmarkSettings:
    return BenchmarkSettings(**{"dataset": "digits", "output_dir": tmp_path, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "cifar"}, "unknown dataset 'cifar'; choose one of digits, mnist, dsprites"),
        ({"models": ("infovaegan", "gan")}, "unknown model(s) gan; valid models:"),
        ({"models": ()}, "unknown model(s) (none given)"),
        ({"models": ("ali", "ali")}, "models and seeds must not repeat"),
        ({"seeds": (0, 0)}, "models and seeds must not repeat"),
        ({"seeds": ()}, "give at least one seed"),
        ({"epochs": 0}, "epochs must be >= 1, got 0"),
        ({"limit": -5}, "limit must be >= 1, got -5"),
        ({"disentanglement_metrics": ("mig", "sap")}, "unknown disentanglement metric(s) sap"),
        ({"disentanglement_metrics": ()}, "unknown disentanglement metric(s) (none given)"),
    ],
)
def test_bad_settings_are_refused_with_a_message(tmp_path, kwargs, message):
    with pytest.raises(BenchmarkError) as info:
        settings(tmp_path, **kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)  # what the CLI turns into exit 2


def test_budget_comes_from_the_preset_unless_given(tmp_path):
    default = settings(tmp_path, dataset="mnist")
    assert default.num_epochs == PRESETS["mnist"]["epochs"]
    assert default.train_batch_size == PRESETS["mnist"]["batch_size"]
    given = settings(tmp_path, dataset="mnist", epochs=3, batch_size=16)
    assert (given.num_epochs, given.train_batch_size) == (3, 16)
    assert default.models == MODEL_NAMES and default.seeds == (0,)


def test_fingerprint_and_summary_use_the_resolved_budget(tmp_path):
    s = settings(tmp_path, seeds=(0, 1), data_dir=tmp_path / "data", force=True)
    assert s.fingerprint()["epochs"] == PRESETS["digits"]["epochs"]
    assert s.fingerprint()["batch_size"] == PRESETS["digits"]["batch_size"]
    assert "seeds" not in s.fingerprint() and "force" not in s.fingerprint()
    summary = s.as_dict()
    assert "force" not in summary
    assert summary["output_dir"] == str(tmp_path) and summary["data_dir"] == str(tmp_path / "data")
    assert summary["seeds"] == [0, 1] and summary["models"] == list(MODEL_NAMES)
    json.dumps(summary)  # summary.json can hold it
    assert s.run_dir("ali", 1) == tmp_path / "digits" / "ali" / "seed1"


def test_base_config_applies_the_width_overrides_to_the_preset(tmp_path):
    plain = base_config(settings(tmp_path), (1, 8, 8))
    assert plain.hidden_dim == PRESETS["digits"]["model"]["hidden_dim"]
    narrow = base_config(settings(tmp_path, hidden_dim=32, base_channels=8), (1, 8, 8), "infogan")
    assert (narrow.hidden_dim, narrow.base_channels, narrow.variant) == (32, 8, "infogan")
    assert narrow.categorical_dims == plain.categorical_dims


def _write_result(s: BenchmarkSettings, model: str = "infovaegan", seed: int = 0, **extra):
    path = s.run_dir(model, seed) / RESULT_FILE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"model": model, "fingerprint": s.fingerprint(), **extra}))
    return path


def test_existing_results_are_reused_only_under_the_same_settings(tmp_path):
    s = settings(tmp_path, epochs=2)
    assert existing_result(s, "infovaegan", 0) is None  # nothing yet: run it
    _write_result(s, accuracy=0.5)
    assert existing_result(s, "infovaegan", 0)["accuracy"] == 0.5
    assert existing_result(settings(tmp_path, epochs=2, force=True), "infovaegan", 0) is None
    with pytest.raises(BenchmarkError, match=r"other settings \(epochs: 2 -> 4\).*--force"):
        existing_result(settings(tmp_path, epochs=4), "infovaegan", 0)


def test_the_chosen_metrics_are_part_of_the_fingerprint(tmp_path):
    s = settings(tmp_path, disentanglement_metrics=("factor_vae", "mig"))
    assert s.fingerprint()["disentanglement_metrics"] == ["factor_vae", "mig"]
    _write_result(s)
    assert existing_result(s, "infovaegan", 0) is not None
    with pytest.raises(BenchmarkError, match="disentanglement_metrics"):
        existing_result(settings(tmp_path), "infovaegan", 0)


def test_results_from_before_the_metrics_field_count_as_all_metrics(tmp_path):
    s = settings(tmp_path)
    path = _write_result(s)
    payload = json.loads(path.read_text())
    del payload["fingerprint"]["disentanglement_metrics"]
    path.write_text(json.dumps(payload))
    assert existing_result(s, "infovaegan", 0) is not None


def test_a_torn_result_file_means_run_again(tmp_path):
    s = settings(tmp_path)
    path = _write_result(s)
    path.write_text('{"model": "infov')
    assert existing_result(s, "infovaegan", 0) is None


def test_rescore_accepts_other_evaluation_settings_only(tmp_path):
    trained = settings(tmp_path, epochs=2, metric_scale=0.3)
    _write_result(trained, accuracy=0.5)
    full = settings(tmp_path, epochs=2, metric_scale=1.0, rescore=True)
    result = existing_result(full, "infovaegan", 0)
    assert result["accuracy"] == 0.5 and needs_rescore(result, full)
    assert not needs_rescore(result, trained)
    with pytest.raises(BenchmarkError, match=r"epochs: 2 -> 3"):
        existing_result(settings(tmp_path, epochs=3, metric_scale=1.0, rescore=True),
                        "infovaegan", 0)
    with pytest.raises(BenchmarkError, match="--rescore scores saved models again"):
        existing_result(settings(tmp_path, epochs=2, metric_scale=1.0), "infovaegan", 0)
    assert EVALUATION_FIELDS <= set(trained.fingerprint())


def test_rescore_and_force_together_are_refused(tmp_path):
    with pytest.raises(BenchmarkError, match="pick one"):
        settings(tmp_path, force=True, rescore=True)


def test_a_run_without_its_saved_model_cannot_be_rescored(tmp_path):
    s = settings(tmp_path)
    _write_result(s)
    with pytest.raises(BenchmarkError, match="no saved model under training/"):
        saved_model_dir(s.run_dir("infovaegan", 0))
    for stamp in ("a", "b"):
        folder = s.run_dir("infovaegan", 0) / "training" / stamp / "final_model"
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(b"")
    with pytest.raises(BenchmarkError, match="2 saved models"):
        saved_model_dir(s.run_dir("infovaegan", 0))
