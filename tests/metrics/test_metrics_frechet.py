import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from infovaegan_plugin.metrics.frechet import (
    DatasetClassifier,
    classifier_features,
    classifier_frechet_distance,
    classifier_frechet_report,
    feature_statistics,
    frechet_distance,
    inception_fid,
    train_feature_classifier,
)

# --- Frechet distance -------------------------------------------------------------------------


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(0)
    mu, sigma = feature_statistics(rng.normal(size=(500, 6)))
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)


def test_shifted_means_with_identity_covariances():
    mu1 = np.array([0.0, 1.0, 2.0])
    mu2 = np.array([1.0, -1.0, 2.5])
    eye = np.eye(3)
    assert frechet_distance(mu1, eye, mu2, eye) == pytest.approx(1.0 + 4.0 + 0.25)


def test_symmetric_and_matches_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(1)
    mu1, s1 = feature_statistics(rng.normal(size=(400, 5)))
    mu2, s2 = feature_statistics(rng.normal(loc=0.3, scale=2.0, size=(400, 5)))
    forward = frechet_distance(mu1, s1, mu2, s2)
    assert forward > 1.0
    assert forward == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-8)
    d1, d2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    # diagonal case: sum (sqrt(a) - sqrt(b))^2 = (1-3)^2 + (2-1)^2
    assert frechet_distance(np.zeros(2), d1, np.zeros(2), d2) == pytest.approx(5.0)


def test_singular_covariances_stay_finite():
    zeros = np.zeros((4, 4))
    value = frechet_distance(np.ones(4), zeros, np.zeros(4), zeros)
    assert value == pytest.approx(4.0, abs=1e-4)
    rank_one = np.outer([1.0, 2.0, 0.0], [1.0, 2.0, 0.0])
    assert np.isfinite(frechet_distance(np.zeros(3), rank_one, np.zeros(3), np.eye(3)))


def test_statistics_and_shape_validation():
    mu, sigma = feature_statistics(np.array([[0.0, 0.0], [2.0, 2.0]]))
    np.testing.assert_allclose(mu, [1.0, 1.0])
    np.testing.assert_allclose(sigma, [[2.0, 2.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# --- classifier Frechet distance --------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Tiny convs are fastest (and stable on shared CI cores) with one intra-op thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    images = (data.images[:, None] / 16.0).astype(np.float32)
    return images, data.target.astype(np.int64)


@pytest.fixture(scope="module")
def classifier(digits):
    images, labels = digits
    return train_feature_classifier(images, labels, seed=0)


def test_classifier_learns_digits(classifier, digits):
    images, labels = digits
    with torch.no_grad():
        predictions = classifier(torch.from_numpy(images)).argmax(1).numpy()
    assert np.mean(predictions == labels) > 0.8
    assert classifier.input_dim == (1, 8, 8) and classifier.num_classes == 10
    assert classifier_features(classifier, images[:5]).shape == (5, 128)


def test_cfd_same_data_halves_smaller_than_data_vs_noise(classifier, digits):
    images, _ = digits
    order = np.random.default_rng(0).permutation(len(images))
    half_a, half_b = images[order[:800]], images[order[800:1600]]
    noise = np.random.default_rng(1).random(half_b.shape).astype(np.float32)
    same = classifier_frechet_distance(classifier, half_a, half_b)
    different = classifier_frechet_distance(classifier, half_a, noise)
    assert 0.0 <= same < different / 5
    report = classifier_frechet_report(classifier, half_a, noise)
    assert report["cfd"] == pytest.approx(different)
    assert "not Inception FID" in report["metric"]
    assert (report["n_real"], report["n_fake"], report["feature_dim"]) == (800, 800, 128)


def test_save_load_round_trip(classifier, digits, tmp_path):
    images, _ = digits
    classifier.save(tmp_path / "cls")
    names = sorted(p.name for p in (tmp_path / "cls").iterdir())
    assert names == ["classifier.json", "classifier.pt"]
    loaded = DatasetClassifier.load(tmp_path / "cls")
    assert not loaded.training
    np.testing.assert_array_equal(
        classifier_features(loaded, images[:50]), classifier_features(classifier, images[:50])
    )
    with pytest.raises(FileNotFoundError):
        DatasetClassifier.load(tmp_path / "missing")


def test_classifier_input_validation(classifier):
    with pytest.raises(ValueError, match="expected"):
        classifier_features(classifier, np.zeros((4, 1, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        classifier_features(classifier, np.full((4, 1, 8, 8), 16.0, dtype=np.float32))


@pytest.mark.parametrize("chw", [(3, 64, 64), (1, 28, 28), (1, 8, 8), (1, 5, 5)])
def test_classifier_adapts_to_other_shapes(chw):
    model = DatasetClassifier(chw, num_classes=3).eval()
    assert model(torch.zeros(2, *chw)).shape == (2, 3)
    assert model.features(torch.zeros(2, *chw)).shape == (2, 128)


# --- Inception FID plumbing (a stand-in network; real FID numbers need real weights) ----------


GREY = np.zeros((2, 1, 8, 8), np.float32)


class _InceptionStandIn(torch.nn.Module):
    """Checks the input contract and returns pytorch-fid-style [pool features (N, D, 1, 1)]."""

    def forward(self, x: torch.Tensor):
        assert x.shape[1] == 3 and x.shape[2] == 299 and x.shape[3] == 299
        pooled = F.adaptive_avg_pool2d(x[:, :1], 2)
        return [pooled.reshape(x.shape[0], 4, 1, 1)]


@pytest.fixture(scope="module")
def stand_in_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "stand_in.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_InceptionStandIn()).save(str(path))
    return path


def test_inception_fid_missing_weights_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        inception_fid(GREY, GREY, tmp_path / "nope.pt")


def test_inception_fid_rejects_non_torchscript(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="TorchScript"):
        inception_fid(GREY, GREY, path)


def test_inception_fid_plumbing_with_stand_in(stand_in_path, digits):
    images, _ = digits
    real, other = images[:150], images[150:300]
    darker = other * 0.5
    same = inception_fid(real, real, stand_in_path, batch_size=64)
    close = inception_fid(real, other, stand_in_path, batch_size=64)
    far = inception_fid(real, darker, stand_in_path, batch_size=64)
    assert same == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < close < far
