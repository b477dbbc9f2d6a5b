"""evaluate_adapter, the grids and the cached feature classifier, on tiny data."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from infovaegan_plugin.data import load_dsprites
from infovaegan_plugin.evaluation import (
    DSpritesGroundTruth,
    EvaluationSettings,
    adapter_for,
    build_baseline,
    evaluate_adapter,
    load_or_train_classifier,
    planned_steps,
    sample_images,
    write_grids,
)


@pytest.fixture
def split(digits):
    return digits.subset(slice(0, 200)), digits.subset(slice(200, 260))


def test_digits_metrics_have_the_documented_keys_and_ranges(make_model, split, tmp_path,
                                                            trust_any_classifier):
    train, held_out = split
    classifier = load_or_train_classifier(tmp_path / "clf", train, held_out, epochs=1)
    steps = []
    result = evaluate_adapter(adapter_for(make_model()), held_out,
                              EvaluationSettings(n_samples=50), classifier=classifier,
                              on_step=steps.append)
    expected = ["clustering", "reconstruction", "cfd"]
    assert steps == planned_steps(held_out, None, classifier) == expected
    m = result["metrics"]
    assert set(m) == {"accuracy", "nmi", "ari", "recon_mse", "recon_bce", "cfd"}
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["nmi"] <= 1 and -1 <= m["ari"] <= 1
    assert 0 < m["recon_mse"] < 1 and m["recon_bce"] > 0 and m["cfd"] >= 0
    assert result["details"]["cfd"]["n_fake"] == 50
    assert result["details"]["cfd"]["classifier_held_out_accuracy"] == classifier.held_out_accuracy
    assert result["details"]["clustering"]["method"].startswith("categorical code")
    assert result["n_eval"] == 60
    json.dumps(result)  # JSON-ready as it is


@pytest.mark.filterwarnings("ignore:The number of unique classes:UserWarning")
def test_dsprites_adds_disentanglement_for_a_vae(config_factory):
    data = load_dsprites(n=64, seed=1)
    torch.manual_seed(0)
    model = build_baseline("beta_vae", config_factory(input_dim=(1, 64, 64)))
    truth = DSpritesGroundTruth()
    result = evaluate_adapter(adapter_for(model), data,
                              EvaluationSettings(metric_scale=0.002, n_samples=8), truth)
    m = result["metrics"]
    for key in ("beta_vae", "factor_vae", "mig", "dci"):
        assert 0.0 <= m[key] <= 1.0
    assert "k-means" in result["clustering_method"]
    sizes = result["details"]["disentanglement"]["settings"]["sizes"]
    assert sizes["beta_vae"]["num_train"] == 20  # 10000 * 0.002
    # an untrained decoder draws grey fog, the real images are all sprites
    sprites = result["details"]["sprites"]
    assert m["sprite_fraction"] == sprites["sprite_fraction"] == 0.0
    assert sprites["real_sprite_fraction"] == 1.0 and sprites["real_centroid_col_std_px"] > 5
    assert "shape_shares" not in sprites  # no classifier, no shapes


@pytest.mark.filterwarnings("ignore:The number of unique classes:UserWarning")
def test_dsprites_shapes_per_category_with_a_classifier(make_model, tmp_path, trust_any_classifier):
    data = load_dsprites(n=64, seed=1)
    classifier = load_or_train_classifier(tmp_path / "clf", data, None, epochs=1)
    model = make_model(input_dim=(1, 64, 64), categorical_dims=[3], architecture="dcgan64",
                       base_channels=8, hidden_dim=16)
    steps = []
    result = evaluate_adapter(adapter_for(model), data,
                              EvaluationSettings(metric_scale=0.002, n_samples=30),
                              DSpritesGroundTruth(), classifier, on_step=steps.append)
    assert steps == planned_steps(data, DSpritesGroundTruth(), classifier)
    assert steps == ["clustering", "reconstruction", "cfd", "sprites", "disentanglement"]
    sprites = result["details"]["sprites"]
    assert sum(sprites["shape_shares"]) == pytest.approx(1.0)
    per_category = sprites["shapes_per_category"]
    assert len(per_category["majority"]) == 3 and 1 <= per_category["shapes_used"] <= 3


def test_grids_are_written_small(make_model, digits, tmp_path):
    grids = write_grids(adapter_for(make_model()), digits.subset(slice(0, 30)), tmp_path)
    for name in ("traversal", "samples", "reconstructions"):
        assert (tmp_path / f"{name}.png").is_file()
    assert len(grids["traversal_rows"]) == 2 * 10


def test_sprite_grids_say_what_each_traversal_row_moves(make_model, tmp_path):
    model = make_model(input_dim=(1, 64, 64), categorical_dims=[3], continuous_dim=2,
                       architecture="dcgan64", base_channels=8, hidden_dim=16)
    grids = write_grids(adapter_for(model), load_dsprites(n=8), tmp_path, sprites=True)
    effects = grids["traversal_effects"]
    assert [e["row"] for e in effects] == grids["traversal_rows"] and len(effects) == 2 * 3
    assert all(set(e["moves"]) <= {"x", "y", "scale", "orientation"} for e in effects)
    assert "traversal_effects" not in write_grids(adapter_for(model), load_dsprites(n=8), tmp_path)


def test_samples_come_in_batches_with_one_seed(make_model):
    adapter = adapter_for(make_model())
    a, b = sample_images(adapter, 300, seed=1), sample_images(adapter, 300, seed=1)
    assert a.shape == (300, 1, 8, 8) and np.array_equal(a, b)


def test_classifier_is_trained_once_then_loaded(split, tmp_path, monkeypatch):
    train, held_out = split
    first = load_or_train_classifier(tmp_path, train, held_out, epochs=1)
    info = json.loads((tmp_path / "classifier_metrics.json").read_text())
    assert info["train_images"] == 200 and 0 <= info["eval_accuracy"] <= 1
    assert info["classifier_held_out_accuracy"] == first.held_out_accuracy
    assert info["classifier_held_out_images"] == 20
    import infovaegan_plugin.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "train_feature_classifier", lambda *a, **k: pytest.fail("retrained"))
    again = load_or_train_classifier(tmp_path, train, held_out)
    for p, q in zip(first.parameters(), again.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="expects images"):
        load_or_train_classifier(tmp_path, load_dsprites(n=4), None)


def test_a_weak_classifier_leaves_cfd_out_with_the_refusal_recorded(make_model, split, tmp_path):
    train, held_out = split
    classifier = load_or_train_classifier(tmp_path, train, held_out, epochs=1)
    assert classifier.held_out_accuracy < 0.95
    result = evaluate_adapter(adapter_for(make_model()), held_out,
                              EvaluationSettings(n_samples=50), classifier=classifier)
    assert "cfd" not in result["metrics"]
    refusal = result["details"]["cfd"]
    assert "classifier Frechet distance refused" in refusal["refused"]
    assert refusal["classifier_held_out_accuracy"] == classifier.held_out_accuracy


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="metric scale"):
        EvaluationSettings(metric_scale=0)
    with pytest.raises(ValueError, match="samples"):
        EvaluationSettings(n_samples=1)


def test_infovaegan_without_labels_skips_clustering(make_model, digits):
    unlabelled = replace(digits.subset(slice(0, 20)), labels=None)
    result = evaluate_adapter(adapter_for(make_model()), unlabelled, EvaluationSettings())
    assert set(result["metrics"]) == {"recon_mse", "recon_bce"}


def test_evaluate_and_record_writes_the_json_and_grids(make_model, split, tmp_path):
    from infovaegan_plugin.evaluation.evaluate import OUTPUT_FILE, evaluate_and_record

    _, held_out = split
    payload = evaluate_and_record(make_model(), tmp_path / "model", "digits", held_out,
                                  tmp_path / "out", EvaluationSettings(n_samples=20))
    saved = json.loads((tmp_path / "out" / OUTPUT_FILE).read_text())
    assert saved["dataset"] == "digits" and saved["model_dir"] == str(tmp_path / "model")
    assert saved["architecture"]["class"] == "InfoVAEGAN" and saved["n_eval"] == 60
    assert set(saved["metrics"]) == set(payload["metrics"]) >= {"accuracy", "recon_mse"}
    assert set(saved["grids"]) == {"traversal", "samples", "reconstructions"}
    assert all(Image.open(path).size[0] > 0 for path in saved["grids"].values())
