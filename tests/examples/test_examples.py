"""Every script in ``examples/`` runs as a user runs it (a subprocess, tiny budget, fixed seeds)
and does what its docstring says, so an example cannot rot unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PAD = 2  # white pixels between and around the tiles of the examples' grids


def number(pattern: str, text: str) -> float:
    found = re.findall(pattern, text)
    assert len(found) == 1, f"{pattern!r} not found once in:\n{text}"
    return float(found[0])


def grid_tiles(path: Path, rows: int, cols: int, tile: int, scale: int) -> np.ndarray:
    """The ``(rows, cols, tile, tile)`` uint8 images of a grid PNG, after checking that its
    size is exactly ``rows`` x ``cols`` tiles and that every tile is upscaled ``scale`` x."""
    picture = Image.open(path)
    step = tile * scale + PAD
    assert picture.size == (PAD + cols * step, PAD + rows * step)
    assert picture.mode == "L"
    pixels = np.asarray(picture)
    tiles = np.stack([
        np.stack([pixels[PAD + r * step : r * step + step, PAD + c * step : c * step + step]
                  for c in range(cols)])
        for r in range(rows)
    ])  # (rows, cols, tile * scale, tile * scale)
    small = tiles[:, :, ::scale, ::scale]
    np.testing.assert_array_equal(small.repeat(scale, axis=2).repeat(scale, axis=3), tiles)
    return small


def as_pixels(images: np.ndarray) -> np.ndarray:
    """Grey images (N, 1, H, W) in [0, 1] as the PNG stores them."""
    return (np.clip(images[:, 0], 0, 1) * 255).round().astype(np.uint8)


def test_train_with_pythae_reloads_the_model_it_trained(pythae_run):
    import torch
    from pythae.models import AutoModel

    from infovaegan_plugin import InfoVAEGAN
    from infovaegan_plugin.data import train_held_out
    from infovaegan_plugin.metrics.clustering import unsupervised_accuracy

    out, folder = pythae_run["stdout"], pythae_run["model_dir"]
    assert {p.name for p in folder.iterdir()} >= {"model_config.json", "model.pt"}
    assert folder.name == "final_model" and folder.parent.name.startswith("InfoVAEGAN_training_")
    # the script compares AutoModel's copy with the model TrainingPipeline trained in memory
    assert number(r"max \|features difference\| = (\S+)", out) == 0.0
    printed = number(r"on 60 held-out digits: accuracy ([\d.]+)", out)
    # the printed score is the saved model's, on the held-out digits of the same split
    _, held_out = train_held_out("digits", limit=600, seed=0)
    model = AutoModel.load_from_folder(str(folder))
    assert isinstance(model, InfoVAEGAN)
    with torch.no_grad():
        categories = model.eval().predict_categories(torch.from_numpy(held_out.images))[:, 0]
    assert printed == pytest.approx(unsupervised_accuracy(held_out.labels, categories.numpy()),
                                    abs=5e-5)


def test_encode_and_classify_beats_chance_on_the_encoder_features(trained_export, run_example,
                                                                  tmp_path):
    done = run_example("encode_and_classify.py", str(trained_export / "encoder.onnx"),
                       cwd=tmp_path, report_torch=True)
    out = done.stdout
    assert "1797 digits, 28 features per image, 25% held out" in out  # 10 + 2 + 16 noise
    # measured with this budget: 0.891 / 0.900 / 0.920 (training seeds 0-2); chance is 0.1
    assert number(r"on the encoder's features: ([\d.]+)", out) > 0.7
    assert number(r"on the raw pixels: ([\d.]+)", out) > 0.9  # measured 0.969
    assert out.rstrip().endswith("torch loaded: False")


def test_retrieval_writes_queries_beside_their_neighbours(trained_export, run_example,
                                                          tmp_path, digits):
    target = tmp_path / "retrieval.png"
    done = run_example("retrieval.py", str(trained_export), "--output", str(target),
                       "--queries", "3", "--k", "4", "--scale", "2", cwd=tmp_path,
                       report_torch=True)
    share = number(r"share with the query's label ([\d.]+)", done.stdout)
    # measured with this budget and k = 4: 0.881 / 0.879 / 0.893 (training seeds 0-2)
    assert 0.6 < share <= 1.0
    assert "3 rows (query, then its 4 nearest neighbours), 5 columns" in done.stdout
    tiles = grid_tiles(target, rows=3, cols=5, tile=8, scale=2)
    # every tile is a digit of the data set, and no query is its own neighbour
    index = {image.tobytes(): i for i, image in enumerate(as_pixels(digits.images))}
    for row in tiles:
        found = [index.get(tile.tobytes()) for tile in row]
        assert None not in found
        assert found[0] not in found[1:]
    assert done.stdout.rstrip().endswith("torch loaded: False")


def test_generator_grids_draw_what_the_generator_makes_without_torch(trained_export,
                                                                     run_example, tmp_path):
    from infovaegan_plugin.deploy.runtime import OnnxGenerator

    out_dir = tmp_path / "grids"
    done = run_example("generator_grids.py", str(trained_export), "--output-dir", str(out_dir),
                       "--n", "6", "--per-row", "3", "--values", "4", "--scale", "2",
                       "--seed", "5", cwd=tmp_path, report_torch=True)
    assert done.stdout.rstrip().endswith("torch loaded: False")
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "categories.png", "samples.png", "traversal_continuous_0.png",
        "traversal_continuous_1.png"]
    for name, rows, cols in (("samples", 2, 3), ("categories", 10, 3),
                             ("traversal_continuous_0", 10, 4)):
        assert f"{name}.png: {rows} rows, {cols} columns" in done.stdout
    # each grid holds the images the generator makes from the script's codes, in order (one
    # grey level of slack for rounding; the check is only worth it if other codes differ more)
    generator = OnnxGenerator(trained_export)
    expected = {
        "samples": (generator.decode(generator.sample_codes(6, seed=5)),
                    generator.decode(generator.sample_codes(6, seed=6)), 2, 3),
        "traversal_continuous_1": (
            generator.traverse(1, values=generator.layout.traversal_values(4), seed=5),
            generator.traverse(0, values=generator.layout.traversal_values(4), seed=5), 10, 4),
        "categories": (
            np.concatenate([generator.generate(3, classes={0: k}, seed=5) for k in range(10)]),
            np.concatenate([generator.generate(3, classes={0: 0}, seed=5)] * 10), 10, 3),
    }
    for name, (images, other, rows, cols) in expected.items():
        tiles = grid_tiles(out_dir / f"{name}.png", rows, cols, tile=8, scale=2)
        drawn = tiles.reshape(rows * cols, 8, 8).astype(int)
        wanted = as_pixels(images.reshape(rows * cols, 1, 8, 8)).astype(int)
        unwanted = as_pixels(other.reshape(rows * cols, 1, 8, 8)).astype(int)
        assert np.abs(drawn - wanted).max() <= 1, name
        assert np.abs(drawn - unwanted).max() > 1, name


@pytest.mark.parametrize("script", ["encode_and_classify.py", "retrieval.py",
                                    "generator_grids.py"])
def test_a_missing_export_is_one_error_line(script, run_example, tmp_path):
    done = run_example(script, str(tmp_path / "runs" / "onnx"), cwd=tmp_path, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "file not found" in last and "examples/README.md" in last
