"""The pooled categorical heads (mean and max over positions): their logits cannot follow an
object's position, the rest of the model is unchanged (widths, trunk embedding, training,
saving, ONNX)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from infovaegan_plugin import InfoVAEGANConfig
from infovaegan_plugin.models.infovaegan import InfoVAEGAN

POOLED = ["mean_pooled", "max_pooled"]


def _sprite_model(head: str, seed: int = 0) -> InfoVAEGAN:
    """A 64 px model (the dSprites nets) with weights large enough that its outputs move."""
    torch.manual_seed(seed)
    config = InfoVAEGANConfig(input_dim=(1, 64, 64), categorical_dims=[3], continuous_dim=5,
                              noise_dim=10, hidden_dim=32, base_channels=16,
                              categorical_head=head)
    model = InfoVAEGAN(config)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, a=0.1)
    return model.eval()


def _blob_and_moved() -> tuple[torch.Tensor, torch.Tensor]:
    """A 5x7 sprite near the centre and the same sprite 8 px (the pooled map's stride) down
    and right; both lie inside the cells whose receptive fields miss the padding."""
    image = torch.zeros(1, 1, 64, 64)
    image[..., 30:35, 28:35] = 1.0
    return image, torch.roll(image, shifts=(8, 8), dims=(2, 3))


@pytest.mark.parametrize("pooled", POOLED)
def test_pooled_logits_do_not_follow_a_moved_sprite_and_dense_ones_do(pooled):
    image, moved = _blob_and_moved()
    change = {}
    for head in ("dense", pooled):
        model = _sprite_model(head)
        with torch.no_grad():
            a, b = model.encode(image), model.encode(moved)
        scale = a["categorical_logits"].abs().max().item()
        change[head] = (a["categorical_logits"] - b["categorical_logits"]).abs().max().item()
        change[head] /= scale
        # the continuous codes read the FC feature in both: they do see the move
        assert (a["continuous_mean"] - b["continuous_mean"]).abs().max() > 1e-3
    assert change[pooled] < 1e-5, change
    assert change["dense"] > 1e-2, change


@pytest.mark.parametrize("pooled", POOLED)
def test_pooled_head_keeps_the_output_layout_and_the_trunk_embedding(pooled):
    model = _sprite_model(pooled)
    images = torch.rand(4, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        encoded = model.encode(images, with_trunk=True)
        trunk = model.encoder.trunk(images)
    config = model.model_config
    assert trunk.shape == (4, config.hidden_dim + 16)  # FC feature + the pooled 16-channel map
    assert encoded["trunk_features"].shape == (4, config.hidden_dim)
    torch.testing.assert_close(encoded["trunk_features"], trunk[:, : config.hidden_dim])
    assert encoded["categorical_logits"].shape == (4, 3)
    assert encoded["continuous_mean"].shape == (4, 5)
    assert encoded["features"].shape == (4, config.feature_dim)
    # the discriminator reads the FC feature only: its head is the dense model's
    assert model.discriminator.head.in_features == config.hidden_dim


def test_pooled_head_needs_a_categorical_code():
    with pytest.raises(ValueError, match="categorical_head='max_pooled' needs a categorical"):
        InfoVAEGANConfig(input_dim=(1, 64, 64), categorical_dims=[], continuous_dim=5,
                         categorical_head="max_pooled")


def test_mean_and_max_pooling_differ_on_the_same_weights():
    """The two summaries are different functions of the map: same weights, other logits."""
    image, _ = _blob_and_moved()
    logits = {}
    for head in POOLED:
        with torch.no_grad():
            logits[head] = _sprite_model(head).encode(image)["categorical_logits"]
    assert not torch.allclose(logits["mean_pooled"], logits["max_pooled"], atol=1e-3)


def test_pooled_head_trains_with_the_discriminator_and_the_elbo(make_model, digits_datasets,
                                                                tmp_path):
    """InfoGAN's Q on D's trunk: the pooled head is one of the encoder's own heads, so D's
    optimizer (the MI term) and the ELBO's step on it, and one training step moves it."""
    from infovaegan_plugin import InfoVAEGANTrainer, InfoVAEGANTrainerConfig

    model = make_model(categorical_head="mean_pooled")
    config = InfoVAEGANTrainerConfig(output_dir=str(tmp_path), per_device_train_batch_size=32,
                                     num_epochs=1)
    trainer = InfoVAEGANTrainer(model, digits_datasets[0], digits_datasets[1],
                                training_config=config)
    trainer.prepare_training()
    head = {id(p) for p in model.encoder.category_head.parameters()}
    plan = trainer.optimizer_parameters()
    assert head <= {id(p) for p in plan["discriminator"]}
    assert head <= {id(p) for p in plan["encoder"]}
    before = [p.detach().clone() for p in model.encoder.category_head.parameters()]
    metrics = trainer.train_step(epoch=1)
    assert metrics and all(np.isfinite(v) for v in metrics.values()), metrics
    after = list(model.encoder.category_head.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(after, before))


@pytest.mark.parametrize("pooled", POOLED)
def test_pooled_model_reloads_and_exports_to_onnx(tmp_path, pooled):
    from infovaegan_plugin.deploy.export import export_onnx

    model = _sprite_model(pooled)
    model.save(str(tmp_path / "model"))
    again = InfoVAEGAN.load_from_folder(str(tmp_path / "model")).eval()
    assert again.model_config.categorical_head == pooled
    images = torch.rand(6, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model.encode(images, with_trunk=True)
    torch.testing.assert_close(again.encode(images)["categorical_logits"],
                               expected["categorical_logits"])
    result = export_onnx(again, tmp_path / "onnx")
    session = ort.InferenceSession(str(result.encoder_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {"images": images.numpy()})))
    for name in ("categorical_logits", "continuous_mean", "trunk_features"):
        assert np.abs(got[name] - expected[name].numpy()).max() <= 1e-4 * max(
            1.0, float(expected[name].abs().max())), name
