"""Summaries over seeds, the markdown table, the paper's targets and the bar charts."""

from __future__ import annotations

import math
import os
import platform

import numpy as np
import pytest
import torch
from PIL import Image

from infovaegan_plugin.evaluation import (
    by_factor_markdown,
    by_factor_rows,
    charts,
    check_targets,
    hardware_info,
    markdown_table,
    summarize,
)
from infovaegan_plugin.evaluation.charts import bar_chart, line_chart


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


def _with_factors(run, fvae, mig):
    run["details"] = {"by_factor": {"factor_vae": fvae, "mig": mig,
                                    "factor_vae_dim_factor": list(fvae)}}
    return run


def test_by_factor_means_over_seeds_and_its_table():
    summary = summarize([
        _with_factors(result("infovaegan", 0, factor_vae=0.5), {"shape": 0.0, "scale": 0.9},
                      {"shape": 0.02, "scale": None}),
        _with_factors(result("infovaegan", 1, factor_vae=0.6), {"shape": 0.2, "scale": 0.7},
                      {"shape": 0.04, "scale": 0.3}),
        result("beta_vae", 0, factor_vae=0.4)])  # a run without the breakdown: none
    by = summary["infovaegan"]["by_factor"]
    assert by["factor_vae"] == pytest.approx({"shape": 0.1, "scale": 0.8})
    assert by["mig"] == pytest.approx({"shape": 0.03})  # scale: undefined on one seed
    assert "by_factor" not in summary["beta_vae"]
    table = by_factor_markdown(summary)
    assert table.splitlines()[0] == "| model | shape | scale |"
    assert "| InfoVAEGAN | 0.100 / 0.030 | 0.800 / - |" in table
    assert "beta-VAE" not in table
    assert by_factor_markdown(summarize([result("beta_vae", 0, factor_vae=0.4)])) == ""


def test_by_factor_rows_say_each_factors_scores_and_codes():
    rows = by_factor_rows({"factor_vae": {"shape": 0.0, "posX": 0.93},
                           "mig": {"shape": 0.036, "posX": None},
                           "factor_vae_dim_factor": ["posX", "posX", None, "scale"]})
    assert rows == {"shape": "FactorVAE 0.0000, MIG 0.0360, code dims -",
                    "posX": "FactorVAE 0.9300, MIG -, code dims 0, 1"}


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


def _pixels(path, colour):
    """(rows, cols) of the pixels of exactly ``colour`` in the PNG at ``path``."""
    image = np.asarray(Image.open(path).convert("RGB"))
    return np.nonzero((image == np.array(colour, dtype=np.uint8)).all(axis=-1))


def test_bar_chart_png(tmp_path):
    path = bar_chart(tmp_path / "c.png", "accuracy", ["InfoVAEGAN", "beta-VAE"], [0.9, 0.4],
                     [0.05, 0.0], highlight="InfoVAEGAN")
    assert path == tmp_path / "c.png" and Image.open(path).size == (charts.WIDTH, charts.HEIGHT)
    accent_rows, accent_cols = _pixels(path, charts.HIGHLIGHT)
    plain_rows, plain_cols = _pixels(path, charts.BAR)
    # the highlighted model is the left bar, in the accent colour; the other in the plain one
    assert accent_cols.max() < plain_cols.min()
    # bar heights follow the means (0.9 vs 0.4) and both stand on the same baseline
    height = (accent_rows.max() - accent_rows.min()) / (plain_rows.max() - plain_rows.min())
    assert height == pytest.approx(0.9 / 0.4, rel=0.05)
    assert abs(int(accent_rows.max()) - int(plain_rows.max())) <= 1


def test_bar_chart_negative_and_missing_values(tmp_path):
    path = bar_chart(tmp_path / "neg.png", "x", ["a", "b"], [-0.2, float("nan")])
    rows, cols = _pixels(path, charts.BAR)
    middle = charts.MARGIN_LEFT + (charts.WIDTH - charts.MARGIN_LEFT - charts.MARGIN_RIGHT) / 2
    assert cols.max() < middle  # only "a" has a bar; the NaN of "b" is written as n/a
    assert rows.min() >= charts.MARGIN_TOP - 1  # hangs down from zero, inside the plot
    assert rows.max() - rows.min() > 0.8 * (charts.HEIGHT - charts.MARGIN_TOP
                                            - charts.MARGIN_BOTTOM)
    with pytest.raises(ValueError, match="at least one bar"):
        bar_chart(tmp_path / "bad.png", "x", ["a"], [])
    with pytest.raises(ValueError, match="one mean per label"):
        bar_chart(tmp_path / "bad.png", "x", ["a", "b"], [0.5])
    assert not (tmp_path / "bad.png").exists()


