"""Streaming encode: every input kind read in batches gives the codes of the in-memory path,
reading never holds more than a batch, and outputs appear whole or not at all."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infovaegan_plugin.data import DataError
from infovaegan_plugin.deploy import image_stream
from infovaegan_plugin.deploy.codes_files import encode_file
from infovaegan_plugin.deploy.runtime import OnnxEncoder

N, BATCH = 300, 64


@pytest.fixture(scope="module")
def encoder(digits_export) -> OnnxEncoder:
    return OnnxEncoder(digits_export[0], providers="cpu", intra_op_num_threads=1)


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (N, 8, 8), dtype=np.uint8)


def as_npy_float(folder: Path, pixels: np.ndarray) -> Path:
    np.save(folder / "x.npy", (pixels / 255).astype(np.float32)[:, None])
    return folder / "x.npy"


def as_npy_channels_last(folder: Path, pixels: np.ndarray) -> Path:
    np.save(folder / "x.npy", pixels[..., None])
    return folder / "x.npy"


def as_npz(folder: Path, pixels: np.ndarray) -> Path:
    np.savez_compressed(folder / "x.npz", images=pixels, labels=np.zeros(N, np.int64))
    return folder / "x.npz"


def as_idx_gz(folder: Path, pixels: np.ndarray) -> Path:
    header = struct.pack(">BBBBIII", 0, 0, 0x08, 3, N, 8, 8)
    (folder / "x-idx3-ubyte.gz").write_bytes(gzip.compress(header + pixels.tobytes()))
    return folder / "x-idx3-ubyte.gz"


@pytest.mark.parametrize("make", [as_npy_float, as_npy_channels_last, as_npz, as_idx_gz])
def test_every_file_kind_in_batches_gives_the_in_memory_codes(encoder, pixels, tmp_path, make):
    result = encode_file(encoder, make(tmp_path, pixels), tmp_path / "codes.npz",
                         batch_size=BATCH)
    saved, expected = np.load(tmp_path / "codes.npz"), encoder.encode(pixels)
    assert result.rows == N and saved["row_ids"].tolist() == list(range(N))
    for name, value in expected.items():
        np.testing.assert_allclose(saved[name], value, atol=1e-6, err_msg=name)


def test_a_memory_mapped_array_encodes_like_the_array_in_memory(encoder, pixels, tmp_path):
    images = (pixels / 255).astype(np.float32)[:, None]
    np.save(tmp_path / "x.npy", images)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    encode_file(encoder, mapped, tmp_path / "codes.npy", batch_size=BATCH)
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"),
                               encoder.encode(images)["features"], atol=1e-6)


@pytest.mark.parametrize("make", [as_npy_float, as_npz, as_idx_gz])
def test_reading_never_holds_more_than_a_batch(encoder, pixels, tmp_path, monkeypatch, make):
    source = make(tmp_path, pixels)
    reads: list[int] = []
    real = image_stream._read_exactly

    def counted(handle, size):
        data = real(handle, size)
        reads.append(len(data))
        return data

    monkeypatch.setattr(image_stream, "_read_exactly", counted)
    encode_file(encoder, source, tmp_path / "codes.csv", batch_size=BATCH)
    row_bytes = 64 * (4 if source.suffix == ".npy" else 1)
    assert len(reads) == -(-N // BATCH) and max(reads) == BATCH * row_bytes
    assert sum(reads) == N * row_bytes


def test_a_folder_is_read_in_batches_with_its_names_and_skips(encoder, pixels, tmp_path):
    folder = tmp_path / "pictures"
    (folder / "b").mkdir(parents=True)
    for i in range(5):
        Image.fromarray(pixels[i]).save(folder / ("b" if i % 2 else ".") / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not a picture")
    result = encode_file(encoder, folder, tmp_path / "codes.npz", batch_size=2)
    saved = np.load(tmp_path / "codes.npz")
    names = ["0.png", "2.png", "4.png", "b/1.png", "b/3.png"]
    assert saved["files"].tolist() == names and result.rows == 5
    assert [name for name, _ in result.skipped] == ["broken.png"]
    order = [0, 2, 4, 1, 3]
    np.testing.assert_allclose(saved["features"], encoder.encode(pixels[order])["features"],
                               atol=1e-6)


def test_a_truncated_input_fails_and_leaves_the_earlier_output(encoder, pixels, tmp_path):
    source = as_idx_gz(tmp_path, pixels)
    output = tmp_path / "codes.npy"
    encode_file(encoder, source, output, batch_size=BATCH)
    before = output.read_bytes()
    header = struct.pack(">BBBBIII", 0, 0, 0x08, 3, N, 8, 8)
    source.write_bytes(gzip.compress(header + pixels.tobytes()[:-1000]))  # found mid-way
    with pytest.raises(DataError, match=r"gz: truncated: the header promises 300 rows of 64 "
                                        r"bytes, the data ends after 284 rows"):
        encode_file(encoder, source, output, batch_size=BATCH)
    assert output.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codes.npy", source.name]
    np.save(tmp_path / "cut.npy", pixels)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-1000])
    with pytest.raises(DataError, match=r"cut\.npy: corrupt or unreadable array file"):
        encode_file(encoder, tmp_path / "cut.npy", output)  # found from the header


def test_a_decompression_bomb_in_a_folder_is_skipped_undecoded(encoder, pixels, tmp_path,
                                                               monkeypatch, claiming_picture):
    from PIL import ImageFile

    folder = tmp_path / "pictures"
    folder.mkdir()
    Image.fromarray(pixels[0]).save(folder / "a.png")
    claiming_picture(folder / "bomb.png", 24_000, 24_000)  # 103 bytes, 576 megapixels
    claiming_picture(folder / "screen.gif", 65_535, 65_535)
    Image.fromarray(pixels[1]).save(folder / "z.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # a caller switched Pillow's off
    real_load = ImageFile.ImageFile.load

    def load(self):
        assert self.size[0] * self.size[1] <= 64 * 64, f"decoding {self.size}"
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    result = encode_file(encoder, folder, tmp_path / "codes.npz", batch_size=BATCH)
    saved = np.load(tmp_path / "codes.npz")
    assert saved["files"].tolist() == ["a.png", "z.png"] and result.rows == 2
    assert list(result.skipped) == [
        ("bomb.png", "too large: 24000x24000 = 576,000,000 pixels, above the limit of "
                     "67,108,864 (not decoded)"),
        ("screen.gif", "too large: 65535x65535 = 4,294,836,225 pixels, above the limit of "
                       "67,108,864 (not decoded)"),
    ]
    np.testing.assert_allclose(saved["features"], encoder.encode(pixels[:2])["features"],
                               atol=1e-6)
