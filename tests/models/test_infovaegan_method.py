"""The paper-faithful method: defaults, the joint discriminator's inputs, the noise head,
the bounded continuous MI term, the categorical KL weight, BatchNorm statistics, old models."""

from __future__ import annotations

import json

import pytest
import torch

from infovaegan_plugin import (
    InfoVAEGAN,
    InfoVAEGANConfig,
    InfoVAEGANTrainer,
    InfoVAEGANTrainerConfig,
)
from infovaegan_plugin.models.infovaegan import latents
from infovaegan_plugin.models.infovaegan.infovaegan_config import PAPER_METHOD
from infovaegan_plugin.models.infovaegan.infovaegan_model import LossBatch


def generation_losses(model, fake, prior, inference=True):
    """The generation (+ inference) stage losses of a generated batch (no real images:
    none of these models pairs them with codes)."""
    stages = ("generation", "inference") if inference else ("generation",)
    return model.losses(LossBatch(real=fake.detach(), prior=prior, fake=fake), stages)


def test_defaults_are_the_measured_recipe_and_the_paper_method_is_one_dict_away():
    cfg = InfoVAEGANConfig(input_dim=(1, 28, 28))
    assert not cfg.joint_discriminator and not cfg.encoder_adversarial
    assert cfg.kl_categorical_weight == 0.001
    # InfoGAN's Q and prior scale, measured level with the reference InfoGAN (RESULTS.md)
    assert cfg.share_discriminator_trunk and cfg.mi_continuous_loss == "mean_squared_error"
    assert cfg.noise_std == pytest.approx(3**-0.5)
    assert InfoVAEGANConfig.for_variant("infogan", input_dim=(1, 28, 28)).share_discriminator_trunk
    assert not InfoVAEGANConfig.for_variant("ali", input_dim=(1, 28, 28)).share_discriminator_trunk
    assert cfg.noise_in_elbo and not cfg.elbo_updates_generator_bn
    assert InfoVAEGANTrainerConfig().mi_optimizer == "shared"
    paper = InfoVAEGANConfig(input_dim=(1, 28, 28), **PAPER_METHOD)
    assert paper.joint_discriminator and not paper.noise_in_elbo
    assert not paper.share_discriminator_trunk  # the paper's figure: a separate encoder
    assert (paper.gumbel_temperature, paper.mi_continuous_loss) == (0.1, "squared_error")
    # the joint discriminator sees the interpretable code only (no noise), as in the figure
    assert paper.discriminator_code_dim == paper.code_dim == 12


def test_variants_keep_their_own_discriminators():
    infogan = InfoVAEGANConfig.for_variant("infogan", input_dim=(1, 8, 8))
    ali = InfoVAEGANConfig.for_variant("ali", input_dim=(1, 8, 8), noise_dim=5, infer_noise=True)
    assert not infogan.joint_discriminator and infogan.discriminator_code_dim == 0
    assert ali.encoder_adversarial and ali.discriminator_code_dim == ali.code_dim + 5
    # ALI's default has no noise posterior, so its joint code is the interpretable code only
    assert InfoVAEGANConfig.for_variant("ali", input_dim=(1, 8, 8)).discriminator_code_dim == 12


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"encoder_adversarial": True, "joint_discriminator": False,
          "share_discriminator_trunk": False}, "needs joint_discriminator"),
        ({"encoder_adversarial": True, "joint_discriminator": True},
         "cannot train the encoder adversarially"),
        ({"kl_categorical_weight": -1.0}, "kl_categorical_weight must be >= 0"),
        ({"mi_continuous_loss": "l1"}, "mi_continuous_loss"),
    ],
)
def test_method_switches_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InfoVAEGANConfig(input_dim=(1, 8, 8), **kwargs)


def test_mean_squared_error_mi_term_ignores_the_variance():
    target, mean = torch.tensor([[1.0, -1.0]]), torch.tensor([[0.5, 0.0]])
    for logvar in (torch.full((1, 2), -8.0), torch.full((1, 2), 3.0)):
        assert latents.mean_squared_error(target, mean, logvar).item() == pytest.approx(1.25)


