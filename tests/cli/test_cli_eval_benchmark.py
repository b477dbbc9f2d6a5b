"""``infovaegan benchmark`` end to end on a tiny budget: all seven models, files, resumability."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from infovaegan_plugin.cli.app import app
from infovaegan_plugin.evaluation import MODEL_NAMES

runner = CliRunner()


def flat(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())
TINY = ["--epochs", "1", "--seeds", "0", "--hidden-dim", "16", "--base-channels", "4",
        "--metric-scale", "0.002", "--n-samples", "40", "--classifier-epochs", "1",
        "--device", "cpu"]


def bench(out: Path, *extra: str):
    return runner.invoke(app, ["benchmark", "--output-dir", str(out), *TINY, *extra])


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = bench(out, "--dataset", "digits", "--limit", "200")
    assert result.exit_code == 0, result.output
    return out, result


def test_every_model_is_trained_scored_and_drawn(digits_run):
    out, result = digits_run
    root = out / "digits"
    for name in MODEL_NAMES:
        run = root / name / "seed0"
        res = json.loads((run / "result.json").read_text())
        assert res["model"] == name and res["fingerprint"]["epochs"] == 1
        m = res["metrics"]  # a 1-epoch classifier on 180 digits: its CFD is refused
        assert set(m) == {"accuracy", "nmi", "ari", "recon_mse", "recon_bce"}
        assert "refused" in res["details"]["cfd"]["refused"]
        assert 0 <= m["accuracy"] <= 1 and 0 < m["recon_mse"] < 1
        assert res["train_time_s"] > 0 and res["n_eval"] == 20
        assert Image.open(run / "traversal.png").size[0] > 0
    arch = json.loads((root / "beta_vae/seed0/result.json").read_text())["architecture"]
    ours = json.loads((root / "infovaegan/seed0/result.json").read_text())["architecture"]
    assert arch["latent_dim"] == ours["latent_dim"]  # code + noise, the generator input
    assert arch["decoder_parameters"] == ours["generator_parameters"]
    summary = json.loads((root / "summary.json").read_text())
    assert list(summary["models"]) == list(MODEL_NAMES)
    assert summary["hardware"]["nproc"] >= 1 and summary["settings"]["seeds"] == [0]
    assert summary["classifier_held_out_accuracy"] < 0.95 and "refused" in summary["cfd_refused"]
    table = (root / "comparison.md").read_text()
    assert "classifier Frechet distance refused" in table
    for label in ("InfoVAEGAN", "InfoGAN", "ALI", "beta-VAE", "FactorVAE", "beta-TCVAE", "VAEGAN"):
        assert f"| {label} |" in table
    assert sorted(p.stem for p in (root / "charts").glob("*.png")) == sorted(
        ["accuracy", "nmi", "ari", "recon_mse", "recon_bce"])
    assert (root / "classifier" / "classifier.pt").is_file()
    assert "InfoVAEGAN" in flat(result) and "comparison.md" in flat(result)


def test_second_run_skips_finished_models(digits_run):
    out, _ = digits_run
    results = sorted((out / "digits").glob("*/seed0/result.json"))
    before = {p: p.stat().st_mtime_ns for p in results}
    again = bench(out, "--dataset", "digits", "--limit", "200")
    assert again.exit_code == 0, again.output
    assert flat(again).count("skipped (finished") == len(MODEL_NAMES)
    assert "ran 0, rescored 0, skipped 7" in flat(again)
    assert {p: p.stat().st_mtime_ns for p in results} == before


def test_other_settings_in_the_same_folder_stop_the_run(digits_run):
    out, _ = digits_run
    result = bench(out, "--dataset", "digits", "--limit", "200", "--batch-size", "32")
    assert result.exit_code == 2
    assert "other settings" in flat(result) and "batch_size" in flat(result)


def test_rescore_scores_saved_models_again_without_training(digits_run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(digits_run[0], out)
    root = out / "digits"
    weights = sorted(root.glob("*/seed0/training/*/final_model/model.pt"))
    assert len(weights) == len(MODEL_NAMES)
    before_weights = {p: p.stat().st_mtime_ns for p in weights}
    before = {p.parent.parent.name: json.loads(p.read_text())
              for p in root.glob("*/seed0/result.json")}
    again = bench(out, "--dataset", "digits", "--limit", "200", "--n-samples", "50", "--rescore")
    assert again.exit_code == 0, again.output
    assert "ran 0, rescored 7, skipped 0" in flat(again)
    assert {p: p.stat().st_mtime_ns for p in weights} == before_weights  # nothing retrained
    for name, old in before.items():
        new = json.loads((root / name / "seed0" / "result.json").read_text())
        assert new["fingerprint"]["n_samples"] == 50
        assert new["rescored_from"]["n_samples"] == 40
        assert new["train_time_s"] == old["train_time_s"]
        # the saved weights, not fresh ones: the same images score the same
        for key in ("accuracy", "recon_mse"):
            assert new["metrics"][key] == pytest.approx(old["metrics"][key], abs=1e-6), name
    summary = json.loads((root / "summary.json").read_text())
    assert summary["settings"]["n_samples"] == 50


def test_unknown_model_lists_the_valid_ones(tmp_path):
    result = bench(tmp_path, "--dataset", "digits", "--models", "infovaegan,wgan")
    assert result.exit_code == 2 and "wgan" in flat(result)
    assert "beta_tc_vae" in flat(result) and "Traceback" not in flat(result)


def test_bad_seeds_and_dataset_are_refused(tmp_path):
    assert bench(tmp_path, "--seeds", "a,b").exit_code == 2
    result = runner.invoke(app, ["benchmark", "--dataset", "cifar", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "mnist, dsprites" in flat(result)


@pytest.mark.filterwarnings("ignore:The number of unique classes:UserWarning")
def test_dsprites_adds_disentanglement_and_targets(tmp_path):
    result = bench(tmp_path, "--dataset", "dsprites", "--limit", "80",
                   "--models", "infovaegan,beta_vae")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "dsprites" / "summary.json").read_text())
    for name in ("infovaegan", "beta_vae"):
        metrics = summary["models"][name]["metrics"]
        for key in ("beta_vae", "factor_vae", "mig", "dci", "accuracy"):
            assert -1e-9 <= metrics[key]["mean"] <= 1 + 1e-9  # MIG may round to -2e-16
    assert len(summary["targets"]) == 4
    assert all(t["met"] in (True, False) for t in summary["targets"])
    assert "target: InfoVAEGAN MIG >= beta-VAE's" in flat(result)
    # where the scores are lost: per factor, in the summary, the page and `infovaegan evaluate`
    factors = ["shape", "scale", "orientation", "posX", "posY"]
    for name in ("infovaegan", "beta_vae"):
        by = summary["models"][name]["by_factor"]
        # a tiny model's codes may all be pruned (std < 0.05): no FactorVAE vote, no accuracy
        assert set(by.get("factor_vae", {})) <= set(factors) and set(by["mig"]) <= set(factors)
        assert by["mig"] and all(0.0 <= v <= 1.0 for v in by.get("factor_vae", {}).values())
    page = (tmp_path / "dsprites" / "comparison.md").read_text()
    assert "## By factor" in page
    assert "| model | shape | scale | orientation | posX | posY |" in page
    model = tmp_path / "dsprites" / "infovaegan" / "seed0" / "training"
    evaluated = runner.invoke(app, ["evaluate", str(model), "--dataset", "dsprites", "--limit",
                                    "80", "--metric-scale", "0.002", "--n-samples", "40",
                                    "--no-cfd", "--device", "cpu", "-o", str(tmp_path / "ev")])
    assert evaluated.exit_code == 0, evaluated.output
    details = json.loads((tmp_path / "ev" / "evaluation.json").read_text())["details"]
    assert list(details["by_factor"]["mig"]) == factors
    assert len(details["by_factor"]["factor_vae_dim_factor"]) == 3 + 5  # the representation
    text = flat(evaluated)
    assert "where the disentanglement scores are lost, by factor" in text
    assert all(f in text for f in factors)
