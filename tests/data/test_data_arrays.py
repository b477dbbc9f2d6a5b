"""Loading images from .npy / .npz files."""

from __future__ import annotations

import numpy as np
import pytest

from infovaegan_plugin.data import DataError, index_to_classes, load_array_file, render


def test_npy_uint8_nhwc(tmp_path):
    arr = np.zeros((4, 6, 5, 3), np.uint8)
    arr[..., 2] = 255
    np.save(tmp_path / "rgb.npy", arr)
    data = load_array_file(tmp_path / "rgb.npy")
    assert data.images.shape == (4, 3, 6, 5) and data.labels is None
    assert data.images[:, 2].min() == 1.0 and data.images[:, :2].max() == 0.0
    assert data.name == "rgb"


def test_npz_default_keys_with_labels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((7, 8, 8))
    np.savez(tmp_path / "d.npz", X=x, y=np.arange(7), other=np.zeros(2))
    data = load_array_file(tmp_path / "d.npz")
    assert data.images.shape == (7, 1, 8, 8)
    np.testing.assert_allclose(data.images[:, 0], x, rtol=1e-6)
    assert data.labels.tolist() == list(range(7)) and data.labels.dtype == np.int64


def test_npz_explicit_key_and_missing_key(tmp_path):
    np.savez(tmp_path / "k.npz", first=np.zeros((2, 4, 4)), second=np.ones((3, 4, 4)))
    assert len(load_array_file(tmp_path / "k.npz", key="second")) == 3
    with pytest.raises(DataError, match=r"no key 'third'; keys present: \['first', 'second'\]"):
        load_array_file(tmp_path / "k.npz", key="third")
    with pytest.raises(
        DataError, match=r"no image array found under .*keys present: \['first', 'second'\]"
    ):
        load_array_file(tmp_path / "k.npz")


def test_single_unnamed_array_npz(tmp_path):
    np.savez(tmp_path / "one.npz", np.zeros((2, 4, 4)))
    assert load_array_file(tmp_path / "one.npz").images.shape == (2, 1, 4, 4)


def test_errors_missing_corrupt_invalid(tmp_path):
    with pytest.raises(DataError, match=r"nothing\.npy: file not found"):
        load_array_file(tmp_path / "nothing.npy")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match=r"bad\.npy: corrupt or unreadable array file"):
        load_array_file(tmp_path / "bad.npy")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"bad\.npz: corrupt or unreadable"):
        load_array_file(tmp_path / "bad.npz")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="corrupt or unreadable array file .*pickle"):
        load_array_file(tmp_path / "obj.npy")
    np.save(tmp_path / "big.npy", np.full((2, 4, 4), 7.0))
    with pytest.raises(DataError, match=r"big\.npy: values out of \[0, 1\]: found min 7, max 7"):
        load_array_file(tmp_path / "big.npy")
    np.savez(tmp_path / "lab.npz", images=np.zeros((3, 4, 4)), labels=np.arange(4))
    with pytest.raises(DataError, match="3 images but 4 labels"):
        load_array_file(tmp_path / "lab.npz")
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(DataError, match=r"expected a \.npy or \.npz file"):
        load_array_file(tmp_path / "x.txt")


def test_dsprites_npz_is_not_divided_by_255(tmp_path):
    classes = index_to_classes(np.array([0, 5000]))
    np.savez(
        tmp_path / "ds.npz",
        imgs=render(classes, dtype=np.uint8)[:, 0],
        latents_values=classes.astype(float),
        latents_classes=classes,
    )
    data = load_array_file(tmp_path / "ds.npz")
    assert data.images.max() == 1.0 and data.factors.tolist() == classes.tolist()