def test_squared_error_mi_term_values():
    target = torch.tensor([[0.5, -1.0], [0.0, 1.0]]).repeat(1000, 1)
    mean = torch.tensor([[0.0, -1.0], [1.0, 1.0]]).repeat(1000, 1)
    tight = torch.full_like(mean, latents.LOGVAR_MIN)
    # a near-zero variance (std 0.018) leaves the squared error of the mean: 0.25 and 1
    torch.manual_seed(0)
    assert latents.squared_error(target, mean, tight).item() == pytest.approx(0.625, abs=0.01)
    torch.manual_seed(0)
    wide = torch.zeros(20000, 2)
    # E||x - (mean + eps)||^2 = ||x - mean||^2 + sum(var) = 0 + 2
    value = latents.squared_error(torch.zeros(20000, 2), wide, torch.zeros(20000, 2)).item()
    assert value == pytest.approx(2.0, rel=0.03)


def test_gaussian_nll_is_still_available(make_model):
    model = make_model(mi_continuous_loss="gaussian_nll").eval()  # eval: one posterior
    prior = model.sample_prior(8)
    with torch.no_grad():
        fake = model.generator(prior.generator_input())
        stages = generation_losses(model, fake, prior, inference=False)
        post = model.posterior(fake)
    expected = latents.gaussian_nll(prior.continuous, post["continuous_mean"],
                                    post["continuous_logvar"])
    torch.testing.assert_close(stages.mi_continuous, expected)


def test_elbo_weights_the_categorical_kl(make_model):
    for weight in (0.001, 1.0):
        model = make_model(kl_categorical_weight=weight, seed=3, noise_in_elbo=False)
        torch.manual_seed(5)
        prior = model.sample_prior(16)
        fake = model.generator(prior.generator_input())
        torch.manual_seed(6)
        out = generation_losses(model, fake, prior)
        expected = out.reconstruction + out.kl_continuous + weight * out.kl_categorical
        assert out.elbo.item() == pytest.approx(expected.item(), rel=1e-6)
        assert out.kl_noise.item() == 0.0  # the noise is not a latent of the ELBO


@pytest.mark.parametrize("noise_in_elbo", [False, True])
def test_elbo_regenerates_with_the_same_noise_or_the_inferred_one(make_model, noise_in_elbo):
    model = make_model(noise_in_elbo=noise_in_elbo)
    prior = model.sample_prior(6)
    fake = model.generator(prior.generator_input())
    seen = []
    handle = model.generator.register_forward_hook(lambda m, a, o: seen.append(a[0].detach()))
    out = generation_losses(model, fake, prior)
    handle.remove()
    noise_dim = model.model_config.noise_dim
    assert len(seen) == 1
    assert torch.equal(seen[0][:, :noise_dim], prior.noise) == (not noise_in_elbo)
    assert (out.kl_noise.item() > 0) == noise_in_elbo


def test_joint_discriminator_sees_detached_encoder_codes_and_prior_codes(
    make_model, digits_datasets, tmp_path
):
    model = make_model(**{**PAPER_METHOD, "noise_std": 1.0})
    config = InfoVAEGANTrainerConfig(output_dir=str(tmp_path), per_device_train_batch_size=16)
    trainer = InfoVAEGANTrainer(model, digits_datasets[0], training_config=config)
    trainer.prepare_training()
    calls = []
    handle = model.discriminator.register_forward_hook(lambda m, a, o: calls.append(a))
    generated = []
    g_handle = model.generator.register_forward_hook(lambda m, a, o: generated.append((a[0], o)))
    real = digits_datasets[0].data[:16]
    trainer.training_step(real, epoch=1)
    handle.remove()
    g_handle.remove()
    cfg = model.model_config
    (real_images, real_code), (fake_images, fake_code) = calls[0], calls[1]
    assert torch.equal(real_images, real)
    assert not real_code.requires_grad and real_code.shape == (16, cfg.code_dim)
    categorical = real_code[:, : cfg.categorical_total]
    torch.testing.assert_close(categorical.sum(1), torch.ones(16))
    # temperature 0.1: the Gumbel sample is nearly one-hot
    assert categorical.max(1).values.mean() > 0.9
    prior_input, fake = generated[0]
    assert torch.equal(fake_images, fake.detach()) and not fake_images.requires_grad
    noise_dim = cfg.noise_dim
    torch.testing.assert_close(fake_code, prior_input[:, noise_dim:])
    # the generator stage pairs the (attached) fake with the same prior code
    assert calls[2][0].requires_grad and torch.equal(calls[2][1], fake_code)


