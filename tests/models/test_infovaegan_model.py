"""InfoVAEGAN model: config validation, shapes, loss values, save/load."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from pythae.data.datasets import DatasetOutput
from pythae.models import AutoModel
from pythae.models.auto_model import AutoConfig

from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig, ModelLoadError
from infovaegan_plugin.models.infovaegan import latents
from infovaegan_plugin.models.infovaegan.infovaegan_model import LOSS_NAMES

# ----- config ---------------------------------------------------------------------------


def test_config_requires_input_dim():
    with pytest.raises(ValueError, match="input_dim"):
        InfoVAEGANConfig()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_dim": (1, 28)}, r"\(C, H, W\)"),
        ({"input_dim": (1, 4, 4)}, "at least 8x8"),
        ({"input_dim": (1, 8, 8), "categorical_dims": [1]}, "at least 2 values"),
        ({"input_dim": (1, 8, 8), "gumbel_temperature": 0.0}, "gumbel_temperature"),
        ({"input_dim": (1, 8, 8), "categorical_dims": [], "continuous_dim": 0}, "at least one"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InfoVAEGANConfig(**kwargs)


def test_misspelt_field_is_refused_by_name():
    """pythae's configs drop unknown keyword arguments; a typo must not silently train another
    model than asked for."""
    with pytest.raises(ValueError, match="instance_noise_stdd"):
        InfoVAEGANConfig(input_dim=(1, 8, 8), instance_noise_stdd=0.2)


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="unknown variant 'vae'"):
        InfoVAEGANConfig.for_variant("vae", input_dim=(1, 8, 8))


@pytest.mark.parametrize(
    "size, arch", [(8, "small"), (16, "small"), (28, "infogan28"), (32, "infogan28"), (64, "dcgan64")]
)
def test_architecture_follows_image_size(size, arch):
    cfg = InfoVAEGANConfig(input_dim=(1, size, size))
    assert cfg.resolved_architecture == arch


def test_latent_sizes_are_derived():
    cfg = InfoVAEGANConfig(input_dim=(1, 8, 8), categorical_dims=[10, 3], continuous_dim=2, noise_dim=5)
    assert cfg.latent_dim == cfg.generator_input_dim == 5 + 13 + 2
    assert cfg.feature_dim == 13 + 2 + 5
    assert InfoVAEGANConfig(input_dim=(1, 8, 8), noise_dim=5, infer_noise=False).feature_dim == 12


SWITCHES = ("use_inference_stage", "use_mutual_information", "joint_discriminator",
            "encoder_adversarial", "infer_noise")


@pytest.mark.parametrize(
    "variant, expected",
    [
        ("infovaegan", (True, True, False, False, True)),
        ("infogan", (False, True, False, False, False)),
        ("ali", (False, False, True, True, False)),
        ("custom", (True, True, False, False, True)),
    ],
)
def test_variants_set_the_ablation_switches(variant, expected):
    """One table: the constructor and ``for_variant`` give the same switches."""
    direct = InfoVAEGANConfig(input_dim=(1, 8, 8), variant=variant)
    assert tuple(getattr(direct, name) for name in SWITCHES) == expected
    if variant != "custom":
        made = InfoVAEGANConfig.for_variant(variant, input_dim=(1, 8, 8))
        assert made == direct


@pytest.mark.parametrize(
    "variant, switch, value",
    [
        ("infogan", "use_inference_stage", True),
        ("infogan", "joint_discriminator", True),
        ("ali", "use_mutual_information", True),
        ("ali", "encoder_adversarial", False),
        ("infovaegan", "use_inference_stage", False),
        ("infovaegan", "use_mutual_information", False),
    ],
)
def test_switches_that_contradict_the_variant_are_refused(variant, switch, value):
    message = f"variant='{variant}' has {switch}={not value}, but {switch}={value} was given"
    with pytest.raises(ValueError, match=message):
        InfoVAEGANConfig.for_variant(variant, input_dim=(1, 8, 8), **{switch: value})
    with pytest.raises(ValueError, match=message):
        InfoVAEGANConfig(input_dim=(1, 8, 8), variant=variant, **{switch: value})


def test_agreeing_defaulted_or_custom_switches_are_accepted():
    cfg = InfoVAEGANConfig.for_variant("infogan", input_dim=(1, 8, 8), use_inference_stage=False,
                                       infer_noise=True)
    assert cfg.infer_noise and not cfg.use_inference_stage  # infer_noise is only a default
    custom = InfoVAEGANConfig(input_dim=(1, 8, 8), variant="custom", use_inference_stage=False)
    assert not custom.use_inference_stage and custom.use_mutual_information
    # a saved (resolved) config rebuilds to the same config
    assert InfoVAEGANConfig.from_dict(
        {k: v for k, v in cfg.to_dict().items() if k not in ("name", "latent_dim")}
    ) == cfg


def test_saved_config_contradicting_its_variant_loads_as_custom(make_model, tmp_path: Path):
    """Before the variant fixed its switches, ``for_variant("infogan", use_inference_stage=True)``
    was accepted and saved; such a model loads with its switches, named ``custom``."""
    model = make_model()
    model.save(str(tmp_path))
    raw = json.loads((tmp_path / "model_config.json").read_text())
    raw["variant"] = "infogan"
    (tmp_path / "model_config.json").write_text(json.dumps(raw))
    loaded = InfoVAEGAN.load_from_folder(str(tmp_path))
    assert loaded.model_config.variant == "custom"
    assert loaded.model_config.use_inference_stage is True
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


# ----- shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize("input_dim", [(1, 8, 8), (1, 28, 28), (3, 30, 30), (1, 64, 64)])
@pytest.mark.parametrize("infer_noise", [True, False])
def test_encode_decode_shapes(make_model, input_dim, infer_noise):
    model = make_model(input_dim=input_dim, categorical_dims=[10, 3], infer_noise=infer_noise).eval()
    x = torch.rand(5, *input_dim)
    out = model.encode(x)
    assert out.categorical_logits.shape == (5, 13)
    assert out.categorical_probs.shape == (5, 13)
    torch.testing.assert_close(out.categorical_probs[:, :10].sum(1), torch.ones(5))
    torch.testing.assert_close(out.categorical_probs[:, 10:].sum(1), torch.ones(5))
    assert out.continuous_mean.shape == out.continuous_logvar.shape == (5, 2)
    assert ("noise_mean" in out.keys()) == infer_noise
    assert out.features.shape == (5, model.model_config.feature_dim)
    torch.testing.assert_close(model.embed(x), out.features)
    with torch.no_grad():
        rec = model.reconstruct(x)
    assert rec.shape == x.shape
    assert float(rec.min()) >= 0.0 and float(rec.max()) <= 1.0
    assert model.predict_categories(x).shape == (5, 2)


@pytest.mark.parametrize("variant", ["infovaegan", "ali"])  # encoder on D's trunk, and its own
def test_encode_with_trunk_adds_the_hidden_layer_the_heads_read(make_model, variant):
    model = make_model(variant, input_dim=(1, 28, 28)).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        plain, rich = model.encode(x), model.encode(x, with_trunk=True)
        trunk = model.encoder.trunk(x)
    assert "trunk_features" not in plain.keys()
    assert rich.trunk_features.shape == (4, model.model_config.hidden_dim)
    torch.testing.assert_close(rich.trunk_features, trunk, rtol=0, atol=0)
    for key in plain.keys():
        torch.testing.assert_close(rich[key], plain[key], rtol=0, atol=0)


def test_generate_respects_given_codes_and_seed(make_model):
    model = make_model().eval()
    index = torch.arange(10)
    a = model.generate(10, categorical=index, generator=torch.Generator().manual_seed(3))
    b = model.generate(10, categorical=index, generator=torch.Generator().manual_seed(3))
    assert a.shape == (10, 1, 8, 8)
    torch.testing.assert_close(a, b)
    noise, cont = torch.zeros(10, 4), torch.zeros(10, 2)
    explicit = model.decode(noise, latents.one_hot_per_code(index[:, None], [10]), cont)
    fixed = model.generate(10, categorical=index, continuous=cont, noise=noise)
    torch.testing.assert_close(explicit, fixed)


def test_pythae_predict_and_interpolate(make_model):
    model = make_model().eval()
    x, y = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        out = model.predict(x)
        torch.testing.assert_close(out.recon_x, model.reconstruct(x))
        torch.testing.assert_close(out.embedding, model.embed(x))
        line = model.interpolate(x, y, granularity=5)
        assert line.shape == (3, 5, 1, 8, 8)
        torch.testing.assert_close(line[:, 0], model.reconstruct(x))  # ends are reconstructions
        torch.testing.assert_close(line[:, -1], model.reconstruct(y))
    with pytest.raises(ValueError, match="same shape"):
        model.interpolate(x, y[:2])


def test_traverse_varies_one_code(make_model):
    model = make_model().eval()
    with torch.no_grad():
        grid = model.traverse(dimension=1, num_values=7)
    assert grid.shape == (10 * 7, 1, 8, 8)
    rows = grid.view(10, 7, -1)
    assert float((rows[:, 0] - rows[:, -1]).abs().max()) > 0  # the code changes the image
    with pytest.raises(ValueError, match="dimension must be in"):
        model.traverse(dimension=2)


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.rand(2, 1, 9, 8), r"\(N, 1, 8, 8\).*got \(2, 1, 9, 8\)"),
        (torch.rand(2, 3, 8, 8), "expected 1 channel"),
        (torch.ones(2, 1, 8, 8, dtype=torch.int64), "dtype int64; expected uint8"),
        (torch.full((2, 1, 8, 8), float("nan")), "128 NaN and 0 inf"),
        (torch.full((2, 1, 8, 8), 16.0), r"found min 16 and max 16\. .*grey levels 0\.\.16"),
        ([["a"]], "strings"),
    ],
)
def test_bad_images_get_clear_errors(make_model, images, message):
    from infovaegan_plugin.inputs import InvalidInputError

    with pytest.raises(InvalidInputError, match=message):
        make_model().encode(images)


def test_uint8_unbatched_and_array_inputs_follow_the_input_contract(make_model):
    model = make_model().eval()
    pixels = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    as_float = pixels.float() / 255
    with torch.no_grad():
        expected = model.encode(as_float).features
        torch.testing.assert_close(model.encode(pixels).features, expected, rtol=0, atol=0)
        torch.testing.assert_close(model.encode(as_float[:, 0]).features, expected)
        torch.testing.assert_close(model.encode(as_float[1]).features, expected[1:2])
        torch.testing.assert_close(model.encode(pixels.numpy()).features, expected)


def test_decode_checks_block_sizes(make_model):
    with pytest.raises(ValueError, match=r"categorical must have shape \(N, 10\)"):
        make_model().decode(torch.zeros(2, 4), torch.zeros(2, 9), torch.zeros(2, 2))


# ----- loss terms -----------------------------------------------------------------------


def test_kl_gaussian_matches_torch_distributions():
    torch.manual_seed(0)
    mean, logvar = torch.randn(6, 3), torch.randn(6, 3)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    for prior_var in (1.0, 1.0 / 3.0):
        p = torch.distributions.Normal(torch.zeros(3), torch.full((3,), math.sqrt(prior_var)))
        expected = torch.distributions.kl_divergence(q, p).sum(1).mean()
        torch.testing.assert_close(latents.kl_gaussian(mean, logvar, prior_var), expected)


def test_gaussian_nll_matches_log_prob():
    torch.manual_seed(1)
    x, mean, logvar = torch.randn(4, 2), torch.randn(4, 2), torch.randn(4, 2)
    expected = -torch.distributions.Normal(mean, torch.exp(0.5 * logvar)).log_prob(x).sum(1).mean()
    torch.testing.assert_close(latents.gaussian_nll(x, mean, logvar), expected)


def test_categorical_terms_have_known_values():
    uniform = torch.zeros(4, 10)
    index = torch.randint(0, 10, (4, 1))
    torch.testing.assert_close(latents.categorical_cross_entropy(uniform, index, [10]), torch.tensor(math.log(10)))
    torch.testing.assert_close(latents.kl_categorical_uniform(uniform, [10]), torch.tensor(0.0))
    certain = torch.full((4, 10), -1e4)
    certain[:, 0] = 1e4
    torch.testing.assert_close(
        latents.kl_categorical_uniform(certain, [10]), torch.tensor(math.log(10)), atol=1e-4, rtol=0
    )


def test_prior_sample_has_the_layout():
    cfg = InfoVAEGANConfig(input_dim=(1, 8, 8), categorical_dims=[10, 3], continuous_dim=2, noise_dim=4)
    codes = latents.sample_prior(cfg, 500, generator=torch.Generator().manual_seed(0))
    assert codes.generator_input().shape == (500, 4 + 13 + 2)
    assert torch.all(codes.categorical.sum(1) == 2)  # one hot per code
    assert float(codes.continuous.min()) >= -1 and float(codes.continuous.max()) <= 1
    torch.testing.assert_close(
        codes.categorical[:, :10].argmax(1), codes.categorical_index[:, 0]
    )
    assert [b["size"] for b in cfg.layout.to_blocks()] == [4, 10, 3, 2]


@pytest.mark.parametrize(
    "variant, names",
    [
        ("infovaegan", {"discriminator", "adversarial", "mutual_information", "elbo"}),
        ("infogan", {"discriminator", "adversarial", "mutual_information"}),
        ("ali", {"discriminator", "adversarial", "mutual_information"}),
    ],
)
def test_forward_returns_every_named_loss_and_their_sum(make_model, variant, names):
    # a separate encoder: with Q on D's trunk D's loss also holds the MI term (tested apart)
    model = make_model(variant, share_discriminator_trunk=False)
    out = model(DatasetOutput(data=torch.rand(8, 1, 8, 8)))
    losses = {k for k in out.keys() if k.endswith("_loss") and k != "recon_loss"}
    assert losses == {f"{name}_loss" for name in names}
    for key in (*losses, "loss", "recon_loss"):
        assert torch.isfinite(out[key]), (variant, key)
    assert out.loss.item() == pytest.approx(sum(out[k].item() for k in losses), rel=1e-6)
    assert out.recon_x.shape == (8, 1, 8, 8)
    # an untrained discriminator is near chance: BCE(real) + BCE(fake) ~ 2 log 2
    assert abs(out.discriminator_loss.item() - 2 * math.log(2)) < 0.3
    if variant == "ali":  # no MI term: the loss is there, and zero
        assert out.mutual_information_loss.item() == 0.0


def test_forward_and_losses_agree_on_every_named_loss(make_model):
    """The one loss function: ``forward``'s ``<name>_loss`` is ``losses()``'s ``<name>`` on
    the same batch and random draws, and ``inference=False`` drops the ELBO only."""
    model = make_model(noise_in_elbo=False).eval()
    real = torch.rand(8, 1, 8, 8)
    torch.manual_seed(3)
    out = model(DatasetOutput(data=real))
    torch.manual_seed(3)
    direct = model.losses(model.loss_batch(real))
    assert set(direct.keys()) >= set(LOSS_NAMES)
    for name in LOSS_NAMES:
        assert torch.equal(out[f"{name}_loss"], direct[name]), name
    assert direct.mutual_information.item() == pytest.approx(
        direct.mi_categorical.item() + 0.1 * direct.mi_continuous.item()
        + direct.noise_regression.item(), rel=1e-6
    )
    without = model(DatasetOutput(data=real), inference=False)
    assert "elbo_loss" not in without.keys() and "adversarial_loss" in without.keys()


def test_losses_reject_unknown_or_incomplete_stages(make_model):
    model = make_model(share_discriminator_trunk=False)
    batch = model.loss_batch(torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match="unknown stages \\['elbo'\\]"):
        model.losses(batch, ("elbo",))
    with pytest.raises(ValueError, match="reuses the generation stage"):
        model.losses(batch, ("discriminator", "inference"))
    assert set(model.losses(batch, ("discriminator",)).keys()) == {
        "discriminator", "d_real_accuracy", "d_fake_accuracy"
    }


# ----- save / load --------------------------------------------------------------------------


def test_save_load_round_trip_without_pickles(make_model, tmp_path: Path):
    model = make_model(categorical_dims=[10, 3]).eval()
    model.save(str(tmp_path))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["environment.json", "model.pt", "model_config.json"]
    assert not list(tmp_path.glob("*.pkl"))
    payload = torch.load(tmp_path / "model.pt", weights_only=True)  # no pickled code inside
    assert set(payload) == {"model_state_dict"}
    x = torch.rand(6, 1, 8, 8)
    for loaded in (InfoVAEGAN.load_from_folder(str(tmp_path)), AutoModel.load_from_folder(str(tmp_path))):
        assert isinstance(loaded, InfoVAEGAN)
        loaded.eval()
        torch.testing.assert_close(loaded.encode(x).features, model.encode(x).features, rtol=0, atol=0)
        torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x), rtol=0, atol=0)
    config = AutoConfig.from_json_file(str(tmp_path / "model_config.json"))
    assert config == model.model_config


def test_load_errors_name_the_problem(make_model, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="model_config.json"):
        InfoVAEGAN.load_from_folder(str(tmp_path))
    make_model().save(str(tmp_path))
    (tmp_path / "model.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelLoadError, match="model.pt is corrupt or not an InfoVAEGAN model.pt") as info:
        InfoVAEGAN.load_from_folder(str(tmp_path))
    assert "weights_only" not in str(info.value)
    torch.save(make_model(), tmp_path / "model.pt")  # a pickled module: code, not weights
    with pytest.raises(ModelLoadError, match="pickled Python objects") as info:
        InfoVAEGAN.load_from_folder(str(tmp_path))
    assert "weights_only" not in str(info.value) and info.value.__cause__ is None
    make_model().save(str(tmp_path))
    good = (tmp_path / "model_config.json").read_text()
    bad = json.loads(good)
    bad["hidden_dim"] = "wide"
    (tmp_path / "model_config.json").write_text(json.dumps(bad))
    with pytest.raises(ModelLoadError, match=r"model_config\.json: invalid InfoVAEGAN model "
                       r"config: field 'hidden_dim': .*integer \(got 'wide'\)"):
        InfoVAEGAN.load_from_folder(str(tmp_path))
    unknown = {**json.loads(good), "hidden_dims": 3}
    (tmp_path / "model_config.json").write_text(json.dumps(unknown))
    with pytest.raises(ModelLoadError, match=r"model_config\.json: invalid InfoVAEGAN model "
                       r"config: field 'hidden_dims'"):
        InfoVAEGAN.load_from_folder(str(tmp_path))
    (tmp_path / "model_config.json").write_text(good)
    make_model(hidden_dim=16).save(str(tmp_path / "other"))
    (tmp_path / "other" / "model_config.json").write_text(
        (tmp_path / "model_config.json").read_text()
    )
    with pytest.raises(ModelLoadError, match="do not match the architecture"):
        InfoVAEGAN.load_from_folder(str(tmp_path / "other"))
    cfg = json.loads((tmp_path / "model_config.json").read_text())
    cfg["name"] = "VAEConfig"
    (tmp_path / "model_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="does not describe an InfoVAEGAN"):
        InfoVAEGAN.load_from_folder(str(tmp_path))


@pytest.mark.parametrize("shared", [True, False])
def test_discriminator_without_batch_norm_keeps_a_separate_encoders(make_model, shared):
    """InfoGAN-CR's dSprites discriminator has no BatchNorm; the switch removes it from D's
    trunk (and so from a shared encoder's trunk) and nowhere else."""
    model = make_model("infovaegan", input_dim=(1, 28, 28), discriminator_batch_norm=False,
                       share_discriminator_trunk=shared)
    norms = lambda net: [m for m in net.modules()  # noqa: E731
                         if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    assert norms(model.discriminator.trunk) == []
    assert (norms(model.encoder.trunk) == []) == shared
    assert norms(model.generator) != []
    with torch.no_grad():
        out = model.eval().encode(torch.rand(3, 1, 28, 28))
    assert out.features.shape == (3, model.model_config.feature_dim)
    reference = make_model("infovaegan", input_dim=(1, 28, 28), share_discriminator_trunk=shared)
    assert norms(reference.discriminator.trunk) != []
