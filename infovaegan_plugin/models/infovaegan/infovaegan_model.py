"""InfoVAEGAN (Ye & Bors, 2021) as a pythae ``BaseAE``.

The model owns the networks and the loss definitions; :class:`InfoVAEGANTrainer` owns the
optimisation order (which loss steps which optimizer, how often). Each ``*_loss`` method makes
exactly the forward passes its loss needs and takes already-computed tensors as arguments, so
a training step never recomputes what it has (``forward_passes`` counts them).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import Counter
from typing import Dict, Iterator, Optional

import torch
import torch.nn.functional as F
from pythae.data.datasets import DatasetOutput
from pythae.models.base.base_config import EnvironmentConfig
from pythae.models.base.base_model import BaseAE
from pythae.models.base.base_utils import ModelOutput
from torch import nn

from ...inputs import prepare_image_tensor
from ...load_errors import invalid_config_message, unreadable_weights_message
from . import latents as L
from .infovaegan_config import InfoVAEGANConfig
from .nets import Discriminator, Encoder, Generator, init_weights

MODEL_FILE = "model.pt"
CONFIG_FILE = "model_config.json"


class ModelLoadError(RuntimeError):
    """A saved model folder is missing a file, or a file is corrupt or does not match."""


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
        self.encoder = Encoder(model_config)
        self.generator = Generator(model_config)
        self.discriminator = Discriminator(model_config)
        self.apply(init_weights)
        self.device = None
        for net in self.networks().values():
            net.forward_count = 0
            net.register_forward_hook(_count_forward)

    def networks(self) -> Dict[str, nn.Module]:
        return {"encoder": self.encoder, "generator": self.generator, "discriminator": self.discriminator}

    @property
    def forward_passes(self) -> Counter:
        """Forward passes made by each network since construction (or the last reset)."""
        return Counter({name: net.forward_count for name, net in self.networks().items()})

    def reset_forward_passes(self) -> None:
        for net in self.networks().values():
            net.forward_count = 0

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # ----- inference -----------------------------------------------------------------

    def check_images(self, images) -> torch.Tensor:
        """The input contract shared with the ONNX runtime (:mod:`infovaegan_plugin.inputs`):
        same accepted inputs, same errors; returns a float (N, C, H, W) tensor in [0, 1]."""
        param = next(self.parameters())
        return prepare_image_tensor(images, self.model_config.input_dim, param.dtype, param.device)

    def encode(self, images: torch.Tensor) -> ModelOutput:
        """Posterior parameters of real or generated images (see docs/ARCHITECTURE.md)."""
        images = self.check_images(images)
        params = L.split_encoder_output(self.model_config, self.encoder(images))
        return self._with_derived(params)

    def _with_derived(self, params: Dict[str, torch.Tensor]) -> ModelOutput:
        cfg = self.model_config
        probs = L.softmax_per_code(params["categorical_logits"], cfg.categorical_dims)
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
        return L.argmax_per_code(logits, self.model_config.categorical_dims)

    def posterior_mode(self, encoded: ModelOutput, fixed_noise: bool = False) -> L.LatentCodes:
        """Deterministic generator inputs for an encoded batch: argmax code, means, noise.

        The noise is the inferred mean when the encoder infers it (unless ``fixed_noise``),
        else the prior mean (zeros): the "fixed noise" reconstruction.
        """
        cfg = self.model_config
        index = L.argmax_per_code(encoded.categorical_logits, cfg.categorical_dims)
        mean = encoded.continuous_mean
        noise = (
            encoded.noise_mean
            if cfg.infer_noise and not fixed_noise
            else mean.new_zeros((mean.shape[0], cfg.noise_dim))
        )
        return L.LatentCodes(
            noise=noise,
            categorical=L.one_hot_per_code(index, cfg.categorical_dims),
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
        cfg = self.model_config
        for name, tensor, size in (
            ("noise", noise, cfg.noise_dim),
            ("categorical", categorical, cfg.categorical_total),
            ("continuous", continuous, cfg.continuous_dim),
        ):
            if tensor.dim() != 2 or tensor.shape[1] != size:
                raise ValueError(f"{name} must have shape (N, {size}), got {tuple(tensor.shape)}.")
        return self.generator(torch.cat([noise, categorical, continuous], dim=1))

    def sample_prior(
        self, n: int, generator: Optional[torch.Generator] = None
    ) -> L.LatentCodes:
        return L.sample_prior(self.model_config, n, self._device(), generator)

    def generate(
        self,
        n: int,
        categorical: Optional[torch.Tensor] = None,
        continuous: Optional[torch.Tensor] = None,
        noise: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Sample the prior; any block given (categorical as class indices (N,) or (N, codes),
        or one-hot) replaces the sampled one."""
        cfg = self.model_config
        codes = self.sample_prior(n, generator)
        if categorical is not None:
            categorical = categorical.to(codes.noise.device)
            if categorical.dtype in (torch.int64, torch.int32):
                index = categorical.view(n, -1).long()
                categorical = L.one_hot_per_code(index, cfg.categorical_dims)
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
        categorical code ``code`` (rows), everything else fixed: (rows*cols, C, H, W)."""
        cfg = self.model_config
        if not 0 <= dimension < cfg.continuous_dim:
            raise ValueError(f"dimension must be in [0, {cfg.continuous_dim}), got {dimension}.")
        rows = cfg.categorical_dims[code] if cfg.categorical_dims else 1
        device = self._device()
        gen = torch.Generator().manual_seed(noise_seed)
        noise = torch.randn(1, cfg.noise_dim, generator=gen).to(device)
        noise = noise.expand(rows * num_values, -1)
        index = torch.zeros(rows * num_values, len(cfg.categorical_dims), dtype=torch.long)
        if cfg.categorical_dims:
            index[:, code] = torch.arange(rows).repeat_interleave(num_values)
        continuous = torch.zeros(rows * num_values, cfg.continuous_dim)
        continuous[:, dimension] = torch.linspace(-limit, limit, num_values).repeat(rows)
        categorical = L.one_hot_per_code(index, cfg.categorical_dims)
        return self.decode(noise, categorical.to(device), continuous.to(device))

    def latent_layout(self):
        return L.latent_layout(self.model_config)

    # ----- losses (used by the trainer; each makes only the forward passes it needs) ---

    def encode_sample(self, images: torch.Tensor) -> L.LatentCodes:
        """Reparameterised posterior sample (Gumbel-softmax + Gaussian) of a batch."""
        cfg = self.model_config
        post = L.split_encoder_output(cfg, self.encoder(images))
        noise = (
            L.reparameterize(post["noise_mean"], post["noise_logvar"])
            if cfg.infer_noise
            else None
        )
        codes = L.LatentCodes(
            noise=noise if noise is not None else images.new_zeros(images.shape[0], 0),
            categorical=L.gumbel_softmax_per_code(
                post["categorical_logits"], cfg.categorical_dims, cfg.gumbel_temperature
            ),
            continuous=L.reparameterize(post["continuous_mean"], post["continuous_logvar"]),
        )
        codes.posterior = post  # type: ignore[attr-defined]
        return codes

    def _prior_pair_code(self, prior: L.LatentCodes) -> torch.Tensor:
        return prior.code(with_noise=self.model_config.infer_noise)

    def discriminator_loss(
        self,
        real: torch.Tensor,
        fake: torch.Tensor,
        prior: L.LatentCodes,
        real_codes: Optional[L.LatentCodes] = None,
    ) -> ModelOutput:
        """Standard GAN discriminator loss; ``fake`` and ``real_codes`` must be detached."""
        joint = self.model_config.joint_discriminator
        real_code = real_codes.code(self.model_config.infer_noise) if joint else None
        fake_code = self._prior_pair_code(prior) if joint else None
        d_real = self.discriminator(real, real_code)
        d_fake = self.discriminator(fake, fake_code)
        loss = F.binary_cross_entropy_with_logits(
            d_real, torch.ones_like(d_real)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        return ModelOutput(
            loss=loss,
            d_real_accuracy=(d_real > 0).float().mean().detach(),
            d_fake_accuracy=(d_fake < 0).float().mean().detach(),
        )

    def generator_loss(
        self,
        fake: torch.Tensor,
        prior: L.LatentCodes,
        real: Optional[torch.Tensor] = None,
        real_codes: Optional[L.LatentCodes] = None,
    ) -> ModelOutput:
        """GAN + MI stage for generator and encoder (non-saturating loss).

        With a joint discriminator the encoder is also trained adversarially on
        (real, E(real)) pairs, as in ALI/BiGAN.
        """
        cfg = self.model_config
        zero = fake.new_zeros(())
        with frozen(self.discriminator):
            fake_code = self._prior_pair_code(prior) if cfg.joint_discriminator else None
            d_fake = self.discriminator(fake, fake_code)
            adversarial = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
            if cfg.joint_discriminator:
                d_real = self.discriminator(real, real_codes.code(cfg.infer_noise))
                adversarial = adversarial + F.binary_cross_entropy_with_logits(
                    d_real, torch.zeros_like(d_real)
                )
        mi_cat, mi_cont = zero, zero
        if cfg.use_mutual_information:
            post = L.split_encoder_output(cfg, self.encoder(fake))
            if cfg.categorical_dims:
                mi_cat = L.categorical_cross_entropy(
                    post["categorical_logits"], prior.categorical_index, cfg.categorical_dims
                )
            if cfg.continuous_dim:
                mi_cont = L.gaussian_nll(
                    prior.continuous, post["continuous_mean"], post["continuous_logvar"]
                )
        loss = (
            adversarial
            + cfg.mi_categorical_weight * mi_cat
            + cfg.mi_continuous_weight * mi_cont
        )
        return ModelOutput(
            loss=loss, adversarial=adversarial, mi_categorical=mi_cat, mi_continuous=mi_cont
        )

    def elbo_loss(self, fake: torch.Tensor, prior: L.LatentCodes) -> ModelOutput:
        """Data-free inference stage: negative ELBO of generated images, for the encoder.

        Encode the (detached) generated image, reparameterise, regenerate with the same noise
        (or the inferred noise when ``infer_noise``), reconstruction error + KL to the priors.
        """
        cfg = self.model_config
        sample = self.encode_sample(fake)
        post = sample.posterior  # type: ignore[attr-defined]
        noise = sample.noise if cfg.infer_noise else prior.noise
        latent = torch.cat([noise, sample.categorical, sample.continuous], dim=1)
        with frozen(self.generator):
            regenerated = self.generator(latent)
        recon = reconstruction_loss(regenerated, fake, cfg.reconstruction_loss)
        zero = fake.new_zeros(())
        kl_cont = (
            L.kl_gaussian(
                post["continuous_mean"], post["continuous_logvar"], L.continuous_prior_var(cfg)
            )
            if cfg.continuous_dim
            else zero
        )
        kl_cat = L.kl_categorical_uniform(post["categorical_logits"], cfg.categorical_dims)
        kl_noise = (
            L.kl_gaussian(post["noise_mean"], post["noise_logvar"]) if cfg.infer_noise else zero
        )
        loss = (
            cfg.elbo_reconstruction_weight * recon
            + cfg.kl_continuous_weight * kl_cont
            + cfg.kl_categorical_weight * kl_cat
            + cfg.kl_noise_weight * kl_noise
        )
        return ModelOutput(
            loss=loss,
            reconstruction=recon,
            kl_continuous=kl_cont,
            kl_categorical=kl_cat,
            kl_noise=kl_noise,
        )

    def forward(self, inputs: DatasetOutput, **kwargs) -> ModelOutput:
        """All losses of one batch without optimizer steps (pythae's sanity check and eval).

        ``loss`` is the sum of the stage losses; ``recon_loss`` is the per-image MSE of
        reconstructing the real batch, the number to watch during training.
        """
        real = self.check_images(inputs["data"])
        prior = self.sample_prior(real.shape[0])
        fake = self.generator(prior.generator_input())
        cfg = self.model_config
        real_codes = self.encode_sample(real) if cfg.joint_discriminator else None
        d_out = self.discriminator_loss(
            real, fake.detach(), prior, real_codes.detach() if real_codes is not None else None
        )
        g_out = self.generator_loss(fake, prior, real, real_codes)
        e_out = self.elbo_loss(fake.detach(), prior) if cfg.use_inference_stage else None
        encoded = self.encode(real)
        recon_x = self._decode_mode(encoded)
        recon_loss = F.mse_loss(recon_x, real, reduction="none").flatten(1).mean(1).mean()
        loss = d_out.loss + g_out.loss + (e_out.loss if e_out is not None else 0.0)
        return ModelOutput(
            loss=loss,
            discriminator_loss=d_out.loss,
            generator_loss=g_out.loss,
            encoder_loss=e_out.loss if e_out is not None else real.new_zeros(()),
            recon_loss=recon_loss,
            recon_x=recon_x,
            z=encoded.features,
        )

    # ----- persistence: config + weights, never pickled code ----------------------------

    def save(self, dir_path: str) -> None:
        """Write ``model_config.json``, ``environment.json`` and ``model.pt`` (weights only)."""
        os.makedirs(dir_path, exist_ok=True)
        EnvironmentConfig(
            python_version=f"{sys.version_info[0]}.{sys.version_info[1]}"
        ).save_json(dir_path, "environment")
        self.model_config.save_json(dir_path, "model_config")
        state = {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}
        torch.save({"model_state_dict": state}, os.path.join(dir_path, MODEL_FILE))

    @classmethod
    def load_from_folder(cls, dir_path: str) -> "InfoVAEGAN":
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
        raw.pop("latent_dim", None)
        try:
            config = InfoVAEGANConfig.from_dict(raw)
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
            model.load_state_dict(payload["model_state_dict"])
        except RuntimeError as exc:
            raise ModelLoadError(
                f"weights in {weights_path} do not match the architecture of {config_path}: {exc}"
            ) from exc
        return model


def _count_forward(module: nn.Module, args, output) -> None:
    module.forward_count += 1


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
