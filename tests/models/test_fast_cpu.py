"""The CPU fast path (channels-last convs, ATen's im2col kernel for one-channel transposed convs)
computes what the plain path computes up to float rounding, and the changes made for speed
alongside it (in-place activations, the instance noise's draws) change no bit."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from pythae.trainers.trainer_utils import set_seed
from torch import nn

from infovaegan_plugin import InfoVAEGAN, InfoVAEGANTrainer, InfoVAEGANTrainerConfig
from infovaegan_plugin.models.infovaegan.fast_cpu import (
    OneChannelConv2d,
    OneChannelConvTranspose2d,
    _OneChannelConv,
    set_fast_cpu,
)

#: dSprites-shaped nets (dcgan64: four stride-2 layers, a one-channel last layer) at test size
SPRITES = {"input_dim": (1, 64, 64), "hidden_dim": 32, "base_channels": 8, "noise_dim": 4,
           "categorical_dims": [3], "continuous_dim": 2, "instance_noise_std": 0.2,
           "reconstruction_loss": "bce", "self_augmentation_weight": 0.0}


def sprites_model(seed: int = 0, **overrides) -> InfoVAEGAN:
    from infovaegan_plugin import InfoVAEGANConfig

    torch.manual_seed(seed)
    return InfoVAEGAN(InfoVAEGANConfig.for_variant("infovaegan", **{**SPRITES, **overrides}))


def sprite_batch(n: int = 8) -> torch.Tensor:
    from infovaegan_plugin.data.dsprites import load_dsprites

    return torch.from_numpy(load_dsprites(n=n, seed=0).images)


def kernels_run(module: nn.Module, *inputs: torch.Tensor) -> set[str]:
    with torch.profiler.profile() as prof:
        module(*inputs)
    return {event.name for event in prof.events()}


def test_one_channel_layer_uses_the_im2col_kernel_and_matches_the_standard_one():
    torch.manual_seed(0)
    plain = nn.ConvTranspose2d(8, 1, kernel_size=4, stride=2, padding=1)
    fast = OneChannelConvTranspose2d(8, 1, kernel_size=4, stride=2, padding=1)
    fast.load_state_dict(plain.state_dict())
    assert set(fast.state_dict()) == {"weight", "bias"}  # saved models are unchanged
    x = torch.randn(4, 8, 16, 16)
    assert torch.equal(fast(x), plain(x))  # off by default: the standard op
    fast.fast_cpu = True
    assert "aten::slow_conv_transpose2d" in kernels_run(fast, x)
    assert "aten::slow_conv_transpose2d" not in kernels_run(plain, x)

    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_fast, out_plain = fast(xa), plain(xb)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-5, atol=1e-6)
    grad = torch.randn_like(out_plain)
    got = torch.autograd.grad(out_fast, [xa, fast.weight, fast.bias], grad)
    want = torch.autograd.grad(out_plain, [xb, plain.weight, plain.bias], grad)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [16, 17])  # 17: the stride drops a row the gradient restores
def test_one_input_channel_layer_takes_its_input_gradient_from_the_im2col_kernel(size):
    torch.manual_seed(0)
    plain = nn.Conv2d(1, 8, kernel_size=4, stride=2, padding=1)
    fast = OneChannelConv2d(1, 8, kernel_size=4, stride=2, padding=1)
    fast.load_state_dict(plain.state_dict())
    fast.fast_cpu = True
    images = torch.rand(4, 1, size, size)
    assert "aten::slow_conv_transpose2d" not in kernels_run(fast, images)  # no input gradient
    xa, xb = images.clone().requires_grad_(), images.clone().requires_grad_()
    out_fast, out_plain = fast(xa), plain(xb)
    assert torch.equal(out_fast, out_plain)  # the forward pass is the standard op
    grad = torch.randn_like(out_plain)
    with torch.profiler.profile() as prof:
        got = torch.autograd.grad(out_fast, [xa, fast.weight, fast.bias], grad)
    assert "aten::slow_conv_transpose2d" in {e.name for e in prof.events()}
    want = torch.autograd.grad(out_plain, [xb, plain.weight, plain.bias], grad)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


def test_one_input_channel_gradient_is_exact_to_second_order():
    """In float64 against finite differences, also through a gradient of the gradient (a
    gradient penalty would take one)."""
    torch.manual_seed(0)
    images = torch.rand(2, 1, 7, 7, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def conv(x, w, b):
        return _OneChannelConv.apply(x, w, b, (2, 2), (1, 1))

    assert torch.autograd.gradcheck(conv, (images, weight, bias))
    assert torch.autograd.gradgradcheck(conv, (images, weight, bias))


def test_one_channel_layer_traces_and_exports_as_the_standard_op():
    layer = OneChannelConvTranspose2d(8, 1, kernel_size=4, stride=2, padding=1)
    layer.fast_cpu = True
    traced = torch.jit.trace(layer, torch.randn(2, 8, 8, 8))
    assert "slow_conv_transpose2d" not in str(traced.graph)
    assert "_convolution" in str(traced.graph)


def test_one_channel_layer_keeps_the_standard_op_under_autocast():
    """Under bf16 autocast the layer leaves the kernel to torch (oneDNN where the CPU has bf16
    support; torch's own fallback, the im2col kernel too, where it has not: AVX2-only CPUs), so
    it runs exactly what ``nn.ConvTranspose2d`` runs and never forces the im2col kernel."""
    layer = OneChannelConvTranspose2d(8, 1, kernel_size=4, stride=2, padding=1)
    layer.fast_cpu = True
    plain = torch.nn.ConvTranspose2d(8, 1, kernel_size=4, stride=2, padding=1)
    x = torch.randn(2, 8, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        names, standard = kernels_run(layer, x), kernels_run(plain, x)
    assert "aten::conv_transpose2d" in names  # the standard op's entry, not the direct kernel
    assert names == standard


def test_the_one_channel_layers_are_used_only_for_grey_images():
    grey, colour = sprites_model(), sprites_model(input_dim=(3, 64, 64))
    assert isinstance(grey.generator.deconv[-2], OneChannelConvTranspose2d)
    assert isinstance(grey.discriminator.trunk.net[0], OneChannelConv2d)
    kinds = (OneChannelConv2d, OneChannelConvTranspose2d)
    assert not any(isinstance(m, kinds) for m in colour.modules())


def test_set_fast_cpu_switches_memory_format_and_kernels_keeping_parameters():
    model = sprites_model()
    before = {name: p for name, p in model.named_parameters()}
    values = {name: p.detach().clone() for name, p in before.items()}
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    wide = [m.weight for m in convs if m.weight.shape[1] > 1]
    assert wide and not any(w.is_contiguous(memory_format=torch.channels_last) for w in wide)

    set_fast_cpu(model)
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in wide)
    assert model.generator.deconv[-2].fast_cpu and model.discriminator.trunk.net[0].fast_cpu
    for name, p in model.named_parameters():  # the same Parameter objects: optimizers stay
        assert p is before[name] and torch.equal(p, values[name])

    set_fast_cpu(model, enabled=False)
    assert all(w.is_contiguous() for w in wide) and not model.generator.deconv[-2].fast_cpu
    assert not model.discriminator.trunk.net[0].fast_cpu


def _gradient_error(model: InfoVAEGAN, reference: InfoVAEGAN, z, target) -> float:
    """Relative error of G's and D's gradients of a BCE loss on D(G(z)) (train mode: batch
    statistics) against ``reference``'s in float64."""

    def grads(m: InfoVAEGAN, dtype: torch.dtype) -> torch.Tensor:
        params = [*m.generator.parameters(), *m.discriminator.parameters()]
        logits = m.discriminator(m.generator(z.to(dtype)))
        loss = F.binary_cross_entropy_with_logits(logits.to(dtype), target.to(dtype))
        return torch.cat([g.reshape(-1).double() for g in torch.autograd.grad(loss, params)])

    exact = grads(reference, torch.float64)
    return float((grads(model, torch.float32) - exact).norm() / exact.norm())


def test_fast_path_is_float_rounding_away_from_float64():
    """Float rounding, not other math: G's and D's gradients of both float32 paths measured
    against float64. Channels-last BatchNorm sums in a plainer order (about 1e-6 relative
    error per op against 6e-8 for the default kernel, see the next test), which BatchNorm's
    backward amplifies: measured 2e-3 for the fast path, 4e-5 for the plain one, at this
    size; a wrong gradient would be off by O(1)."""
    plain = sprites_model().train()
    fast = set_fast_cpu(copy.deepcopy(plain))
    exact = copy.deepcopy(plain).double()
    torch.manual_seed(1)
    z = torch.randn(16, plain.model_config.layout.generator_input_dim)
    target = (torch.rand(16) > 0.5).float()
    with torch.no_grad():
        torch.testing.assert_close(fast.generator(z), plain.generator(z), rtol=1e-5, atol=1e-6)
    assert _gradient_error(plain, exact, z, target) < 1e-3
    assert _gradient_error(fast, exact, z, target) < 1e-2


@pytest.mark.parametrize("shape", [(16, 4, 32, 32), (64, 32, 32, 32)])
def test_channels_last_batch_norm_error_is_float_rounding(shape):
    """The one kernel of the fast path that is measurably less exact: relative error of
    BatchNorm's output and input gradient against float64, per memory format."""
    torch.manual_seed(0)
    x, grad = torch.randn(shape) * 0.3 + 0.5, torch.randn(shape)
    weight, bias = torch.rand(shape[1]) + 0.5, torch.randn(shape[1])

    def run(dtype, memory_format):
        xx = x.to(dtype).contiguous(memory_format=memory_format).requires_grad_()
        out = F.batch_norm(xx, None, None, weight.to(dtype), bias.to(dtype), training=True)
        (gx,) = torch.autograd.grad(out, xx, grad.to(dtype).contiguous(memory_format=memory_format))
        return out.detach().double(), gx.double()

    exact = run(torch.float64, torch.contiguous_format)
    for memory_format, bound in ((torch.contiguous_format, 5e-7), (torch.channels_last, 2e-5)):
        for got, want in zip(run(torch.float32, memory_format), exact):
            assert float((got - want).norm() / want.norm()) < bound


def _trainer(model: InfoVAEGAN, tmp_path, **config) -> InfoVAEGANTrainer:
    from infovaegan_plugin.data import to_pythae_dataset
    from infovaegan_plugin.data.dsprites import load_dsprites

    dataset = to_pythae_dataset(load_dsprites(n=16, seed=0))
    training = InfoVAEGANTrainerConfig(output_dir=str(tmp_path), per_device_train_batch_size=8,
                                       no_cuda=True, **config)
    trainer = InfoVAEGANTrainer(model, dataset, training_config=training)
    trainer.set_optimizer()
    model.train()
    return trainer


def _one_step(trainer: InfoVAEGANTrainer, real: torch.Tensor) -> dict[str, torch.Tensor]:
    set_seed(0)
    metrics = trainer.training_step(real, epoch=1)
    return {**{k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
            **{f"metric:{k}": v for k, v in metrics.items()}}


def test_trainer_turns_the_fast_path_on_for_the_cpu_unless_told_not_to(tmp_path):
    fast = _trainer(sprites_model(), tmp_path)
    plain = _trainer(sprites_model(), tmp_path, cpu_fast_path=False)
    assert fast.model.generator.deconv[-2].fast_cpu
    assert fast.model.discriminator.trunk.net[2].weight.is_contiguous(
        memory_format=torch.channels_last)
    assert not plain.model.generator.deconv[-2].fast_cpu
    assert plain.model.discriminator.trunk.net[2].weight.is_contiguous()


def test_one_step_of_the_fast_path_matches_the_plain_path(tmp_path):
    """One training step from the same weights and seed. Under SGD a step's change is linear
    in the gradients (Adam's first step is ``lr * sign(g)``, which turns a zero gradient's
    rounding into a whole learning rate): the losses agree to 1e-5, the weights' changes to
    1e-4 of their norm (measured 6e-6) and BatchNorm's running statistics to 1e-6 (4e-8)."""
    real = sprite_batch(8)
    model = sprites_model()
    start = model.state_dict()
    weights = {name for name, _ in model.named_parameters()}
    fast = _one_step(_trainer(sprites_model(), tmp_path, optimizer_cls="SGD"), real)
    plain = _one_step(_trainer(sprites_model(), tmp_path, optimizer_cls="SGD",
                               cpu_fast_path=False), real)
    for name in ("discriminator", "adversarial", "mutual_information", "elbo"):
        torch.testing.assert_close(fast[f"metric:{name}_loss"], plain[f"metric:{name}_loss"],
                                   rtol=1e-5, atol=1e-6)
    for names, bound in ((weights, 1e-4), (set(start) - weights, 1e-6)):
        floats = [k for k in sorted(names) if start[k].is_floating_point()]
        change_fast = torch.cat([(fast[k] - start[k]).reshape(-1) for k in floats])
        change_plain = torch.cat([(plain[k] - start[k]).reshape(-1) for k in floats])
        assert change_plain.norm() > 0
        assert (change_fast - change_plain).norm() <= bound * change_plain.norm()


def _without_in_place(model: InfoVAEGAN) -> InfoVAEGAN:
    for module in model.modules():
        if isinstance(module, (nn.ReLU, nn.LeakyReLU)):
            module.inplace = False
    return model


def test_in_place_activations_change_no_bit(tmp_path):
    """A whole training step (Adam, instance noise, the ELBO stage), weights, BatchNorm
    statistics and every metric: equal bit for bit with out-of-place activations."""
    real = sprite_batch(8)
    now = _one_step(_trainer(sprites_model(), tmp_path, cpu_fast_path=False), real)
    before = _one_step(_trainer(_without_in_place(sprites_model()), tmp_path,
                                cpu_fast_path=False), real)
    assert now.keys() == before.keys()
    for name in now:
        assert torch.equal(now[name], before[name]), name


@pytest.mark.parametrize("channels", [1, 3])
def test_instance_noise_draws_do_not_depend_on_memory_format(channels):
    model = sprites_model(input_dim=(channels, 64, 64)).train()
    images = torch.rand(4, channels, 64, 64)
    torch.manual_seed(5)
    got = model.judged(images)
    torch.manual_seed(5)
    last = model.judged(images.contiguous(memory_format=torch.channels_last))
    torch.manual_seed(5)
    formula = images + 0.2 * torch.randn_like(images)  # the noise as it was written before
    assert torch.equal(got, formula) and torch.equal(last, formula)
    assert torch.equal(model.eval().judged(images), images)  # no noise outside training
