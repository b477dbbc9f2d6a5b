"""IDX parsing, MNIST loading from the local copy, and the checksum-verified download."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from infovaegan_plugin.data import DataError, download_mnist, load_mnist, read_idx
from infovaegan_plugin.data.mnist import MNIST_MD5

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
T10K = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="module")
def mnist_train(mnist_dir):
    return load_mnist(mnist_dir, split="train")


@pytest.fixture(scope="module")
def mnist_test(mnist_dir):
    return load_mnist(mnist_dir, split="test")


# --- real data ---------------------------------------------------------------------------


def test_train_split_shapes_counts_and_range(mnist_train):
    assert mnist_train.images.shape == (60000, 1, 28, 28)
    assert mnist_train.images.dtype == np.float32
    assert mnist_train.images.min() == 0.0 and mnist_train.images.max() == 1.0
    assert mnist_train.labels.dtype == np.int64 and mnist_train.labels.shape == (60000,)
    assert np.bincount(mnist_train.labels, minlength=10).tolist() == TRAIN_COUNTS
    assert mnist_train.name == "mnist-train"


def test_test_split_shapes_and_range(mnist_test):
    assert mnist_test.images.shape == (10000, 1, 28, 28)
    assert mnist_test.labels.shape == (10000,)
    assert set(np.unique(mnist_test.labels).tolist()) == set(range(10))
    assert 0.0 <= mnist_test.images.min() and mnist_test.images.max() <= 1.0
    # MNIST digits are mostly background: mean intensity about 0.13
    assert 0.12 < float(mnist_test.images.mean()) < 0.14


def test_read_idx_header_of_real_files(mnist_dir):
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert labels.dtype == np.uint8 and labels.shape == (10000,)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # first rows of the official test file


def test_limit_keeps_first_rows(mnist_dir, mnist_test):
    small = load_mnist(mnist_dir, split="test", limit=50)
    assert small.images.shape == (50, 1, 28, 28)
    np.testing.assert_array_equal(small.labels, mnist_test.labels[:50])
    np.testing.assert_array_equal(small.images, mnist_test.images[:50])


# --- IDX parsing and errors on small files -----------------------------------------------


def test_read_idx_plain_and_gzip_and_wide_dtypes(tmp_path, idx_bytes):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(arr))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), arr)
    wide = np.array([[-5, 70000], [1, 2]], dtype=np.int32)
    (tmp_path / "w.idx").write_bytes(idx_bytes(wide, code=0x0C))
    out = read_idx(tmp_path / "w.idx")
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, wide)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nothere-idx3-ubyte\.gz: file not found"):
        read_idx(tmp_path / "nothere-idx3-ubyte.gz")


def test_read_idx_bad_magic(tmp_path, idx_bytes):
    bad = b"\x01\x02" + idx_bytes(np.zeros((2, 2), np.uint8))[2:]
    (tmp_path / "bad.idx").write_bytes(bad)
    with pytest.raises(DataError, match=r"bad\.idx: bad IDX magic 0102"):
        read_idx(tmp_path / "bad.idx")


def test_read_idx_unknown_type_code(tmp_path):
    (tmp_path / "t.idx").write_bytes(bytes([0, 0, 0x07, 1]) + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(DataError, match="unknown IDX data type code 0x07"):
        read_idx(tmp_path / "t.idx")


def test_read_idx_truncated_payload(tmp_path, idx_bytes):
    raw = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    (tmp_path / "short-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(
        DataError, match=r"short-idx3-ubyte\.gz: truncated payload: .*needs 7840 bytes, found 7740"
    ):
        read_idx(tmp_path / "short-idx3-ubyte.gz")


def test_read_idx_truncated_header_and_trailing_bytes(tmp_path, idx_bytes):
    (tmp_path / "h.idx").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(tmp_path / "h.idx")
    (tmp_path / "long.idx").write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"xx")
    with pytest.raises(DataError, match="2 unexpected bytes after the payload"):
        read_idx(tmp_path / "long.idx")


def test_read_idx_corrupt_gzip(tmp_path, idx_bytes):
    good = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"cut\.gz: corrupt gzip data"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "junk.gz").write_bytes(b"\x1f\x8b" + b"not really gzip at all" * 3)
    with pytest.raises(DataError, match=r"junk\.gz: corrupt gzip data"):
        read_idx(tmp_path / "junk.gz")


# --- load_mnist on small synthetic directories ------------------------------------------


def test_load_mnist_small_dir_roundtrip(write_mnist_like):
    root, images, labels = write_mnist_like(n_images=6, n_labels=6)
    data = load_mnist(root, split="train")
    assert data.images.shape == (6, 1, 28, 28)
    np.testing.assert_allclose(data.images[:, 0], images / 255.0, rtol=1e-6)
    assert data.labels.tolist() == labels.tolist()


def test_load_mnist_count_mismatch(write_mnist_like):
    root, _, _ = write_mnist_like(n_images=5, n_labels=4)
    with pytest.raises(DataError, match="train split has 5 images but 4 labels"):
        load_mnist(root)


def test_load_mnist_wrong_image_size(write_mnist_like):
    root, _, _ = write_mnist_like(hw=(10, 10))
    with pytest.raises(DataError, match=r"shape \(N, 28, 28\), got uint8 \(5, 10, 10\)"):
        load_mnist(root)


def test_load_mnist_missing_files_and_bad_split(tmp_path, write_mnist_like):
    with pytest.raises(DataError, match="MNIST directory not found"):
        load_mnist(tmp_path / "nope")
    root, _, _ = write_mnist_like(split="train")
    with pytest.raises(
        DataError, match=r"t10k-images-idx3-ubyte\.gz: file not found.*download_mnist"
    ):
        load_mnist(root, split="test")
    with pytest.raises(DataError, match="split must be 'train', 'test' or 'all'"):
        load_mnist(root, split="valid")


def test_load_mnist_all_concatenates(write_mnist_like):
    write_mnist_like(n_images=3, n_labels=3, split="train", seed=1)
    root, test_images, _ = write_mnist_like(n_images=2, n_labels=2, split="test", seed=2)
    data = load_mnist(root, split="all")
    assert len(data) == 5
    np.testing.assert_allclose(data.images[3:, 0], test_images / 255.0, rtol=1e-6)


# --- download with an injected fetch (never the network) ----------------------------------


class FakeFetch:
    """Serves file bytes by URL basename; URLs starting with a broken mirror raise OSError."""

    def __init__(self, files: dict, broken_mirror: str | None = None):
        self.files = files
        self.broken = broken_mirror
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if self.broken and url.startswith(self.broken):
            raise OSError("connection refused")
        return self.files[url.rsplit("/", 1)[1]]


@pytest.fixture(scope="module")
def t10k_bytes(mnist_dir):
    return {name: (mnist_dir / name).read_bytes() for name in T10K}


def test_download_verifies_and_writes(tmp_path, t10k_bytes):
    fetch = FakeFetch(t10k_bytes, broken_mirror="https://mirror-a.invalid/")
    target = tmp_path / "mnist"
    paths = download_mnist(
        target, mirrors=("https://mirror-a.invalid/", "https://mirror-b.invalid/m"), fetch=fetch,
        files=T10K,
    )
    assert paths == [target / n for n in T10K]
    assert sorted(p.name for p in target.iterdir()) == sorted(T10K)  # no temp files left
    for name in T10K:
        assert (target / name).read_bytes() == t10k_bytes[name]
    assert fetch.calls[:2] == [
        "https://mirror-a.invalid/t10k-images-idx3-ubyte.gz",
        "https://mirror-b.invalid/m/t10k-images-idx3-ubyte.gz",
    ]
    assert len(load_mnist(target, split="test", limit=10)) == 10


def test_download_skips_existing_unless_forced(tmp_path, t10k_bytes):
    fetch = FakeFetch(t10k_bytes)
    download_mnist(tmp_path, mirrors=("https://m.invalid/",), fetch=fetch, files=T10K)
    assert len(fetch.calls) == 2
    download_mnist(tmp_path, mirrors=("https://m.invalid/",), fetch=fetch, files=T10K)
    assert len(fetch.calls) == 2
    download_mnist(tmp_path, mirrors=("https://m.invalid/",), fetch=fetch, files=T10K, force=True)
    assert len(fetch.calls) == 4


def test_download_checksum_mismatch_leaves_nothing(tmp_path, t10k_bytes):
    tampered = dict(t10k_bytes)
    blob = bytearray(tampered["t10k-labels-idx1-ubyte.gz"])
    blob[-20] ^= 0xFF
    tampered["t10k-labels-idx1-ubyte.gz"] = bytes(blob)
    fetch = FakeFetch(tampered)
    with pytest.raises(
        DataError,
        match=r"could not download t10k-labels-idx1-ubyte\.gz: .*checksum mismatch .*"
        r"expected ec29112dd5afa0611ce80d1b7f02629c",
    ):
        download_mnist(
            tmp_path, mirrors=("https://a.invalid/", "https://b.invalid/"), fetch=fetch,
            files=["t10k-labels-idx1-ubyte.gz"],
        )
    assert list(tmp_path.iterdir()) == []
    assert len(fetch.calls) == 2  # both mirrors tried


def test_download_all_mirrors_unreachable_and_unknown_name(tmp_path):
    fetch = FakeFetch({}, broken_mirror="https://")
    with pytest.raises(DataError, match="connection refused"):
        download_mnist(tmp_path, fetch=fetch, files=[T10K[0]])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="unknown MNIST files"):
        download_mnist(tmp_path, fetch=fetch, files=["mnist.pkl.gz"])


def test_official_checksums_table():
    assert MNIST_MD5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert MNIST_MD5["t10k-images-idx3-ubyte.gz"] == "9fb629c4189551a2d022fa330f9573f3"
    assert len(MNIST_MD5) == 4
