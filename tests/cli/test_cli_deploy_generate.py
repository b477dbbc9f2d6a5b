"""``infovaegan generate`` / ``traverse``: PNG grids from the ONNX generator alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig
from infovaegan_plugin.cli.app import app
from infovaegan_plugin.deploy.export import export_onnx

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def grid_size(rows: int, columns: int, tile: int = 8) -> tuple[int, int]:
    """(width, height) of the tiles of ``viz.save_grid``: 1 px padding, tiles under 32 px
    upscaled; labels are drawn above and left of them."""
    scale = -(-32 // tile)
    return (columns * (tile + 1) + 1) * scale, (rows * (tile + 1) + 1) * scale


def tiles(path: Path, rows: int, columns: int) -> np.ndarray:
    """The tile block of a labelled grid (bottom right), after checking labels are there."""
    picture = Image.open(path)
    width, height = grid_size(rows, columns)
    assert picture.size[0] > width and picture.size[1] > height  # room for the labels
    return np.asarray(picture)[-height:, -width:]


@pytest.fixture(scope="module")
def generator_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = InfoVAEGAN(InfoVAEGANConfig(input_dim=(1, 8, 8), hidden_dim=32, base_channels=8,
                                        noise_dim=4))
    return export_onnx(model, tmp_path_factory.mktemp("generate_export")).generator_path


def run(*args: str):
    return runner.invoke(app, [*args, "--threads", "1"])


def test_generate_writes_a_grid_of_n_images(generator_path, tmp_path):
    result = run("generate", str(generator_path), "--n", "64", "--output",
                 str(tmp_path / "grid.png"))
    assert result.exit_code == 0, result.output
    assert tiles(tmp_path / "grid.png", 8, 8).std() > 0
    description = Image.open(tmp_path / "grid.png").text["Description"]
    assert "64 images" in description and "seed 0" in description


def test_generate_is_seeded_and_can_fix_the_class(generator_path, tmp_path):
    paths = []
    for name, extra in (("a", []), ("b", []), ("c", ["--categorical", "3"])):
        paths.append(tmp_path / f"{name}.png")
        result = run("generate", str(generator_path.parent), "--n", "10", "--ncol", "5",
                     "--seed", "7", "--output", str(paths[-1]), *extra)
        assert result.exit_code == 0, result.output
    a, b, c = (tiles(p, 2, 5) for p in paths)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert "categorical_0 = 3" in Image.open(paths[2]).text["Description"]
    assert "categorical_0 = 3" in flat(result.output)


def test_traverse_writes_classes_by_values(generator_path, tmp_path):
    result = run("traverse", str(generator_path), "--code", "continuous:1", "--num-values", "7",
                 "--output", str(tmp_path / "traversal.png"))
    assert result.exit_code == 0, result.output
    assert tiles(tmp_path / "traversal.png", 10, 7).std() > 0
    assert "from -1 to 1 (7 values)" in flat(result.output)
    description = Image.open(tmp_path / "traversal.png").text["Description"]
    assert "columns = continuous:1 from -1 to 1" in description
    assert "rows: category 0, category 1" in description and "columns: -1, -0.67" in description


@pytest.mark.parametrize(
    ("args", "output_name", "message"),
    [
        (["traverse", "{gen}", "--code", "continuous:5"], "t.png", "continuous dimension 0..1"),
        (["traverse", "{gen}", "--code", "categorical:0"], "t.png", "walks a continuous code"),
        (["generate", "{gen}", "--categorical", "10"], "g.png", "0..9, got 10"),
        (["generate", "{enc}"], "g.png", "not a generator"),
        (["generate", "{missing}"], "g.png", "file not found"),
        (["generate", "{gen}"], "grid.txt", "picture file"),
    ],
)
def test_bad_arguments_exit_2(generator_path, tmp_path, args, output_name, message):
    names = {"gen": generator_path, "enc": generator_path.parent / "encoder.onnx",
             "missing": tmp_path / "none.onnx"}
    argv = [a.format(**names) for a in args]
    result = run(*argv, "--output", str(tmp_path / output_name))
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / output_name).exists()
