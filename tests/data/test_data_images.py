"""Loading image folders with Pillow: order, labels from sub-folders, skipped files."""

from __future__ import annotations

import warnings

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


# ------------------------------------------------------------------ hostile pictures

LIMIT = "above the limit of 67,108,864 (not decoded)"


@pytest.mark.parametrize(("name", "width", "height", "pixels"), [
    ("bomb.png", 24_000, 24_000, "576,000,000"),  # above Pillow's own error threshold
    ("mid.png", 10_000, 10_000, "100,000,000"),  # between Pillow's warning and its error
    ("screen.gif", 65_535, 65_535, "4,294,836,225"),  # GIF's largest logical screen
    ("big.tif", 100_000, 100_000, "10,000,000,000"),
])
@pytest.mark.parametrize("pillow_limit", ["default", "disabled by a caller"])
def test_pictures_claiming_too_many_pixels_are_skipped_undecoded(
        tmp_path, monkeypatch, claiming_picture, name, width, height, pixels, pillow_limit):
    from PIL import ImageFile

    def no_decoding(self):
        raise AssertionError("a picture over the limit was decoded")

    if pillow_limit != "default":
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    folder = tmp_path / "pictures"
    claiming_picture(folder / name, width, height)
    assert (folder / name).stat().st_size < 200
    # Pillow's own limit refuses the largest before the size is known: the count, not WxH
    shape = f"{width}x{height} = " if pillow_limit != "default" or name == "mid.png" else ""
    reason = f"too large: {shape}{pixels} pixels, {LIMIT}"
    with monkeypatch.context() as patch, warnings.catch_warnings():
        patch.setattr(ImageFile.ImageFile, "load", no_decoding)
        warnings.simplefilter("error")  # and no DecompressionBombWarning either
        with pytest.raises(DataError) as refused:
            load_image_folder(folder)
    assert str(refused.value) == f"{folder}: no readable images (1 file(s) skipped: {name}: " \
                                 f"{reason})"
    _png(folder / "a.png", 0)
    data, files, skipped = load_image_folder(folder)
    assert [f.name for f in files] == ["a.png"] and len(data) == 1
    assert [(p.name, why) for p, why in skipped] == [(name, reason)]


def test_pictures_at_the_limit_are_read(tmp_path):
    from infovaegan_plugin.data.images import MAX_IMAGE_PIXELS, read_image

    _png(tmp_path / "a.png", 7, size=(8, 2))
    assert read_image(tmp_path / "a.png", None, True, max_pixels=16).shape == (1, 2, 8)
    with pytest.raises(ValueError, match=r"too large: 8x2 = 16 pixels, above the limit of 15"):
        read_image(tmp_path / "a.png", None, True, max_pixels=15)
    assert MAX_IMAGE_PIXELS == 8192 * 8192


def test_truncated_and_corrupt_pngs_are_skipped_as_unreadable(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(tmp_path / "cut.png")
    whole = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "flipped.png").write_bytes(whole[:40] + bytes(b ^ 0xFF for b in whole[40:60])
                                           + whole[60:])
    _png(tmp_path / "ok.png", 3, size=(64, 64))
    data, files, skipped = load_image_folder(tmp_path)
    assert [f.name for f in files] == ["ok.png"]
    reasons = {p.name: why for p, why in skipped}
    assert reasons["cut.png"] == "unreadable image: image file is truncated"
    assert reasons["flipped.png"].startswith("unreadable image: ")


def test_a_gif_with_many_frames_reads_its_first_frame_only(tmp_path, monkeypatch):
    from PIL import GifImagePlugin

    frames = [Image.fromarray(np.full((8, 8), 7 * i % 256, np.uint8)) for i in range(300)]
    frames[0].save(tmp_path / "many.gif", save_all=True, append_images=frames[1:])
    with Image.open(tmp_path / "many.gif") as gif:
        assert gif.n_frames == 300
    seeks: list[int] = []
    real_seek = GifImagePlugin.GifImageFile.seek

    def counted(self, frame):
        seeks.append(frame)
        return real_seek(self, frame)

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "seek", counted)
    data, _, skipped = load_image_folder(tmp_path)
    assert skipped == [] and data.images.shape == (1, 1, 8, 8)
    assert data.images.max() == 0.0 and max(seeks, default=0) == 0  # frame 0, never frame 1+
