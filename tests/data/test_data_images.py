"""Loading image folders with Pillow: order, labels from sub-folders, skipped files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from infovaegan_plugin.data import DataError, load_image_folder


def _png(path, value, size=(6, 4), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    if mode == "L":
        arr = np.full((h, w), value, np.uint8)
    else:
        arr = np.zeros((h, w, 3), np.uint8)
        arr[..., 0] = value
    Image.fromarray(arr, mode=mode).save(path)


def test_flat_folder_sorted_unlabelled(tmp_path):
    _png(tmp_path / "b.png", 255)
    _png(tmp_path / "a.png", 0)
    _png(tmp_path / "c.jpg", 51)
    data, files, skipped = load_image_folder(tmp_path)
    assert [f.name for f in files] == ["a.png", "b.png", "c.jpg"]
    assert data.images.shape == (3, 1, 4, 6) and data.labels is None and skipped == []
    assert data.images[0].max() == 0.0 and data.images[1].min() == 1.0
    assert data.images[2].mean() == pytest.approx(0.2, abs=0.02)  # JPEG is lossy


def test_class_subfolders_become_labels(tmp_path):
    _png(tmp_path / "dog" / "1.png", 10)
    _png(tmp_path / "cat" / "2.png", 20)
    _png(tmp_path / "cat" / "nested" / "3.png", 30)
    data, files, _ = load_image_folder(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "cat/2.png", "cat/nested/3.png", "dog/1.png",
    ]
    assert data.labels.tolist() == [0, 0, 1] and data.class_names == ("cat", "dog")


def test_mixed_layout_has_no_labels(tmp_path):
    _png(tmp_path / "cat" / "1.png", 10)
    _png(tmp_path / "top.png", 10)
    data, _, _ = load_image_folder(tmp_path)
    assert data.labels is None


def test_unreadable_and_odd_files_are_reported(tmp_path):
    _png(tmp_path / "a.png", 0)
    _png(tmp_path / "big.png", 0, size=(8, 8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden.png").write_bytes(b"")
    data, files, skipped = load_image_folder(tmp_path)
    assert [f.name for f in files] == ["a.png"] and len(data) == 1
    reasons = {p.name: why for p, why in skipped}
    assert set(reasons) == {"big.png", "broken.png", "notes.txt"}
    assert reasons["big.png"].startswith("size 8x8 differs from 4x6")
    assert reasons["broken.png"].startswith("unreadable image")
    assert reasons["notes.txt"] == "unsupported extension '.txt'"


def test_resize_and_rgb(tmp_path):
    _png(tmp_path / "a.png", 255, size=(6, 4), mode="RGB")
    _png(tmp_path / "b.png", 255, size=(10, 10), mode="RGB")
    data, files, skipped = load_image_folder(tmp_path, size=8, grayscale=False)
    assert data.images.shape == (2, 3, 8, 8) and skipped == []
    assert data.images[:, 0].min() == 1.0 and data.images[:, 1:].max() == 0.0
    grey, _, _ = load_image_folder(tmp_path, size=(5, 7))
    assert grey.images.shape == (2, 1, 5, 7)


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(DataError, match="image folder not found"):
        load_image_folder(tmp_path / "none")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(
        DataError, match=r"no readable images \(1 file\(s\) skipped: x\.txt: unsupported"
    ):
        load_image_folder(tmp_path)