def test_line_chart_png_size_colours_and_legend_rows(tmp_path):
    series = [(f"run {i}", [1, 2, 3], [0.1 * i, 0.5, 2.0]) for i in range(4)]
    path = line_chart(tmp_path / "sub" / "lines.png", "purity", series, reference=0.9)
    assert path == tmp_path / "sub" / "lines.png"  # parent folders are made
    # four series need a second legend row (three per row) under the plot
    assert Image.open(path).size == (charts.WIDTH, charts.HEIGHT + 2 * 18)
    for colour in charts.PALETTE[:4]:
        rows, _ = _pixels(path, colour)
        assert rows.size > 0
        # 2.0 lies above y_range (0, 1): points are clipped to the plot, not drawn off it
        assert rows.min() >= charts.MARGIN_TOP - 4
    one = line_chart(tmp_path / "one.png", "loss", [("train", [0], [0.3])], y_range=(0.0, 0.5))
    assert Image.open(one).size == (charts.WIDTH, charts.HEIGHT + 18)
    assert _pixels(one, charts.PALETTE[0])[0].size > 0  # a single point is still drawn


def test_long_legend_labels_take_a_row_each_instead_of_overlapping(tmp_path):
    font, plot_w = charts._font(12), charts.WIDTH - charts.MARGIN_LEFT - charts.MARGIN_RIGHT
    assert charts.legend_columns(["run 1", "run 2"], font, plot_w) == 3
    # 3 of these overlapped in a row; 2 fit, each within its column
    two = ["pooled_category+nuisance_augmentation s0"]
    assert charts.legend_columns(two, font, plot_w) == 2
    assert font.getlength(two[0]) + 30 < plot_w / 2
    long = [(f"pooled_category+nuisance_augmentation+heavy_nuisance_augmentation s{i}", [0, 1],
             [0.2, 0.4]) for i in range(3)]
    path = line_chart(tmp_path / "long.png", "x", long)
    assert Image.open(path).size == (charts.WIDTH, charts.HEIGHT + 3 * 18)
    image = np.asarray(Image.open(path).convert("RGB"))
    for i in range(3):  # each swatch at the row's start, in its own colour
        y = int(charts.HEIGHT - 8 + 18 * i)
        assert (image[y, charts.MARGIN_LEFT + 1:charts.MARGIN_LEFT + 23]
                == charts.PALETTE[i]).all()


def test_line_chart_series_past_the_palette_are_dashed(tmp_path):
    n = len(charts.PALETTE) + 1  # the last reuses the first colour
    series = [(f"run {i}", [0, 1], [0.1 + 0.08 * i] * 2) for i in range(n)]
    image = np.asarray(Image.open(line_chart(tmp_path / "many.png", "x", series)).convert("RGB"))
    plot_w = charts.WIDTH - charts.MARGIN_LEFT - charts.MARGIN_RIGHT

    def swatch(i: int) -> np.ndarray:  # the legend's line sample of series i
        x = int(charts.MARGIN_LEFT + (i % 3) * (plot_w / 3))
        y = int(charts.HEIGHT - 8 + 18 * (i // 3))
        return (image[y, x + 1:x + 23] == charts.PALETTE[i % len(charts.PALETTE)]).all(axis=1)

    assert swatch(0).all()  # solid
    last = swatch(n - 1)
    assert last.any() and not last.all()  # the same colour, dashed: drawn with gaps


@pytest.mark.parametrize(
    "series",
    [[], [("a", [1, 2], [0.5])], [("a", [], [])], [("ok", [1], [0.1]), ("b", [1, 2, 3], [1])]],
)
def test_line_chart_rejects_bad_series(tmp_path, series):
    with pytest.raises(ValueError, match="as many x as y values"):
        line_chart(tmp_path / "bad.png", "x", series)
    assert not (tmp_path / "bad.png").exists()


def test_hardware_info_names_the_machine():
    info = hardware_info()
    assert info["nproc"] == os.cpu_count()
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["torch"] == torch.__version__ and info["python"] == platform.python_version()
    assert info["device"] == "cpu" and "gpu" not in info
    assert isinstance(info["cpu"], str) and info["cpu"].strip()
    assert hardware_info("cuda")["device"] == "cuda"
