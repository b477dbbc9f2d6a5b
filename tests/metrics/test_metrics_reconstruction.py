import numpy as np
import pytest
import torch

from infovaegan_plugin.metrics.reconstruction import evaluate_reconstruction, reconstruction_errors


def test_per_image_errors_match_hand_computation():
    x = np.zeros((2, 1, 2, 2), dtype=np.float32)
    x[1] = 1.0
    x_rec = np.full((2, 1, 2, 2), 0.5, dtype=np.float32)
    errors = reconstruction_errors(x, x_rec)
    np.testing.assert_allclose(errors["mse"], [0.25, 0.25])
    np.testing.assert_allclose(errors["bce"], [np.log(2), np.log(2)], rtol=1e-6)


def test_perfect_binary_reconstruction_has_tiny_bce_and_clamp_keeps_it_finite():
    x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    errors = reconstruction_errors(x, x.clone())
    assert errors["mse"][0] == 0.0
    assert 0.0 < errors["bce"][0] < 1e-6
    wrong = reconstruction_errors(x, 1.0 - x)
    assert np.isfinite(wrong["bce"][0])
    assert wrong["bce"][0] == pytest.approx(-np.log(1e-7), rel=1e-6)
    assert wrong["mse"][0] == 1.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        reconstruction_errors(np.zeros((2, 1, 4, 4)), np.zeros((2, 1, 4, 3)))


def test_evaluate_reconstruction_batches_and_averages():
    rng = np.random.default_rng(0)
    images = rng.random((10, 1, 4, 4)).astype(np.float32)
    seen = []

    def halve(batch: torch.Tensor) -> torch.Tensor:
        assert batch.dtype == torch.float32 and not torch.is_grad_enabled()
        seen.append(batch.shape[0])
        return batch * 0.5

    result = evaluate_reconstruction(halve, images, batch_size=4)
    assert seen == [4, 4, 2]
    assert result["n"] == 10
    expected = reconstruction_errors(images, images * 0.5)
    assert result["mse"] == pytest.approx(expected["mse"].mean())
    assert result["bce"] == pytest.approx(expected["bce"].mean())


def test_evaluate_reconstruction_rejects_wrong_output_shape():
    images = np.zeros((3, 1, 4, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="reconstruct_fn returned shape"):
        evaluate_reconstruction(lambda b: b[:, :, :2], images)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        evaluate_reconstruction(lambda b: b, np.zeros((3, 4, 4), dtype=np.float32))
