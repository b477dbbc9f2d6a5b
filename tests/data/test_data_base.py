"""ImageData, validation messages and the pythae dataset wrapper."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from infovaegan_plugin.data import DataError, ImageData, to_pythae_dataset, validate_images


def _data(n=10, labels=True):
    rng = np.random.default_rng(0)
    images = rng.random((n, 1, 4, 4), dtype=np.float32)
    return ImageData(
        images=images,
        labels=np.arange(n, dtype=np.int64) % 3 if labels else None,
        factors=np.stack([np.arange(n), np.arange(n) * 2], axis=1).astype(np.int64),
        factor_names=("a", "b"),
        name="toy",
    )


def test_bad_data_raises_data_error_that_value_error_handlers_catch():
    """Callers (the CLI, pythae pipelines) catch ValueError: a DataError must reach them, with
    a message that names the problem and the fix."""
    try:
        validate_images(np.zeros((2, 3)))
    except ValueError as exc:  # the handler callers write
        caught = exc
    else:
        pytest.fail("a 2-D array was accepted as images")
    assert type(caught) is DataError
    assert "got ndim=2 with shape (2, 3)" in str(caught) and "reshape" in str(caught)


def test_uint8_divided_by_255():
    arr = np.array([[[0, 51], [255, 102]]], dtype=np.uint8)
    out = validate_images(arr)
    assert out.dtype == np.float32 and out.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(out[0, 0], [[0.0, 0.2], [1.0, 0.4]], rtol=1e-6)


def test_nhw_gets_channel_axis_and_nhwc_is_moved():
    assert validate_images(np.zeros((3, 5, 7))).shape == (3, 1, 5, 7)
    rgb = np.zeros((2, 5, 7, 3), dtype=np.float64)
    rgb[..., 1] = 0.5
    out = validate_images(rgb)
    assert out.shape == (2, 3, 5, 7) and out.dtype == np.float32
    assert out[:, 1].min() == 0.5 and out[:, 0].max() == 0.0


def test_expected_shape_disambiguates_and_mismatch_names_both():
    out = validate_images(np.zeros((2, 8, 8, 1)), expected_shape=(1, 8, 8))
    assert out.shape == (2, 1, 8, 8)
    with pytest.raises(DataError, match=r"\(1, 8, 8\) does not match the expected .*\(1, 28, 28\)"):
        validate_images(np.zeros((2, 8, 8)), expected_shape=(1, 28, 28))


def test_empty_wrong_ndim_and_dtype_errors():
    with pytest.raises(DataError, match="no images"):
        validate_images(np.zeros((0, 1, 8, 8)))
    with pytest.raises(DataError, match="ndim=2 .*reshape"):
        validate_images(np.zeros((4, 64)))
    with pytest.raises(DataError, match="ndim=5"):
        validate_images(np.zeros((1, 1, 1, 4, 4)))
    with pytest.raises(DataError, match="non-numeric dtype"):
        validate_images(np.array([[["a", "b"]]]))
    with pytest.raises(DataError, match="channel axis"):
        validate_images(np.zeros((2, 5, 6, 7)))


def test_non_finite_values_are_counted():
    arr = np.zeros((2, 1, 3, 3), dtype=np.float32)
    arr[0, 0, 0, :2] = np.nan
    arr[1, 0, 2, 2] = np.inf
    with pytest.raises(DataError, match=r"3 non-finite values \(2 NaN, 1 inf\)"):
        validate_images(arr)


def test_out_of_range_reports_the_range_found_and_expected():
    arr = np.full((1, 1, 2, 2), 200.0)
    arr[0, 0, 0, 0] = 0.0
    with pytest.raises(DataError, match=r"found min 0, max 200, expected \[0, 1\]; .*255 for 8-bit"):
        validate_images(arr)
    with pytest.raises(DataError, match=r"min -1, max 1, expected \[0, 1\]; .*\(x \+ 1\) / 2$"):
        validate_images(np.array([[[-1.0, 1.0]]]))
    with pytest.raises(DataError, match=r"max 300, expected \[0, 1\]$"):
        validate_images(np.full((1, 2, 2), 300, dtype=np.int64))
    digits_levels = np.arange(16, dtype=np.float64).reshape(1, 4, 4) + 1  # 1..16
    with pytest.raises(DataError, match=r"found min 1, max 16, .*levels 0\.\.16: .*16 for"):
        validate_images(digits_levels)


def test_rounding_noise_is_clipped():
    out = validate_images(np.array([[[1.0 + 1e-9, -1e-9]]]))
    assert out.min() == 0.0 and out.max() == 1.0


def test_imagedata_structure_checks():
    with pytest.raises(DataError, match="float32"):
        ImageData(images=np.zeros((2, 1, 4, 4)))
    with pytest.raises(DataError, match=r"int64 array of shape \(2,\)"):
        ImageData(images=np.zeros((2, 1, 4, 4), np.float32), labels=np.zeros(3, np.int64))
    with pytest.raises(DataError, match="2 factor names for 1 factor columns"):
        ImageData(
            images=np.zeros((2, 1, 4, 4), np.float32),
            factors=np.zeros((2, 1), np.int64),
            factor_names=("a", "b"),
        )


def test_frozen_len_and_input_dim():
    data = _data()
    assert len(data) == 10 and data.input_dim == (1, 4, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.name = "other"


def test_from_arrays_converts_and_checks_labels():
    data = ImageData.from_arrays(
        np.full((3, 4, 4), 255, np.uint8), labels=[[1.0], [2.0], [0.0]], name="x"
    )
    assert data.images.max() == 1.0 and data.labels.tolist() == [1, 2, 0]
    assert data.labels.dtype == np.int64
    with pytest.raises(DataError, match="3 images but 2 labels"):
        ImageData.from_arrays(np.zeros((3, 4, 4)), labels=[1, 2])
    with pytest.raises(DataError, match="integer-valued"):
        ImageData.from_arrays(np.zeros((2, 4, 4)), labels=[0.5, 1.0])


def test_subset_keeps_rows_aligned():
    data = _data()
    sub = data.subset([7, 2])
    assert len(sub) == 2 and sub.name == "toy"
    np.testing.assert_array_equal(sub.images, data.images[[7, 2]])
    assert sub.labels.tolist() == [1, 2] and sub.factors.tolist() == [[7, 14], [2, 4]]
    assert sub.factor_names == ("a", "b")
    mask = np.zeros(10, bool)
    mask[[0, 9]] = True
    assert data.subset(mask).labels.tolist() == [0, 0]
    assert len(data.subset(slice(0, 4))) == 4
    with pytest.raises(DataError, match="out of range"):
        data.subset([10])


def test_split_is_seeded_disjoint_and_complete():
    data = _data(n=100)
    train, held = data.split(0.2, seed=3)
    assert (len(train), len(held)) == (80, 20)
    ids = np.concatenate([train.factors[:, 0], held.factors[:, 0]])
    assert sorted(ids.tolist()) == list(range(100))
    again_train, again_held = data.split(0.2, seed=3)
    np.testing.assert_array_equal(again_held.factors, held.factors)
    other = data.split(0.2, seed=4)[1]
    assert not np.array_equal(other.factors, held.factors)
    with pytest.raises(DataError, match=r"fraction must be in \(0, 1\)"):
        data.split(1.0)
    with pytest.raises(DataError, match="one side would be empty"):
        _data(n=2).split(0.1)


def test_to_pythae_dataset_keeps_labels():
    data = _data()
    ds = to_pythae_dataset(data)
    assert ds.has_labels is True and len(ds) == 10
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=False)))  # how pythae's trainer reads
    assert torch.equal(batch["data"], torch.from_numpy(data.images[:4]))
    assert batch["labels"].tolist() == [0, 1, 2, 0]
    item = ds[3]
    assert torch.equal(item["data"], torch.from_numpy(data.images[3]))
    assert item["labels"].item() == 0.0
    assert ds.labels.tolist() == (np.arange(10) % 3).tolist()


def test_to_pythae_dataset_without_labels():
    ds = to_pythae_dataset(_data(labels=False))
    assert ds.has_labels is False
    assert ds.labels.shape == (10,) and bool((ds.labels == -1).all())
    with pytest.raises(DataError, match="expects an ImageData"):
        to_pythae_dataset(np.zeros((1, 1, 2, 2)))
