"""InfoVAEGAN (Ye & Bors, 2021) as a pythae ``BaseAE``.

The model owns the networks and the loss definitions: :meth:`InfoVAEGAN.losses` returns every
stage's named losses (:data:`LOSS_NAMES`) from shared forward passes, and ``forward`` reuses it.
:class:`InfoVAEGANTrainer` owns the optimisation order: it takes each optimizer's loss from
``losses`` by name and only computes gradients and steps.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pythae.data.datasets import DatasetOutput
from pythae.models.base.base_config import EnvironmentConfig
from pythae.models.base.base_model import BaseAE
from pythae.models.base.base_utils import ModelOutput
from torch import nn

from ...atomic import save_torch, write_errors, write_text
from ...inputs import prepare_image_tensor
from ...layout import LatentLayout
from ...load_errors import invalid_config_message, unreadable_weights_message
from . import latents
from .augment import random_affine
from .infovaegan_config import InfoVAEGANConfig, variant_contradictions
from .nets import ContrastiveClassifier, build_networks, init_weights

MODEL_FILE = "model.pt"

#: The continuous MI term by ``InfoVAEGANConfig.mi_continuous_loss``.
MI_CONTINUOUS_LOSSES = {
    "gaussian_nll": latents.gaussian_nll,
    "squared_error": latents.squared_error,
    "mean_squared_error": latents.mean_squared_error,
}
CONFIG_FILE = "model_config.json"


#: The stages of one training step, in the order the trainer runs them.
STAGES: tuple[str, ...] = ("discriminator", "generation", "inference")

#: The losses :meth:`InfoVAEGAN.losses` returns by stage. Each optimizer minimises some of them
#: (the trainer's ``optimizer_losses``); every one is named once, with one meaning, in the
#: model's output, the trainer's metrics (``<name>_loss``) and the epoch loss (their sum).
STAGE_LOSSES: dict[str, tuple[str, ...]] = {
    "discriminator": ("discriminator",),
    "generation": ("adversarial", "mutual_information"),
    "inference": ("elbo",),
}
LOSS_NAMES: tuple[str, ...] = tuple(name for stage in STAGES for name in STAGE_LOSSES[stage])


@dataclass
class LossBatch:
    """A real batch and the forward passes its losses share (see :meth:`InfoVAEGAN.loss_batch`).

    ``fake`` keeps its graph to the generator; ``real_codes`` (joint discriminator only) keeps
    its graph to the encoder only when the encoder is trained adversarially (ALI).
    """

    real: torch.Tensor
    prior: latents.LatentCodes
    fake: torch.Tensor
    real_codes: latents.LatentCodes | None = None


class ModelLoadError(RuntimeError):
    """A saved model folder is missing a file, or a file is corrupt or does not match."""


@contextlib.contextmanager
def running_stats_frozen(module: nn.Module) -> Iterator[None]:
    """BatchNorm in train mode (batch statistics) that leaves the running statistics as they
    are: momentum 0 makes the running-average update a no-op."""
    norms = [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Skip weight gradients of modules a loss must not train (saves their backward work)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class InfoVAEGAN(BaseAE):
    """Encoder + generator + discriminator with InfoGAN's MI terms and a data-free ELBO.

    Args:
        model_config: the :class:`InfoVAEGANConfig`; it alone describes the architecture.
    """

    def __init__(self, model_config: InfoVAEGANConfig):
        nn.Module.__init__(self)
        self.model_name = "InfoVAEGAN"
        self.model_config = model_config
        self.input_dim = model_config.input_dim
        self.latent_dim = model_config.latent_dim
        self.discriminator, self.encoder, self.generator = build_networks(model_config)
        #: InfoGAN-CR's classifier of the code a pair shares (``contrastive_weight > 0``)
        self.contrastive: ContrastiveClassifier | None = (
            ContrastiveClassifier(model_config) if model_config.contrastive_weight > 0 else None)
        self.apply(init_weights)
        if model_config.discriminator_spectral_norm:
            self.discriminator.apply_spectral_norm()
        self.device = None
        #: the training epoch (1-based) the trainer is in; schedules such as the instance
        #: noise's read it. Not saved: a resumed trainer sets it again.
        self.training_epoch = 1

    def networks(self) -> dict[str, nn.Module]:
        nets = {"encoder": self.encoder, "generator": self.generator,
                "discriminator": self.discriminator}
        return nets if self.contrastive is None else {**nets, "contrastive": self.contrastive}

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # ----- inference -----------------------------------------------------------------

    def check_images(self, images) -> torch.Tensor:
        """The input contract shared with the ONNX runtime (:mod:`infovaegan_plugin.inputs`):
        same accepted inputs, same errors; returns a float (N, C, H, W) tensor in [0, 1]."""
        param = next(self.parameters())
        return prepare_image_tensor(images, self.model_config.input_dim, param.dtype, param.device)

    def encode(self, images: torch.Tensor, with_trunk: bool = False) -> ModelOutput:
        """Posterior parameters of real or generated images (see docs/ARCHITECTURE.md).

        ``with_trunk``: also ``trunk_features``, the encoder trunk's last hidden layer
        (``hidden_dim`` values), an embedding for downstream classifiers that is richer than
        the codes (one trunk pass either way).
        """
        images = self.check_images(images)
        if not with_trunk:
            return self._with_derived(self.posterior(images))
        trunk = self.encoder.trunk(images)
        encoded = self._with_derived(
            latents.split_encoder_output(self.model_config, self.encoder.heads(trunk)))
        encoded["trunk_features"] = trunk[:, : self.model_config.hidden_dim]  # less a pooled map
        return encoded

    def _with_derived(self, params: dict[str, torch.Tensor]) -> ModelOutput:
        cfg = self.model_config
        probs = latents.softmax_per_code(
            params["categorical_logits"], cfg.layout.categorical_sizes)
        features = [probs, params["continuous_mean"]]
        if cfg.infer_noise:
            features.append(params["noise_mean"])
        return ModelOutput(
            categorical_probs=probs, **params, features=torch.cat(features, dim=1)
        )

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encode(inputs).features

    def predict_categories(self, images: torch.Tensor) -> torch.Tensor:
        """Cluster id of each image per categorical code, (N, n_codes)."""
        logits = self.encode(images).categorical_logits
        return latents.argmax_per_code(logits, self.layout.categorical_sizes)

    def posterior_mode(
        self, encoded: ModelOutput, fixed_noise: bool = False
    ) -> latents.LatentCodes:
        """Deterministic generator inputs for an encoded batch: argmax code, means, noise.

        The noise is the inferred mean when the encoder infers it (unless ``fixed_noise``),
        else the prior mean (zeros): the "fixed noise" reconstruction.
        """
        layout = self.layout
        index = latents.argmax_per_code(encoded.categorical_logits, layout.categorical_sizes)
        mean = encoded.continuous_mean
        noise = (
            encoded.noise_mean
            if self.model_config.infer_noise and not fixed_noise
            else mean.new_zeros((mean.shape[0], layout.noise_dim))
        )
        return latents.LatentCodes(
            noise=noise,
            categorical=latents.one_hot_per_code(index, layout.categorical_sizes),
            continuous=mean,
            categorical_index=index,
        )

    def _decode_mode(self, encoded: ModelOutput, fixed_noise: bool = False) -> torch.Tensor:
        return self.generator(self.posterior_mode(encoded, fixed_noise).generator_input())

    def reconstruct(self, inputs: torch.Tensor, fixed_noise: bool = False) -> torch.Tensor:
        """generator(encoder(x)) from the posterior mode (see :meth:`posterior_mode`)."""
        return self._decode_mode(self.encode(inputs), fixed_noise)

    def predict(self, inputs: torch.Tensor) -> ModelOutput:
        """pythae's ``predict``: reconstruction and embedding without losses."""
        encoded = self.encode(inputs)
        return ModelOutput(recon_x=self._decode_mode(encoded), embedding=encoded.features)

    def interpolate(
        self, starting_inputs: torch.Tensor, ending_inputs: torch.Tensor, granularity: int = 10
    ) -> torch.Tensor:
        """pythae's ``interpolate``: a straight line between the posterior modes of two
        batches, in generator-input space (one-hot codes blend through probabilities);
        returns (B, granularity, C, H, W)."""
        if starting_inputs.shape != ending_inputs.shape:
            raise ValueError(
                f"starting and ending inputs must have the same shape, got "
                f"{tuple(starting_inputs.shape)} and {tuple(ending_inputs.shape)}."
            )
        start = self.posterior_mode(self.encode(starting_inputs)).generator_input()
        end = self.posterior_mode(self.encode(ending_inputs)).generator_input()
        t = torch.linspace(0, 1, granularity, device=start.device)[None, :, None]
        line = start[:, None] * (1 - t) + end[:, None] * t
        images = self.generator(line.reshape(-1, start.shape[1]))
        return images.reshape(start.shape[0], granularity, *self.model_config.input_dim)

    def decode(
        self, noise: torch.Tensor, categorical: torch.Tensor, continuous: torch.Tensor
    ) -> torch.Tensor:
        """Images from explicit generator inputs (categorical: one-hot or probabilities)."""
        parts = {"noise": noise, "categorical": categorical, "continuous": continuous}
        for name, size in self.layout.widths.items():
            tensor = parts[name]
            if tensor.dim() != 2 or tensor.shape[1] != size:
                raise ValueError(f"{name} must have shape (N, {size}), got {tuple(tensor.shape)}.")
        return self.generator(latents.compose_generator_input(noise, categorical, continuous))

    def sample_prior(
        self, n: int, generator: torch.Generator | None = None
    ) -> latents.LatentCodes:
        return latents.sample_prior(self.model_config, n, self._device(), generator)

    def generate(
        self,
        n: int,
        categorical: torch.Tensor | None = None,
        continuous: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample the prior; any block given (categorical as class indices (N,) or (N, codes),
        or one-hot) replaces the sampled one."""
        codes = self.sample_prior(n, generator)
        if categorical is not None:
            categorical = categorical.to(codes.noise.device)
            if categorical.dtype in (torch.int64, torch.int32):
                index = categorical.view(n, -1).long()
                categorical = latents.one_hot_per_code(index, self.layout.categorical_sizes)
            codes.categorical = categorical.float()
        if continuous is not None:
            codes.continuous = continuous.to(codes.noise.device).float()
        if noise is not None:
            codes.noise = noise.to(codes.noise.device).float()
        return self.decode(codes.noise, codes.categorical, codes.continuous)

    def traverse(
        self,
        dimension: int,
        num_values: int = 10,
        code: int = 0,
        limit: float = 1.0,
        noise_seed: int = 0,
    ) -> torch.Tensor:
        """Vary one continuous code over ``[-limit, limit]`` (columns) for every value of
        categorical code ``code`` (rows), everything else fixed: (rows*cols, C, H, W).
        ``layout.traversal_limit`` is the prior's own range (the default 1 suits U[-1, 1])."""
        layout = self.layout
        gen = torch.Generator().manual_seed(noise_seed)
        noise = torch.randn(1, layout.noise_dim, generator=gen) * layout.noise_std
        grid = layout.traversal_grid(
            dimension, layout.traversal_values(num_values, limit), noise[0].numpy(), code
        )
        device = self._device()
        index = torch.from_numpy(grid["categorical_index"])
        return self.decode(
            torch.from_numpy(grid["noise"]).to(device),
            latents.one_hot_per_code(index, layout.categorical_sizes).to(device),
            torch.from_numpy(grid["continuous"]).to(device),
        )

    @property
    def layout(self) -> LatentLayout:
        """The model's latent space (sizes, priors, slices): ``model_config.layout``."""
        return self.model_config.layout

    def latent_layout(self) -> list[dict[str, object]]:
        """Blocks of the generator input, in order, with their priors (export metadata)."""
        return self.layout.to_blocks()

    # ----- losses (used by the trainer; each makes only the forward passes it needs) ---

    def posterior(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named posterior parameters of a batch (one encoder pass)."""
        return latents.split_encoder_output(self.model_config, self.encoder(images))

    def sample_posterior(
        self, post: dict[str, torch.Tensor], noise: torch.Tensor | None = None
    ) -> latents.LatentCodes:
        """Reparameterised sample (Gumbel-softmax + Gaussian) of posterior parameters; the
        noise block is ``noise`` when given, else a sample of the inferred noise (or empty)."""
        cfg = self.model_config
        continuous = post["continuous_mean"]
        if noise is None:
            noise = (
                latents.reparameterize(post["noise_mean"], post["noise_logvar"])
                if "noise_mean" in post
                else continuous.new_zeros((continuous.shape[0], 0))
            )
        return latents.LatentCodes(
            noise=noise,
            categorical=latents.gumbel_softmax_per_code(
                post["categorical_logits"], cfg.categorical_dims, cfg.gumbel_temperature
            ),
            continuous=latents.reparameterize(continuous, post["continuous_logvar"]),
        )

    def encode_sample(self, images: torch.Tensor) -> latents.LatentCodes:
        """Reparameterised posterior sample of a batch."""
        return self.sample_posterior(self.posterior(images))

    def pair_code(self, codes: latents.LatentCodes) -> torch.Tensor:
        """The code half of a joint discriminator's (image, code) pair."""
        return codes.code(with_noise=self.model_config.joint_code_has_noise)

    def real_pair_codes(self, real: torch.Tensor) -> latents.LatentCodes | None:
        """Encoder codes of real images for a joint discriminator (None without one).

        InfoVAEGAN's encoder gets no adversarial gradient (the paper's figure, the authors'
        code), so the codes are sampled without a graph; ALI's encoder is trained through them.
        """
        cfg = self.model_config
        if not cfg.joint_discriminator:
            return None
        if cfg.encoder_adversarial:
            return self.encode_sample(real)
        with torch.no_grad():
            return self.encode_sample(real)

    def loss_batch(self, real: torch.Tensor) -> LossBatch:
        """The forward passes every loss of a batch shares: a prior sample, its image and, for
        a joint discriminator, the encoder's codes of the real batch."""
        prior = self.sample_prior(real.shape[0])
        fake = self.generator(prior.generator_input())
        return LossBatch(real=real, prior=prior, fake=fake, real_codes=self.real_pair_codes(real))

    def losses(self, batch: LossBatch, stages: Collection[str] = STAGES) -> ModelOutput:
        """Every named loss (:data:`LOSS_NAMES`) of the requested stages of one batch, with
        the terms they are made of; the trainer and :meth:`forward` both read them by name.

        - ``discriminator`` stage: ``discriminator``, the standard GAN loss on the real batch
          and the (detached) generated one; a joint discriminator pairs real images with the
          encoder's (detached) codes and generated images with the prior codes they came from.
          Also ``d_real_accuracy`` / ``d_fake_accuracy``.
        - ``generation`` stage: ``adversarial``, the generator's non-saturating GAN loss (with
          ALI also the encoder's, on (real, E(real)) pairs); ``mutual_information``, InfoGAN's
          MI lower bound (the encoder recovers the codes the generator was fed) plus the noise
          head's regression of the noise (terms ``mi_categorical``, ``mi_continuous``,
          ``noise_regression``).
        - ``inference`` stage (needs ``generation``, whose encoder pass of the generated batch
          it reuses, as the authors' code does): ``elbo``, the data-free ELBO: the generated
          image is reparameterised, regenerated with the same noise, reconstruction + KL terms
          (``reconstruction``, ``kl_continuous``, ``kl_categorical``, ``kl_noise``).

        The discriminator stage is a call of its own in training because the discriminator
        steps before the generation losses are taken (they see the updated discriminator).
        Which parameters each loss trains is the trainer's business (one optimizer each).
        """
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise ValueError(f"unknown stages {unknown}; choose from {STAGES}.")
        if "inference" in stages and "generation" not in stages:
            raise ValueError(
                "the inference stage reuses the generation stage's encoder pass of the "
                "generated batch: request both."
            )
        out = ModelOutput()
        if "discriminator" in stages:
            out.update(self._discriminator_terms(batch))
        if "generation" in stages:
            out.update(self._generation_terms(batch, inference="inference" in stages))
        return out

    def _discriminator_terms(self, batch: LossBatch) -> dict[str, torch.Tensor]:
        cfg = self.model_config
        joint = cfg.joint_discriminator
        if joint and batch.real_codes is None:
            raise ValueError("a joint discriminator needs the encoder's codes of the real batch.")
        real_code = self.pair_code(batch.real_codes.detach()) if joint else None
        d_real, real_features = self.discriminator(
            self.judged(batch.real), real_code, with_features=True
        )
        d_fake, fake_features = self.discriminator(
            self.judged(batch.fake.detach()), self.pair_code(batch.prior) if joint else None,
            with_features=True,
        )
        loss = F.binary_cross_entropy_with_logits(
            d_real, torch.ones_like(d_real)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        out = {
            "d_real_accuracy": (d_real > 0).float().mean().detach(),
            "d_fake_accuracy": (d_fake < 0).float().mean().detach(),
        }
        if self.mi_in_discriminator_loss:
            # InfoGAN's official losses: Q (a head on D's trunk) learns the codes of the
            # generated batch with the discriminator's optimizer
            mi = self._mutual_information_terms(self._posterior_of(fake_features), batch.prior)
            loss = loss + mi["mutual_information"]
            out["d_mutual_information"] = mi["mutual_information"].detach()
        if cfg.self_augmentation_weight > 0:
            sat = self._self_augmentation_terms(batch.real, real_features)
            loss = loss + sat.pop("self_augmentation")
            out.update({name: value.detach() for name, value in sat.items()})
        return {"discriminator": loss, **out}

    def _self_augmentation_terms(
        self, real: torch.Tensor, real_features: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """IMSAT's self-augmented training of the categorical codes on real images (see
        ``InfoVAEGANConfig.self_augmentation_weight``): KL(q(c|x) || q(c|T(x))) with q(c|x)
        held fixed, plus ``log K - H(mean q(c|x))`` so the categories share the batch."""
        cfg = self.model_config
        sizes = cfg.layout.categorical_sizes
        logits = self._posterior_of(real_features)["categorical_logits"]
        moved = self.posterior(random_affine(
            real, max_rotation_deg=cfg.self_augmentation_rotation_deg,
            max_shift=cfg.self_augmentation_shift, max_scale_change=cfg.self_augmentation_scale,
        ))["categorical_logits"]
        consistency, balance = logits.new_zeros(()), logits.new_zeros(())
        for block, moved_block in zip(
            latents.split_per_code(logits, sizes), latents.split_per_code(moved, sizes)
        ):
            log_p = F.log_softmax(block, dim=1)
            target = log_p.detach()
            consistency = consistency + (
                target.exp() * (target - F.log_softmax(moved_block, dim=1))
            ).sum(1).mean()
            marginal = log_p.exp().mean(0)
            balance = balance + math.log(block.shape[1]) + (
                marginal * marginal.clamp_min(1e-12).log()
            ).sum()
        total = cfg.self_augmentation_weight * (consistency + cfg.cluster_balance_weight * balance)
        return {"self_augmentation": total, "sat_consistency": consistency,
                "sat_balance": balance}

    def instance_noise_std_at(self, epoch: int) -> float:
        """The instance noise of training epoch ``epoch`` (1-based): ``instance_noise_std``,
        lowered linearly to 0 over ``instance_noise_anneal_epochs`` when that is set."""
        cfg = self.model_config
        if cfg.instance_noise_anneal_epochs <= 0:
            return cfg.instance_noise_std
        left = 1.0 - (max(epoch, 1) - 1) / cfg.instance_noise_anneal_epochs
        return cfg.instance_noise_std * max(left, 0.0)

    def judged(self, images: torch.Tensor) -> torch.Tensor:
        """Images as the discriminator sees them in training: with instance noise (the
        schedule's value for :attr:`training_epoch`) while the model trains, unchanged
        otherwise. The noise is drawn in the images' logical order whatever their memory
        format (channels-last on the CPU fast path), so both formats see the same draws."""
        std = self.instance_noise_std_at(self.training_epoch)
        if std > 0 and self.training:
            noise = torch.randn(images.shape, dtype=images.dtype, device=images.device)
            return noise.mul_(std).add_(images)  # images + std * noise, without a temporary
        return images

    @property
    def mi_in_discriminator_loss(self) -> bool:
        """The MI term is also part of the discriminator's loss (shared trunk, InfoGAN)."""
        cfg = self.model_config
        return cfg.share_discriminator_trunk and cfg.has_mutual_information_loss

    def _posterior_of(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named posterior parameters from trunk features already computed."""
        return latents.split_encoder_output(self.model_config, self.encoder.heads(features))

    def _mutual_information_terms(
        self, post: dict[str, torch.Tensor], prior: latents.LatentCodes
    ) -> dict[str, torch.Tensor]:
        """InfoGAN's MI lower bound (the encoder recovers the codes the generator was fed)
        plus the noise head's regression of the noise, weighted; with their terms."""
        cfg = self.model_config
        zero = post["categorical_logits"].new_zeros(())
        mi_cat, mi_cont, noise_reg = zero, zero, zero
        if cfg.use_mutual_information:
            if cfg.categorical_dims:
                mi_cat = latents.categorical_cross_entropy(
                    post["categorical_logits"], prior.categorical_index, cfg.categorical_dims
                )
            if cfg.continuous_dim:
                mi_term = MI_CONTINUOUS_LOSSES[cfg.mi_continuous_loss]
                mi_cont = mi_term(
                    prior.continuous, post["continuous_mean"], post["continuous_logvar"]
                )
        if cfg.regresses_noise:
            noise_reg = latents.gaussian_nll(prior.noise, post["noise_mean"], post["noise_logvar"])
        return {
            "mutual_information": cfg.mi_categorical_weight * mi_cat
            + cfg.mi_continuous_weight * mi_cont
            + cfg.noise_regression_weight * noise_reg,
            "mi_categorical": mi_cat,
            "mi_continuous": mi_cont,
            "noise_regression": noise_reg,
        }

    def _generation_terms(self, batch: LossBatch, inference: bool) -> dict[str, torch.Tensor]:
        cfg = self.model_config
        fake, prior = batch.fake, batch.prior
        with frozen(self.discriminator):
            d_fake, features = self.discriminator(
                self.judged(fake), self.pair_code(prior) if cfg.joint_discriminator else None,
                with_features=True,
            )
            adversarial = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
            if cfg.encoder_adversarial:
                d_real = self.discriminator(
                    self.judged(batch.real), self.pair_code(batch.real_codes)
                )
                adversarial = adversarial + F.binary_cross_entropy_with_logits(
                    d_real, torch.zeros_like(d_real)
                )
        needs_posterior = cfg.has_mutual_information_loss or inference
        post = None
        if needs_posterior:
            # a shared-trunk encoder reads the features D just computed (frozen: its MI
            # gradient reaches the generator and the heads, never the trunk)
            post = (
                self._posterior_of(features)
                if cfg.share_discriminator_trunk
                else self.posterior(fake)
            )
        out = {"adversarial": adversarial}
        if post is not None:
            out.update(self._mutual_information_terms(post, prior))
        else:
            zero = fake.new_zeros((), dtype=torch.float32)
            out.update(mutual_information=zero, mi_categorical=zero, mi_continuous=zero,
                       noise_regression=zero)
        if cfg.contrastive_weight > 0 and self.training:  # a training term (as InfoGAN-CR's)
            out.update(self._contrastive_terms(len(prior)))
        if inference:
            out.update(self._elbo_terms(fake.detach(), prior, post))
        return out

    def _contrastive_terms(self, n: int) -> dict[str, torch.Tensor]:
        """InfoGAN-CR's contrastive regulariser (``contrastive_weight``) on ``n`` fresh pairs:
        ``contrastive``, the classifier's cross-entropy, trains the classifier and, weighted
        (``contrastive_generator``), the generator, from one forward pass. Before
        ``contrastive_start_epoch`` the generator's term is 0 and the classifier rests."""
        cfg = self.model_config
        if self.training_epoch < cfg.contrastive_start_epoch:
            return {"contrastive_generator": torch.zeros((), device=self._device())}
        first, second, shared = latents.shared_code_pairs(cfg, n, self._device())
        images = self.generator(torch.cat([first.generator_input(), second.generator_input()]))
        logits = self.contrastive(*images.split(n))
        cross_entropy = F.cross_entropy(logits, shared)
        return {"contrastive": cross_entropy,
                "contrastive_generator": cfg.contrastive_weight * cross_entropy,
                "contrastive_accuracy": (logits.argmax(1) == shared).float().mean().detach()}

    def _elbo_terms(
        self, fake: torch.Tensor, prior: latents.LatentCodes, post: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        cfg = self.model_config
        zero = fake.new_zeros(())
        post = {
            **post,
            "categorical_logits": scaled_gradient(
                post["categorical_logits"], cfg.elbo_categorical_gradient
            ),
        }
        sample = self.sample_posterior(post, noise=None if cfg.elbo_infers_noise else prior.noise)
        bn_context = (
            contextlib.nullcontext()
            if cfg.elbo_updates_generator_bn
            else running_stats_frozen(self.generator)
        )
        with frozen(self.generator), bn_context:
            regenerated = self.generator(sample.generator_input())
        recon = reconstruction_loss(regenerated, fake, cfg.reconstruction_loss)
        kl_cont = (
            latents.kl_gaussian(
                post["continuous_mean"],
                post["continuous_logvar"],
                latents.continuous_prior_var(cfg),
            )
            if cfg.continuous_dim
            else zero
        )
        kl_cat = latents.kl_categorical_uniform(post["categorical_logits"], cfg.categorical_dims)
        kl_noise = (
            latents.kl_gaussian(post["noise_mean"], post["noise_logvar"], cfg.noise_std**2)
            if cfg.elbo_infers_noise
            else zero
        )
        elbo = (
            cfg.elbo_reconstruction_weight * recon
            + cfg.kl_continuous_weight * kl_cont
            + cfg.kl_categorical_weight * kl_cat
            + cfg.kl_noise_weight * kl_noise
        )
        return {
            "elbo": elbo,
            "reconstruction": recon,
            "kl_continuous": kl_cont,
            "kl_categorical": kl_cat,
            "kl_noise": kl_noise,
        }

    def forward(
        self, inputs: DatasetOutput, inference: bool | None = None, **kwargs
    ) -> ModelOutput:
        """All losses of one batch without optimizer steps (pythae's sanity check and eval).

        ``<name>_loss`` for each of :data:`LOSS_NAMES` that :meth:`losses` computed (the
        ELBO only with the inference stage; ``inference=False`` leaves it out, as the trainer
        does during warm-up); ``loss`` is their sum, the quantity an epoch's loss averages.
        ``recon_loss`` is the per-image MSE of reconstructing the real batch from its
        posterior mode, the number to watch during training.
        """
        real = self.check_images(inputs["data"])
        cfg = self.model_config
        inference = cfg.use_inference_stage if inference is None else inference
        stages = STAGES if inference and cfg.use_inference_stage else STAGES[:2]
        out = self.losses(self.loss_batch(real), stages)
        named = {f"{name}_loss": out[name] for name in LOSS_NAMES if name in out}
        encoded = self.encode(real)
        recon_x = self._decode_mode(encoded)
        return ModelOutput(
            loss=sum(named.values()),
            **named,
            recon_loss=per_image_mse(recon_x, real),
            recon_x=recon_x,
            z=encoded.features,
        )

    # ----- persistence: config + weights, never pickled code ----------------------------

    def save(self, dir_path: str) -> None:
        """Write ``model_config.json``, ``environment.json`` and ``model.pt`` (weights only),
        each atomically: a failed write (:class:`~infovaegan_plugin.atomic.WriteError`)
        leaves the files that were there before intact."""
        with write_errors(dir_path):
            os.makedirs(dir_path, exist_ok=True)
        environment = EnvironmentConfig(
            python_version=f"{sys.version_info[0]}.{sys.version_info[1]}")
        write_text(os.path.join(dir_path, "environment.json"), environment.to_json_string())
        write_text(os.path.join(dir_path, CONFIG_FILE), self.model_config.to_json_string())
        state = {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}
        save_torch({"model_state_dict": state}, os.path.join(dir_path, MODEL_FILE))

    @classmethod
    def load_from_folder(cls, dir_path: str) -> InfoVAEGAN:
        """Rebuild from the config and load the weights with ``weights_only=True``."""
        config_path = os.path.join(dir_path, CONFIG_FILE)
        weights_path = os.path.join(dir_path, MODEL_FILE)
        for path in (config_path, weights_path):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"missing {os.path.basename(path)} in {dir_path!r}.")
        try:
            with open(config_path) as fh:
                raw = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{config_path} is not valid JSON: {exc}") from exc
        if raw.pop("name", None) != "InfoVAEGANConfig":
            raise ModelLoadError(f"{config_path} does not describe an InfoVAEGAN model.")
        try:
            config = config_from_saved(raw)
        except (ValueError, TypeError) as exc:
            raise ModelLoadError(invalid_config_message(config_path, exc)) from None
        try:
            payload = torch.load(weights_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for a corrupt file
            raise ModelLoadError(unreadable_weights_message(weights_path, exc)) from None
        if not isinstance(payload, dict) or "model_state_dict" not in payload:
            raise ModelLoadError(f"{weights_path} has no 'model_state_dict' entry.")
        model = cls(config)
        try:
            model.load_state_dict(upgrade_state_dict(config, payload["model_state_dict"]))
        except RuntimeError as exc:
            raise ModelLoadError(
                f"weights in {weights_path} do not match the architecture of {config_path}: {exc}"
            ) from exc
        return model


def config_from_saved(raw: dict[str, object]) -> InfoVAEGANConfig:
    """The config a saved ``model_config.json`` (without its ``name``) describes, fields it
    predates filled with the behaviour it was trained with. Raises ``ValueError`` /
    ``TypeError`` for an invalid config (callers word the message for their context)."""
    raw = {key: value for key, value in raw.items() if key != "latent_dim"}
    for key, value in legacy_defaults(raw).items():
        raw.setdefault(key, value)
    return InfoVAEGANConfig.from_dict(reconcile_variant(raw))


def legacy_defaults(raw: dict[str, object]) -> dict[str, object]:
    """Values of fields an older saved config lacks: the behaviour that model was trained with
    (a config missing ``noise_in_elbo`` predates the paper-faithful method; one missing
    ``share_discriminator_trunk`` predates the option and had a separate encoder; one missing
    ``elbo_categorical_gradient`` trained with the paper's full ELBO gradient, whatever
    today's default is)."""
    newer: dict[str, object] = {}
    if "share_discriminator_trunk" not in raw:
        newer["share_discriminator_trunk"] = False
    if "elbo_categorical_gradient" not in raw:
        newer["elbo_categorical_gradient"] = 1.0
    if "noise_in_elbo" in raw:
        return newer
    return {
        **newer,
        "noise_in_elbo": bool(raw.get("infer_noise", True)),
        "mi_continuous_loss": "gaussian_nll",
        "encoder_adversarial": bool(raw.get("joint_discriminator", False)),
        "elbo_updates_generator_bn": True,
    }


def reconcile_variant(raw: dict[str, object]) -> dict[str, object]:
    """Before ``variant`` fixed its switches the name was informational, so a saved config may
    contradict it; the switches are what the model was trained with: it loads as ``custom``."""
    if variant_contradictions(str(raw.get("variant", "infovaegan")), raw):
        return {**raw, "variant": "custom"}
    return raw


def upgrade_state_dict(
    config: InfoVAEGANConfig, state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Split the 0.1 encoder's single output layer into the code head and the noise head
    (``noise_in_elbo`` models keep a linear noise head, so the split is exact)."""
    weight = state.get("encoder.head.weight")
    codes = config.layout.code_head_width
    if weight is None or weight.shape[0] == codes or "encoder.noise_head.weight" in state:
        return state
    if not config.noise_in_elbo:
        return state  # load_state_dict reports the mismatch with both file names
    state = dict(state)
    bias = state["encoder.head.bias"]
    state["encoder.head.weight"], state["encoder.noise_head.weight"] = weight[:codes], weight[codes:]
    state["encoder.head.bias"], state["encoder.noise_head.bias"] = bias[:codes], bias[codes:]
    return state


def scaled_gradient(values: torch.Tensor, scale: float) -> torch.Tensor:
    """``values`` in the forward pass, their gradient times ``scale`` in the backward pass."""
    if scale == 1:
        return values
    if scale == 0:
        return values.detach()
    kept = values.detach()
    return kept + scale * (values - kept)


def per_image_mse(x_rec: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over images of the per-pixel MSE: ``eval_recon_mse`` / ``train_recon_mse``."""
    return F.mse_loss(x_rec, target, reduction="none").flatten(1).mean(1).mean()


def reconstruction_loss(x_rec: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-image reconstruction error (sum over pixels, mean over the batch), in float32
    (binary cross-entropy is unsafe under autocast)."""
    with torch.autocast(device_type=x_rec.device.type, enabled=False):
        x_rec, target = x_rec.float(), target.float()
        if kind == "bce":
            err = F.binary_cross_entropy(
                x_rec.clamp(1e-6, 1 - 1e-6), target, reduction="none"
            )
        else:
            err = F.mse_loss(x_rec, target, reduction="none")
        return err.flatten(1).sum(1).mean()