@pytest.mark.parametrize("updates, expect_changed", [(False, False), (True, True)])
def test_elbo_pass_and_generator_batchnorm_statistics(make_model, updates, expect_changed):
    model = make_model(elbo_updates_generator_bn=updates).train()
    prior = model.sample_prior(16)
    fake = model.generator(prior.generator_input())
    before = {k: v.clone() for k, v in model.generator.named_buffers() if "running" in k}
    assert before
    generation_losses(model, fake, prior, inference=True)
    after = dict(model.generator.named_buffers())
    changed = any(not torch.equal(after[k], v) for k, v in before.items())
    assert changed == expect_changed
    # momentum restored after the pass
    assert all(
        m.momentum == 0.1 for m in model.generator.modules() if isinstance(m, torch.nn.BatchNorm1d)
    )


def test_models_saved_by_0_1_still_load(make_model, tmp_path):
    """0.1 saved configs without the new fields and one encoder output layer for codes and
    noise: they load with 0.1's behaviour and give the same codes."""
    model = make_model(
        noise_in_elbo=True, mi_continuous_loss="gaussian_nll", joint_discriminator=False,
        share_discriminator_trunk=False,
    ).eval()
    model.save(str(tmp_path))
    raw = json.loads((tmp_path / "model_config.json").read_text())
    for key in ("noise_in_elbo", "noise_regression_weight", "mi_continuous_loss",
                "encoder_adversarial", "elbo_updates_generator_bn", "share_discriminator_trunk"):
        raw.pop(key)
    (tmp_path / "model_config.json").write_text(json.dumps(raw))
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    state = payload["model_state_dict"]
    for part in ("weight", "bias"):
        state[f"encoder.head.{part}"] = torch.cat(
            [state[f"encoder.head.{part}"], state.pop(f"encoder.noise_head.{part}")]
        )
    torch.save(payload, tmp_path / "model.pt")
    loaded = InfoVAEGAN.load_from_folder(str(tmp_path)).eval()
    assert loaded.model_config.noise_in_elbo and loaded.model_config.elbo_updates_generator_bn
    assert not loaded.model_config.share_discriminator_trunk  # 0.1 had a separate encoder
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        for key in ("categorical_logits", "continuous_mean", "noise_mean"):
            torch.testing.assert_close(loaded.encode(x)[key], model.encode(x)[key])


def test_noise_std_scales_the_prior_and_its_kl(make_model):
    narrow = make_model(noise_std=0.1, noise_dim=8, noise_in_elbo=True)
    assert narrow.sample_prior(5000).noise.std().item() == pytest.approx(0.1, rel=0.05)
    mean, logvar = torch.zeros(3, 8), torch.full((3, 8), 2 * torch.log(torch.tensor(0.1)).item())
    assert latents.kl_gaussian(mean, logvar, 0.1**2).item() == pytest.approx(0.0, abs=1e-5)
    layout = narrow.latent_layout()
    assert layout[0]["kind"] == "noise" and layout[0]["std"] == 0.1
    assert "std" not in make_model(noise_std=1.0).latent_layout()[0]  # 0.1 files stay valid
    with pytest.raises(ValueError, match="noise_std must be > 0"):
        InfoVAEGANConfig(input_dim=(1, 8, 8), noise_std=0.0)


def test_encoder_can_share_the_discriminator_trunk(make_model, digits_datasets, tmp_path):
    """InfoGAN's Q network as its official code trains it: the encoder is a head on the
    discriminator's trunk; the MI term is part of D's loss, so D's optimizer trains the trunk
    and the heads; the generator's MI term trains the generator only; the ELBO only the
    encoder's own heads; saving keeps the sharing. (Self-augmentation, also in D's loss, is
    switched off: its own tests cover it.)"""
    model = make_model(share_discriminator_trunk=True, self_augmentation_weight=0.0)
    assert model.encoder.trunk is model.discriminator.trunk
    config = InfoVAEGANTrainerConfig(output_dir=str(tmp_path), per_device_train_batch_size=16,
                                     mi_optimizer="separate")
    trainer = InfoVAEGANTrainer(model, digits_datasets[0], training_config=config)
    trainer.prepare_training()
    owned = {n: {id(p) for g in o.param_groups for p in g["params"]} for n, o in trainer.optimizers.items()}
    trunk = {id(p) for p in model.discriminator.trunk.parameters()}
    heads = {id(p) for p in model.encoder.parameters()} - trunk
    generator = {id(p) for p in model.generator.parameters()}
    assert trunk <= owned["discriminator"] and heads <= owned["discriminator"]
    assert owned["mutual_information"] == generator and owned["generator"] == generator
    assert owned["encoder"] == heads
    # D's loss is the GAN loss plus the MI term of the detached generated batch
    torch.manual_seed(0)
    batch = model.loss_batch(digits_datasets[0].data[:16])
    d_out = model.losses(batch, ("discriminator",))
    assert d_out.d_mutual_information.item() > 0
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    d_real, d_fake = model.discriminator(batch.real), model.discriminator(batch.fake.detach())
    gan = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
    torch.testing.assert_close(d_out.discriminator - d_out.d_mutual_information, gan)
    model.save(str(tmp_path / "saved"))
    loaded = InfoVAEGAN.load_from_folder(str(tmp_path / "saved")).eval()
    assert loaded.encoder.trunk is loaded.discriminator.trunk
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(x).categorical_logits,
                                   model.eval().encode(x).categorical_logits)


