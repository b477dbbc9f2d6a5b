"""Encoder, generator and discriminator, built from an :class:`InfoVAEGANConfig` alone.

One convolutional family adapts to ``input_dim``; an architecture name only fixes how many
down-samplings the trunk makes and how wide each layer is:

- ``small``     (8-16 px, e.g. scikit-learn digits): conv3 s1, conv4 s2 (InfoGAN-like, shallow)
- ``infogan28`` (MNIST): InfoGAN's MNIST nets, conv4 s2 x2 + FC ``hidden_dim``
- ``dcgan64``   (dSprites, CelebA-size): the 64x64 nets of the authors' code, conv4 s2 x4

Because nothing but the config describes a network, saved models hold weights only.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .fast_cpu import OneChannelConv2d, OneChannelConvTranspose2d
from .infovaegan_config import InfoVAEGANConfig
from .sizes import conv_plan, downsampled, pooled_width

LEAK = 0.1  # InfoGAN's leaky-ReLU slope

#: How a pooled categorical head summarises a conv map over its positions (``categorical_head``)
POOLINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean_pooled": lambda x: x.mean(dim=(2, 3)),
    "max_pooled": lambda x: x.amax(dim=(2, 3)),
}


def _conv(in_ch: int, out_ch: int, stride: int) -> nn.Conv2d:
    # one input channel (grey images): a faster CPU input gradient when the trainer asks
    conv = OneChannelConv2d if in_ch == 1 else nn.Conv2d
    if stride == 2:
        return conv(in_ch, out_ch, kernel_size=4, stride=2, padding=1)
    return conv(in_ch, out_ch, kernel_size=3, stride=1, padding=1)


def _deconv(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    if stride == 2:
        # one output channel (grey images): a faster CPU kernel when the trainer asks for it
        deconv = OneChannelConvTranspose2d if out_ch == 1 else nn.ConvTranspose2d
        return deconv(in_ch, out_ch, kernel_size=4, stride=2, padding=1)
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=1, padding=1)


def q_head(n_in: int, n_out: int) -> nn.Sequential:
    """InfoGAN's Q head: FC 128 + BN + lReLU + linear (the codes on D's trunk, the pooled
    category, the contrastive classifier)."""
    return nn.Sequential(nn.Linear(n_in, 128), nn.BatchNorm1d(128), nn.LeakyReLU(LEAK),
                         nn.Linear(128, n_out))


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation, which the InfoGAN and InfoVAEGAN reference code use."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class ImageTrunk(nn.Module):
    """Conv trunk + FC layer mapping an image to a ``hidden_dim`` feature (encoder and D);
    ``batch_norm=False`` leaves out the BatchNorm layers.

    With a pooled ``categorical_head`` the output is ``[FC feature, pooled map]``
    (``hidden_dim + pooled_width`` values): the penultimate conv layer's map averaged (or its
    maximum taken) over its positions, which the categorical head alone reads
    (:class:`Encoder`). The last map is too coarse (4x4 at 64 px, a stride of 16) for its
    summary to ignore where a sprite is."""

    def __init__(self, config: InfoVAEGANConfig, batch_norm: bool = True,
                 in_channels: int | None = None, with_pooled: bool = True):
        super().__init__()
        channels, height, width = config.input_dim
        channels = in_channels or channels
        plan = conv_plan(config)
        self.hidden_dim = config.hidden_dim
        self.pooled_width = pooled_width(config) if with_pooled else 0
        pooled = self.pooled_width > 0
        self.pooling = POOLINGS[config.categorical_head] if pooled else None
        #: index in ``net`` of the layer whose output is pooled (None: no pooled part)
        self.pool_at: int | None = None
        layers: list[nn.Module] = []
        in_ch = channels
        for i, (out_ch, stride) in enumerate(plan):
            layers.append(_conv(in_ch, out_ch, stride))
            if i > 0 and batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.LeakyReLU(LEAK, inplace=True))  # in place: same values, less memory
            if pooled and i == len(plan) - 2:
                self.pool_at = len(layers) - 1
            in_ch = out_ch
        flat = in_ch * downsampled(height, plan) * downsampled(width, plan)
        layers += [
            nn.Flatten(),
            nn.Linear(flat, config.hidden_dim),
            *([nn.BatchNorm1d(config.hidden_dim)] if batch_norm else []),
            nn.LeakyReLU(LEAK, inplace=True),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_at is None:
            return self.net(images)
        x = images
        for i, layer in enumerate(self.net):
            x = layer(x)
            if i == self.pool_at:
                pooled = self.pooling(x)  # before the next layer: no in-place change reaches it
        return torch.cat([x, pooled], dim=1)


class Encoder(nn.Module):
    """Inference network: image -> categorical logits, continuous (and noise) Gaussian params.

    Returns one flat tensor ``[logits, cont_mean, cont_logvar, noise_mean, noise_logvar]``
    whose widths are ``config.layout.encoder_head_widths``; :class:`InfoVAEGAN` splits it by
    the same layout, so the widths live in a single place. The noise has its own two-layer
    head; unless ``noise_in_elbo`` it reads the trunk's features *detached*, so regressing
    60-odd noise dimensions cannot pull the shared trunk away from the interpretable codes
    (its gradients were 100x the MI term's).
    """

    def __init__(self, config: InfoVAEGANConfig, trunk: ImageTrunk | None = None):
        super().__init__()
        self.trunk = trunk if trunk is not None else ImageTrunk(config)
        layout = config.layout
        codes = layout.code_head_width
        self.hidden_dim = config.hidden_dim
        #: the categorical logits from the trunk's pooled map (a pooled ``categorical_head``)
        self.category_head: nn.Module | None = None
        if self.trunk.pooled_width:
            cats = layout.categorical_total
            codes -= cats
            self.category_head = q_head(self.trunk.pooled_width, cats)
        if trunk is None:
            self.head: nn.Module = nn.Linear(config.hidden_dim, codes)
        else:  # InfoGAN's Q head on the discriminator's features: FC 128 + BN + lReLU
            self.head = q_head(config.hidden_dim, codes)
        self.detach_noise_head = config.regresses_noise
        self.noise_head: nn.Module | None = None
        if config.infer_noise and layout.noise_dim > 0:
            noise_out = layout.noise_head_width
            # 0.1's layout (noise_in_elbo): one more linear output, so its weights still load.
            self.noise_head = (
                nn.Linear(config.hidden_dim, noise_out)
                if config.noise_in_elbo
                else nn.Sequential(
                    nn.Linear(config.hidden_dim, config.hidden_dim),
                    nn.LeakyReLU(LEAK),
                    nn.Linear(config.hidden_dim, noise_out),
                )
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.heads(self.trunk(images))

    def heads(self, features: torch.Tensor) -> torch.Tensor:
        """The flat output from trunk features: with a shared trunk the discriminator's pass
        already computed them (InfoGAN's Q reads D's features; no second trunk pass)."""
        hidden = features
        if self.category_head is not None:  # [FC feature, pooled map]: logits come first
            hidden = features[:, : self.hidden_dim]
            out = torch.cat(
                [self.category_head(features[:, self.hidden_dim :]), self.head(hidden)], dim=1)
        else:
            out = self.head(hidden)
        if self.noise_head is None:
            return out
        noise_in = hidden.detach() if self.detach_noise_head else hidden
        return torch.cat([out, self.noise_head(noise_in)], dim=1)


class Generator(nn.Module):
    """Generator: (noise, one-hot codes, continuous codes) -> image in [0, 1]."""

    def __init__(self, config: InfoVAEGANConfig):
        super().__init__()
        channels, height, width = config.input_dim
        plan = conv_plan(config)
        scale = math.prod(stride for _, stride in plan)
        self.start_h = math.ceil(height / scale)
        self.start_w = math.ceil(width / scale)
        self.out_h, self.out_w = height, width
        self.start_ch = plan[-1][0]
        self.fc = nn.Sequential(
            nn.Linear(config.layout.generator_input_dim, config.hidden_dim),
            nn.BatchNorm1d(config.hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden_dim, self.start_ch * self.start_h * self.start_w),
            nn.BatchNorm1d(self.start_ch * self.start_h * self.start_w),
            nn.ReLU(inplace=True),
        )
        targets = [out_ch for out_ch, _ in plan[:-1]][::-1] + [channels]
        strides = [stride for _, stride in plan][::-1]
        layers: list[nn.Module] = []
        in_ch = self.start_ch
        for i, (out_ch, stride) in enumerate(zip(targets, strides)):
            layers.append(_deconv(in_ch, out_ch, stride))
            if i < len(targets) - 1:
                layers += [nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
            in_ch = out_ch
        layers.append(nn.Sigmoid())
        self.deconv = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        hidden = self.fc(latent).view(-1, self.start_ch, self.start_h, self.start_w)
        images = self.deconv(hidden)
        if images.shape[-2:] != (self.out_h, self.out_w):  # sizes not a multiple of the scale
            top = (images.shape[-2] - self.out_h) // 2
            left = (images.shape[-1] - self.out_w) // 2
            images = images[..., top : top + self.out_h, left : left + self.out_w]
        return images


class Discriminator(nn.Module):
    """Image discriminator, or ALI-style joint (image, code) discriminator."""

    def __init__(self, config: InfoVAEGANConfig):
        super().__init__()
        self.trunk = ImageTrunk(config, batch_norm=config.discriminator_batch_norm)
        self.joint = config.joint_discriminator
        if self.joint:
            self.code_net = nn.Sequential(
                nn.Linear(config.discriminator_code_dim, config.hidden_dim), nn.LeakyReLU(LEAK)
            )
            self.head = nn.Sequential(
                nn.Linear(2 * config.hidden_dim, config.hidden_dim),
                nn.LeakyReLU(LEAK),
                nn.Linear(config.hidden_dim, 1),
            )
        else:
            self.head = nn.Linear(config.hidden_dim, 1)

    def apply_spectral_norm(self) -> None:
        """Spectrally normalise every conv and linear layer (after their initialisation: the
        parametrisation keeps the initialised weight as ``weight.original``)."""
        from torch.nn.utils.parametrizations import spectral_norm

        for module in list(self.modules()):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                spectral_norm(module)

    def forward(
        self, images: torch.Tensor, code: torch.Tensor | None = None, with_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Float32 logits (and, ``with_features``, the trunk's features, which a shared-trunk
        encoder reads without a second trunk pass)."""
        features = self.trunk(images)
        joined = features[:, : self.trunk.hidden_dim] if self.trunk.pooled_width else features
        if self.joint:
            if code is None:
                raise ValueError("a joint discriminator needs the (image, code) pair.")
            joined = torch.cat([features, self.code_net(code)], dim=1)
        logits = self.head(joined).squeeze(1).float()
        return (logits, features) if with_features else logits


class ContrastiveClassifier(nn.Module):
    """InfoGAN-CR's contrastive classifier: a pair of images, stacked as channels, -> logits
    over the interpretable codes (``config.code_count``) the pair may share. The trunk of the
    discriminator's shape on twice the channels (BatchNorm, never pooled) and a head like Q's
    (FC 128 + BN + lReLU)."""

    def __init__(self, config: InfoVAEGANConfig):
        super().__init__()
        self.trunk = ImageTrunk(config, in_channels=2 * config.input_dim[0], with_pooled=False)
        self.head = q_head(config.hidden_dim, config.code_count)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(torch.cat([first, second], dim=1))).float()


def build_networks(config: InfoVAEGANConfig) -> tuple[Discriminator, Encoder, Generator]:
    """The three networks ``config`` describes; with ``share_discriminator_trunk`` the
    encoder is a head on the discriminator's trunk."""
    discriminator = Discriminator(config)
    shared = discriminator.trunk if config.share_discriminator_trunk else None
    return discriminator, Encoder(config, trunk=shared), Generator(config)
