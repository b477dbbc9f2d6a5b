"""``infovaegan encode``: input kinds, output formats, row order, skipped files, bad inputs."""

from __future__ import annotations

import csv
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from infovaegan_plugin.cli.app import app

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def export_dir(tiny_export) -> Path:
    return tiny_export / "onnx"


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    from infovaegan_plugin.data import load_digits_data

    return load_digits_data().images[:40]


def encode(export_dir: Path, source: Path, output: Path, *extra: str):
    return runner.invoke(app, ["encode", str(export_dir / "encoder.onnx"), str(source),
                               "--output", str(output), "--threads", "1", *extra])


def reference(export_dir: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    from infovaegan_plugin.deploy.runtime import OnnxEncoder

    return OnnxEncoder(export_dir / "encoder.onnx", providers="cpu").encode(images)


def test_npz_holds_every_output_row_ids_and_order(export_dir, images, tmp_path):
    np.save(tmp_path / "x.npy", images)
    result = encode(export_dir, tmp_path / "x.npy", tmp_path / "codes.npz", "--batch-size", "16")
    assert result.exit_code == 0, result.output
    assert "encoding" in result.output  # progress bar: 40 images in batches of 16
    saved = np.load(tmp_path / "codes.npz")
    expected = reference(export_dir, images)
    for key, value in expected.items():
        np.testing.assert_allclose(saved[key], value, atol=1e-6, err_msg=key)
    assert saved["row_ids"].tolist() == list(range(40))
    assert "row i is image i" in str(saved["row_order"])
    assert list(saved["feature_columns"][:11]) == [
        *(f"categorical_probs_{j}" for j in range(10)), "continuous_mean_0"]
    assert len(saved["feature_columns"]) == saved["features"].shape[1]


def test_csv_has_named_columns_row_ids_and_argmax(export_dir, images, tmp_path):
    np.savez(tmp_path / "x.npz", images=images, labels=np.zeros(40, dtype=np.int64))
    result = encode(export_dir, tmp_path / "x.npz", tmp_path / "codes.csv")
    assert result.exit_code == 0, result.output
    with (tmp_path / "codes.csv").open() as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["row", "categorical_0_argmax", "categorical_probs_0"]
    assert "continuous_mean_1" in header and "noise_logvar_3" in header
    assert not any(name.startswith("features") for name in header)
    assert [row[0] for row in body] == [str(i) for i in range(40)]
    expected = reference(export_dir, images)
    probs = np.array([[float(v) for v in row[2:12]] for row in body])
    np.testing.assert_allclose(probs, expected["categorical_probs"], atol=1e-7)
    assert [int(row[1]) for row in body] == expected["categorical_logits"].argmax(1).tolist()


def test_image_folder_reports_and_skips_the_corrupt_file(export_dir, images, tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, name in enumerate(("b.png", "a.png", "c.png")):
        Image.fromarray((images[i, 0] * 255).round().astype(np.uint8)).save(folder / name)
    (folder / "broken.png").write_bytes(b"this is not a PNG")
    result = encode(export_dir, folder, tmp_path / "codes.csv")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "skipped broken.png" in text and "1 file(s) skipped" in text
    assert "sorted by path" in text
    with (tmp_path / "codes.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "file"
    assert [row[0] for row in rows[1:]] == ["a.png", "b.png", "c.png"]

    result = encode(export_dir, folder, tmp_path / "codes.npz")
    assert result.exit_code == 0, result.output
    saved = np.load(tmp_path / "codes.npz")
    assert saved["files"].tolist() == ["a.png", "b.png", "c.png"]
    assert "skipped file(s) have no row" in str(saved["row_order"])


def test_a_data_set_name_is_an_input(export_dir, tmp_path):
    from infovaegan_plugin.data import load_digits_data

    result = encode(export_dir, Path("digits"), tmp_path / "codes.npy")
    assert result.exit_code == 0, result.output
    assert "digits train split order" in flat(result.output)
    digits = load_digits_data().images
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"),
                               reference(export_dir, digits)["features"], atol=1e-6)


def test_idx_input(export_dir, images, tmp_path):
    pixels = (images[:, 0] * 255).round().astype(np.uint8)
    header = struct.pack(">BBBBIII", 0, 0, 0x08, 3, len(pixels), 8, 8)
    path = tmp_path / "digits-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + pixels.tobytes()))
    result = encode(export_dir, path, tmp_path / "codes.npy")
    assert result.exit_code == 0, result.output
    features = np.load(tmp_path / "codes.npy")
    np.testing.assert_allclose(features, reference(export_dir, pixels)["features"], atol=1e-5)


def missing_file(folder: Path) -> Path:
    return folder / "missing.npy"


def wrong_shape(folder: Path) -> Path:
    np.save(folder / "big.npy", np.zeros((3, 1, 28, 28), np.float32))
    return folder / "big.npy"


def unsupported(folder: Path) -> Path:
    (folder / "notes.txt").write_text("x")
    return folder / "notes.txt"


def good_array(folder: Path) -> Path:
    np.save(folder / "ok.npy", np.zeros((2, 8, 8), np.float32))
    return folder / "ok.npy"


@pytest.mark.parametrize(
    ("make_input", "output", "message"),
    [
        (missing_file, "c.npy", "missing.npy: no such file or directory, and not a data set"),
        (wrong_shape, "c.npy", "got (3, 1, 28, 28)"),
        (unsupported, "c.npy", "unsupported input"),
        (good_array, "c.json", "--output must end in .npy, .npz or .csv"),
    ],
)
def test_bad_inputs_exit_2_with_a_message(export_dir, tmp_path, make_input, output, message):
    result = encode(export_dir, make_input(tmp_path), tmp_path / output)
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / output).exists()


def test_a_generator_is_not_an_encoder(export_dir, images, tmp_path):
    np.save(tmp_path / "x.npy", images)
    result = runner.invoke(app, ["encode", str(export_dir / "generator.onnx"),
                                 str(tmp_path / "x.npy"), "--output", str(tmp_path / "c.npy")])
    assert result.exit_code == 2
    assert "not an encoder" in flat(result.output)