def test_scaled_gradient_keeps_values_and_scales_gradients():
    from infovaegan_plugin.models.infovaegan.infovaegan_model import scaled_gradient

    for scale in (0.0, 0.1, 1.0):
        x = torch.tensor([1.5, -2.0, 0.25], requires_grad=True)
        y = scaled_gradient(x, scale)
        assert torch.equal(y.detach(), x.detach())  # the forward pass is unchanged, exactly
        if scale == 0:
            assert not y.requires_grad
            continue
        (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
        torch.testing.assert_close(x.grad, scale * torch.tensor([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("scale", [0.0, 0.1, 1.0])
def test_elbo_categorical_gradient_scales_only_the_elbos_gradient_into_the_category(
    make_model, scale
):
    """The ELBO's gradient into the categorical logits is ``scale`` times the paper's, into
    the continuous ones untouched, and the ELBO's value is the same."""

    def elbo_and_logit_grads(model):
        torch.manual_seed(5)
        prior = model.sample_prior(16)
        fake = model.generator(prior.generator_input()).detach()
        post = model.posterior(fake)
        post = {name: value.detach().requires_grad_() for name, value in post.items()}
        torch.manual_seed(6)
        out = model._elbo_terms(fake, prior, post)
        out["elbo"].backward()
        return out["elbo"].item(), post["categorical_logits"].grad, post["continuous_mean"].grad

    paper = make_model(seed=3, elbo_categorical_gradient=1.0)
    paper_elbo, paper_cat, paper_cont = elbo_and_logit_grads(paper)
    elbo, cat, cont = elbo_and_logit_grads(make_model(seed=3, elbo_categorical_gradient=scale))
    assert elbo == pytest.approx(paper_elbo, rel=1e-6)
    assert paper_cat.abs().sum() > 0
    if scale == 0:
        assert cat is None
    else:
        torch.testing.assert_close(cat, scale * paper_cat)
    torch.testing.assert_close(cont, paper_cont)


def test_elbo_categorical_gradient_must_not_be_negative():
    with pytest.raises(ValueError, match="elbo_categorical_gradient must be >= 0"):
        InfoVAEGANConfig(input_dim=(1, 28, 28), elbo_categorical_gradient=-0.5)


def test_the_default_scales_the_elbos_categorical_gradient_and_old_models_load_unscaled(
    make_model, tmp_path
):
    assert InfoVAEGANConfig(input_dim=(1, 28, 28)).elbo_categorical_gradient == 0.1
    assert InfoVAEGANConfig(input_dim=(1, 28, 28), **PAPER_METHOD).elbo_categorical_gradient == 1
    make_model().save(str(tmp_path))
    raw = json.loads((tmp_path / "model_config.json").read_text())
    del raw["elbo_categorical_gradient"]  # a model saved before the field existed
    (tmp_path / "model_config.json").write_text(json.dumps(raw))
    assert InfoVAEGAN.load_from_folder(str(tmp_path)).model_config.elbo_categorical_gradient == 1
    # pythae's AutoConfig reads the file as the model's own loader does (registry)
    from pythae.models.auto_model import AutoConfig

    config = AutoConfig.from_json_file(str(tmp_path / "model_config.json"))
    assert config == InfoVAEGAN.load_from_folder(str(tmp_path)).model_config
    assert config.elbo_categorical_gradient == 1
