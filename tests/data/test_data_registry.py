"""load_dataset: names, paths, splits and options; the digits loader; public exports."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from PIL import Image

import infovaegan_plugin.data as data_api
from infovaegan_plugin.data import DataError, load_dataset, load_digits_data


def test_public_api_exports():
    for name in (
        "ImageData", "DataError", "to_pythae_dataset", "validate_images", "load_dataset",
        "load_mnist", "download_mnist", "read_idx", "load_digits_data", "load_dsprites",
        "load_dsprites_npz", "load_array_file", "load_image_folder", "latents_sizes",
        "index_to_classes", "classes_to_index", "render", "sample_factors",
    ):
        assert hasattr(data_api, name), name
    assert set(data_api.__all__) <= set(dir(data_api))


def test_digits():
    data = load_digits_data()
    assert data.images.shape == (1797, 1, 8, 8) and data.images.dtype == np.float32
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    assert np.bincount(data.labels).tolist()[:3] == [178, 182, 177]
    # grey level 16 -> 1.0, so values are multiples of 1/16
    np.testing.assert_allclose(data.images * 16, np.round(data.images * 16), atol=1e-5)
    assert load_dataset("digits").images.shape == (1797, 1, 8, 8)


def test_named_dsprites_and_options():
    data = load_dataset("dsprites", n=20, seed=1)
    assert data.images.shape == (20, 1, 64, 64) and data.factors.shape == (20, 6)
    with pytest.raises(
        DataError,
        match=r"dsprites: unknown option\(s\) \['limit'\]; accepted: \['factors', 'n', 'seed'\]",
    ):
        load_dataset("dsprites", limit=3)


def test_named_dsprites_from_data_dir(tmp_path):
    with pytest.raises(
        DataError, match=r"dsprites_ndarray_co1sh3sc6or40x32y32_64x64\.npz: file not found"
    ):
        load_dataset("dsprites", data_dir=tmp_path)


def test_mnist_by_name_and_by_dir(mnist_dir):
    data = load_dataset("mnist", data_dir=mnist_dir, split="test", limit=10)
    assert data.images.shape == (10, 1, 28, 28) and data.name == "mnist-test"
    same = load_dataset(mnist_dir, split="test", limit=10)
    np.testing.assert_array_equal(same.images, data.images)
    with pytest.raises(DataError, match="mnist needs data_dir"):
        load_dataset("mnist")


def test_test_split_only_where_official():
    with pytest.raises(DataError, match="digits has no official test split.*data.split"):
        load_dataset("digits", split="test")
    with pytest.raises(DataError, match=r"split must be one of \('train', 'test', 'all'\)"):
        load_dataset("digits", split="val")
    assert len(load_dataset("dsprites", split="all", n=3)) == 3


def test_paths_npz_folder_idx(tmp_path, idx_bytes):
    np.savez(tmp_path / "a.npz", images=np.zeros((3, 5, 5)), labels=[0, 1, 1])
    assert load_dataset(tmp_path / "a.npz").labels.tolist() == [0, 1, 1]
    assert len(load_dataset(str(tmp_path / "a.npz"), key="images")) == 3

    folder = tmp_path / "pics"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"broken")
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\): .*b\.png: unreadable image"):
        data = load_dataset(folder)
    assert len(data) == 1

    images = (np.arange(2 * 28 * 28) % 256).astype(np.uint8).reshape(2, 28, 28)
    (tmp_path / "my-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "my-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.array([3, 4], np.uint8)))
    )
    idx = load_dataset(tmp_path / "my-images-idx3-ubyte.gz")
    assert idx.images.shape == (2, 1, 28, 28) and idx.labels.tolist() == [3, 4]
    with pytest.raises(DataError, match="holds 1-D labels, not images"):
        load_dataset(tmp_path / "my-labels-idx1-ubyte.gz")


def test_unknown_name_and_unsupported_file(tmp_path):
    with pytest.raises(
        DataError,
        match=r"cifar10: no such file or directory, and not a data set name \(known: digits, ",
    ):
        load_dataset("cifar10")
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(DataError, match="unsupported file type '.csv'"):
        load_dataset(tmp_path / "data.csv")
