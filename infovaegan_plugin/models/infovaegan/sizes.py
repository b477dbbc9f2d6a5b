"""How big the networks of a config are, from its numbers alone (no torch, nothing built).

:func:`conv_plan` is the trunk's layer plan, which ``nets.py`` builds from; :func:`parameter_count`
adds up every layer ``nets.build_networks`` makes, so ``InfoVAEGANConfig`` can refuse a config
whose networks would not fit in memory (``MAX_PARAMETERS``) before any tensor is allocated. A
test compares the count with built models of every architecture and switch.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["conv_plan", "downsampled", "parameter_count", "pooled_width"]


def conv_plan(config: Any) -> list[tuple[int, int]]:
    """(out_channels, stride) of each trunk conv layer for the config's architecture."""
    b = config.base_channels
    plans = {
        "small": [(b, 1), (2 * b, 2)],
        "infogan28": [(b, 2), (2 * b, 2)],
        "dcgan64": [(max(b // 2, 1), 2), (max(b // 2, 1), 2), (b, 2), (b, 2)],
    }
    return plans[config.resolved_architecture]


def pooled_width(config: Any) -> int:
    """Channels a pooled categorical head reads (the penultimate conv layer's), 0 without one."""
    if getattr(config, "categorical_head", "dense") == "dense":
        return 0
    return conv_plan(config)[-2][0]


def downsampled(size: int, plan: list[tuple[int, int]]) -> int:
    """An image side after the trunk's strided convolutions."""
    for _, stride in plan:
        size = size // stride
    if size < 1:
        raise ValueError("the image is too small for this architecture; use 'small'.")
    return size


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def _conv(n_in: int, n_out: int, stride: int) -> int:
    kernel = 4 if stride == 2 else 3  # nets._conv / nets._deconv
    return n_in * n_out * kernel * kernel + n_out


def _q_head(n_in: int, n_out: int) -> int:
    """``nets.q_head``: FC 128 + BatchNorm + linear."""
    return _linear(n_in, 128) + 2 * 128 + _linear(128, n_out)


def _trunk(config: Any, batch_norm: bool = True, in_channels: int | None = None) -> int:
    """``nets.ImageTrunk``: convs (BatchNorm after all but the first), FC + BatchNorm."""
    channels, height, width = config.input_dim
    plan, in_ch, total = conv_plan(config), in_channels or channels, 0
    norm = 2 if batch_norm else 0
    for i, (out_ch, stride) in enumerate(plan):
        total += _conv(in_ch, out_ch, stride) + (norm * out_ch if i > 0 else 0)
        in_ch = out_ch
    flat = in_ch * downsampled(height, plan) * downsampled(width, plan)
    return total + _linear(flat, config.hidden_dim) + norm * config.hidden_dim


def parameter_count(config: Any) -> int:
    """Parameters of the discriminator, encoder and generator ``config`` (an
    ``InfoVAEGANConfig``) describes (and its contrastive classifier, when it has one), a
    shared trunk counted once: arithmetic on its numbers."""
    layout, hidden = config.layout, config.hidden_dim
    trunk = _trunk(config)
    d_trunk = _trunk(config, getattr(config, "discriminator_batch_norm", True))
    # nets.Encoder: its own trunk and a linear head, or InfoGAN's Q head on D's trunk; a
    # pooled categorical head (FC 128 + BN) reads the penultimate conv map's channels
    codes = layout.code_head_width
    encoder = 0
    if pooled_width(config):
        codes -= layout.categorical_total
        encoder = _q_head(pooled_width(config), layout.categorical_total)
    if config.share_discriminator_trunk:
        encoder += _q_head(hidden, codes)
    else:
        encoder += trunk + _linear(hidden, codes)
    if config.infer_noise and layout.noise_dim > 0:
        out = layout.noise_head_width
        encoder += (_linear(hidden, out) if config.noise_in_elbo
                    else _linear(hidden, hidden) + _linear(hidden, out))
    # nets.Discriminator: the trunk and a linear head, or the joint (image, code) head
    discriminator = d_trunk + (
        _linear(config.discriminator_code_dim, hidden) + _linear(2 * hidden, hidden)
        + _linear(hidden, 1) if config.joint_discriminator else _linear(hidden, 1))
    # nets.Generator: FC + BN, FC + BN to the start grid, then the trunk's plan reversed
    channels, height, width = config.input_dim
    plan = conv_plan(config)
    scale = math.prod(stride for _, stride in plan)
    start = plan[-1][0] * math.ceil(height / scale) * math.ceil(width / scale)
    generator = (_linear(layout.generator_input_dim, hidden) + 2 * hidden
                 + _linear(hidden, start) + 2 * start)
    targets = [out_ch for out_ch, _ in plan[:-1]][::-1] + [channels]
    in_ch = plan[-1][0]
    for i, (out_ch, (_, stride)) in enumerate(zip(targets, plan[::-1])):
        generator += _conv(in_ch, out_ch, stride) + (2 * out_ch if i < len(targets) - 1 else 0)
        in_ch = out_ch
    # nets.ContrastiveClassifier: a trunk on the stacked pair and a Q-like head
    contrastive = 0
    if getattr(config, "contrastive_weight", 0.0) > 0:
        contrastive = _trunk(config, in_channels=2 * channels) + _q_head(hidden, config.code_count)
    return discriminator + encoder + generator + contrastive
