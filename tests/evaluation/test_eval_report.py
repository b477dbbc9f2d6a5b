"""Summaries over seeds, the markdown table, the paper's targets and the bar charts."""

from __future__ import annotations

import math

import pytest
from PIL import Image

from infovaegan_plugin.evaluation import check_targets, hardware_info, markdown_table, summarize
from infovaegan_plugin.evaluation.charts import bar_chart


def result(model, seed, **metrics):
    return {"model": model, "seed": seed, "metrics": metrics, "train_time_s": 10.0 + seed,
            "eval_time_s": 1.0, "grids": {"traversal": "traversal.png"}}


def test_summary_is_mean_and_sample_std_over_seeds():
    summary = summarize([result("infovaegan", 0, accuracy=0.9),
                         result("infovaegan", 1, accuracy=0.7),
                         result("infogan", 0, accuracy=0.5)])
    acc = summary["infovaegan"]["metrics"]["accuracy"]
    assert acc["mean"] == pytest.approx(0.8) and acc["std"] == pytest.approx(math.sqrt(0.02))
    assert acc["n"] == 2 and summary["infogan"]["metrics"]["accuracy"]["std"] == 0.0
    assert summary["infovaegan"]["train_time_s"]["mean"] == pytest.approx(10.5)
    assert summary["infovaegan"]["traversal"] == "infovaegan/seed0/traversal.png"


def test_table_bolds_the_best_in_each_direction():
    summary = summarize([result("infovaegan", 0, accuracy=0.9, recon_mse=0.05),
                         result("beta_vae", 0, accuracy=0.6, recon_mse=0.01)])
    table = markdown_table(summary)
    assert "accuracy ↑" in table and "recon_mse ↓" in table
    assert "| InfoVAEGAN | **0.9000** | 0.0500 |" in table
    assert "| beta-VAE | 0.6000 | **0.0100** |" in table


def test_mnist_targets_met_and_missed():
    summary = summarize([result("infovaegan", 0, accuracy=0.96, recon_mse=0.03),
                         result("infogan", 0, accuracy=0.97, recon_mse=0.05),
                         result("ali", 0, accuracy=0.5, recon_mse=0.02)])
    met = {t["target"]: t["met"] for t in check_targets("mnist", summary)}
    assert met["InfoVAEGAN clustering accuracy >= 95%"] is True
    assert met["InfoVAEGAN accuracy is the best of the compared models"] is False
    assert met["InfoVAEGAN reconstruction MSE below InfoGAN's"] is True
    assert met["InfoVAEGAN reconstruction MSE below ALI's"] is False


def test_dsprites_targets_compare_with_beta_vae_or_say_not_checked():
    summary = summarize([result("infovaegan", 0, beta_vae=0.8, mig=0.1),
                         result("beta_vae", 0, beta_vae=0.7, mig=0.2)])
    targets = {t["target"]: t for t in check_targets("dsprites", summary)}
    assert targets["InfoVAEGAN beta-VAE metric >= beta-VAE's"]["met"] is True
    assert targets["InfoVAEGAN MIG >= beta-VAE's"]["met"] is False
    assert targets["InfoVAEGAN DCI disentanglement >= beta-VAE's"]["met"] is None
    assert check_targets("digits", summary) == []


def test_bar_chart_png(tmp_path):
    path = bar_chart(tmp_path / "c.png", "accuracy", ["InfoVAEGAN", "beta-VAE"], [0.9, 0.4],
                     [0.05, 0.0], highlight="InfoVAEGAN")
    image = Image.open(path)
    assert image.size == (760, 400) and image.getextrema() != ((255, 255), (255, 255), (255, 255))
    bar_chart(tmp_path / "neg.png", "x", ["a", "b"], [-0.2, float("nan")])
    with pytest.raises(ValueError):
        bar_chart(tmp_path / "bad.png", "x", ["a"], [])


def test_hardware_info_names_the_machine():
    info = hardware_info()
    assert info["nproc"] >= 1 and info["cpu"] and info["torch_threads"] >= 1
