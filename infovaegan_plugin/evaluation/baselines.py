"""pythae's VAE-family baselines with networks of InfoVAEGAN's capacity, and how to train them.

A fair comparison changes the objective, not the networks: every baseline's encoder is
InfoVAEGAN's :class:`ImageTrunk` plus a linear Gaussian head, its decoder is InfoVAEGAN's
:class:`Generator`, and VAEGAN's discriminator is InfoVAEGAN's image discriminator (trunk +
linear head), all built from the same :class:`InfoVAEGANConfig`. The latent size is the
generator's input size, ``noise_dim + sum(categorical_dims) + continuous_dim``, so the
decoder is the very same network (noise dimensions included).

Objective weights follow the middle of disentanglement_lib's sweeps (Locatello et al., 2019):
beta-VAE beta=4, FactorVAE gamma=30, beta-TCVAE beta=6; VAEGAN uses pythae's defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from pythae.models import (
    VAEGAN,
    BetaTCVAE,
    BetaTCVAEConfig,
    BetaVAE,
    BetaVAEConfig,
    FactorVAE,
    FactorVAEConfig,
    VAEGANConfig,
)
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseDiscriminator, BaseEncoder
from pythae.trainers import (
    AdversarialTrainer,
    AdversarialTrainerConfig,
    BaseTrainer,
    BaseTrainerConfig,
    CoupledOptimizerAdversarialTrainer,
    CoupledOptimizerAdversarialTrainerConfig,
)
from pythae.trainers.training_callbacks import (
    CallbackHandler,
    MetricConsolePrinterCallback,
    ProgressBarCallback,
    TrainingCallback,
)
from torch import nn

from ..models.infovaegan import InfoVAEGAN, InfoVAEGANConfig
from ..models.infovaegan.nets import Generator, ImageTrunk, init_weights

#: The pythae baselines, in the order reports list them.
BASELINE_NAMES = ("beta_vae", "factor_vae", "beta_tc_vae", "vaegan")

#: Adam learning rate of the VAE objectives (InfoVAEGAN's generator/encoder optimizer uses the
#: same); pythae's default 1e-4 is tuned for budgets of hundreds of thousands of steps.
VAE_LEARNING_RATE = 1e-3
#: VAEGAN (Larsen et al., 2016) trains three networks; 3e-4 is the paper's rate.
VAEGAN_LEARNING_RATE = 3e-4
#: FactorVAE's latent discriminator (Kim & Mnih, 2018: 1e-4, betas (0.5, 0.9)).
FACTOR_VAE_DISCRIMINATOR = {"lr": 1e-4, "betas": (0.5, 0.9)}

OBJECTIVE_WEIGHTS: dict[str, dict[str, Any]] = {
    "beta_vae": {"beta": 4.0},
    "factor_vae": {"gamma": 30.0},
    "beta_tc_vae": {"beta": 6.0},
    "vaegan": {},
}


class MatchedEncoder(BaseEncoder):
    """InfoVAEGAN's image trunk + a linear head giving the Gaussian posterior's parameters.
    The trunk's FC feature only: a pooled map serves a categorical head, which a VAE has not."""

    def __init__(self, config: InfoVAEGANConfig, latent_dim: int):
        BaseEncoder.__init__(self)
        self.latent_dim = latent_dim
        self.trunk = ImageTrunk(config, with_pooled=False)
        self.head = nn.Linear(config.hidden_dim, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        mean, log_var = self.head(self.trunk(x)).chunk(2, dim=1)
        return ModelOutput(embedding=mean, log_covariance=log_var)


class MatchedDecoder(BaseDecoder):
    """InfoVAEGAN's generator, fed the whole latent vector (sigmoid output in [0, 1])."""

    def __init__(self, config: InfoVAEGANConfig):
        BaseDecoder.__init__(self)
        self.generator = Generator(config)

    def forward(self, z: torch.Tensor) -> ModelOutput:
        return ModelOutput(reconstruction=self.generator(z))


def _trunk_blocks(config: InfoVAEGANConfig) -> list[nn.Module]:
    """ImageTrunk's layers cut after each activation, so VAEGAN can read any layer."""
    blocks: list[nn.Module] = []
    current: list[nn.Module] = []
    for layer in ImageTrunk(config).net:
        current.append(layer)
        if isinstance(layer, nn.LeakyReLU):
            blocks.append(nn.Sequential(*current))
            current = []
    return blocks


class MatchedDiscriminator(BaseDiscriminator):
    """InfoVAEGAN's image discriminator in pythae's layered form (probability output).

    Layer ``depth - 1`` is the trunk's ``hidden_dim`` feature, the layer VAEGAN's learned
    similarity compares (see :data:`VAEGAN_FEATURE_LAYER`).
    """

    def __init__(self, config: InfoVAEGANConfig):
        BaseDiscriminator.__init__(self)
        self.layers = nn.ModuleList(
            [*_trunk_blocks(config), nn.Sequential(nn.Linear(config.hidden_dim, 1), nn.Sigmoid())]
        )
        self.depth = len(self.layers)

    def forward(self, x: torch.Tensor, output_layer_levels: list[int] | None = None):
        output = ModelOutput()
        levels = set(output_layer_levels or [])
        last = self.depth if not levels or -1 in levels else max(levels)
        out = x
        for i in range(last):
            out = self.layers[i](out)
            if i + 1 in levels:
                output[f"embedding_layer_{i + 1}"] = out
        if last == self.depth:
            output["embedding"] = out
        return output


def matched_latent_dim(config: InfoVAEGANConfig) -> int:
    """Latent size of every baseline: the generator input of the InfoVAEGAN config."""
    return int(config.generator_input_dim)


def build_baseline(name: str, config: InfoVAEGANConfig) -> nn.Module:
    """A pythae model of the named family with networks matched to ``config``."""
    if name not in BASELINE_NAMES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINE_NAMES)}.")
    latent = matched_latent_dim(config)
    common = {"input_dim": tuple(config.input_dim), "latent_dim": latent}
    encoder, decoder = MatchedEncoder(config, latent), MatchedDecoder(config)
    for net in (encoder, decoder):
        net.apply(init_weights)
    weights = OBJECTIVE_WEIGHTS[name]
    if name == "vaegan":
        discriminator = MatchedDiscriminator(config)
        discriminator.apply(init_weights)
        model_config = VAEGANConfig(**common, reconstruction_layer=discriminator.depth - 1)
        return VAEGAN(model_config, encoder=encoder, decoder=decoder, discriminator=discriminator)
    model_cls, config_cls = {
        "beta_vae": (BetaVAE, BetaVAEConfig),
        "factor_vae": (FactorVAE, FactorVAEConfig),
        "beta_tc_vae": (BetaTCVAE, BetaTCVAEConfig),
    }[name]
    model_config = config_cls(**common, reconstruction_loss="bce", **weights)
    return model_cls(model_config, encoder=encoder, decoder=decoder)


def baseline_trainer_config(name: str, **common: Any) -> BaseTrainerConfig:
    """The pythae trainer config each objective needs (FactorVAE: adversarial; VAEGAN:
    coupled adversarial; others: base), with the learning rates documented above."""
    if name == "factor_vae":
        return AdversarialTrainerConfig(
            **common,
            autoencoder_learning_rate=VAE_LEARNING_RATE,
            discriminator_learning_rate=FACTOR_VAE_DISCRIMINATOR["lr"],
            discriminator_optimizer_params={"betas": FACTOR_VAE_DISCRIMINATOR["betas"]},
        )
    if name == "vaegan":
        return CoupledOptimizerAdversarialTrainerConfig(
            **common,
            encoder_learning_rate=VAEGAN_LEARNING_RATE,
            decoder_learning_rate=VAEGAN_LEARNING_RATE,
            discriminator_learning_rate=VAEGAN_LEARNING_RATE,
        )
    return BaseTrainerConfig(**common, learning_rate=VAE_LEARNING_RATE)


_TRAINERS: dict[type, type] = {
    AdversarialTrainerConfig: AdversarialTrainer,
    CoupledOptimizerAdversarialTrainerConfig: CoupledOptimizerAdversarialTrainer,
    BaseTrainerConfig: BaseTrainer,
}


def _with_own_progress(trainer_cls: type) -> type:
    """pythae's trainer, except that a progress-bar callback we pass replaces tqdm's bar
    (the same rule as InfoVAEGANTrainer, so every model shows the same rich bar)."""

    class Trainer(trainer_cls):  # type: ignore[misc, valid-type]
        def _setup_callbacks(self) -> None:
            callbacks = list(self.callbacks or [TrainingCallback()])
            self.callback_handler = CallbackHandler(callbacks=callbacks, model=self.model)
            if not any(getattr(c, "is_progress_bar", False) for c in callbacks):
                self.callback_handler.add_callback(ProgressBarCallback())
            self.callback_handler.add_callback(MetricConsolePrinterCallback())

    Trainer.__name__ = trainer_cls.__name__
    return Trainer


def make_trainer(
    model: nn.Module,
    training_config: BaseTrainerConfig,
    train_dataset,
    eval_dataset,
    callbacks: list[TrainingCallback] | None = None,
):
    """The trainer ``TrainingPipeline`` would pick for ``training_config``."""
    trainer_cls = _TRAINERS[type(training_config)]
    return _with_own_progress(trainer_cls)(
        model=model,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        training_config=training_config,
        callbacks=callbacks,
    )


class _Below(logging.Filter):
    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


@contextmanager
def quiet_pythae(level: int = logging.WARNING) -> Iterator[None]:
    """Keep a benchmark's console readable: pythae logs every set-up step and epoch at INFO.

    A filter, not just a level: pythae's console-printer callback resets its logger to INFO
    (and adds one more handler) each time a trainer is built; both are undone on exit.
    """
    loggers = [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name == "pythae" or name.startswith("pythae.")
    ]
    saved = [(lg.level, list(lg.handlers)) for lg in loggers]
    quiet = _Below(level)
    for lg in loggers:
        lg.addFilter(quiet)
    try:
        yield
    finally:
        for lg, (old_level, handlers) in zip(loggers, saved):
            lg.removeFilter(quiet)
            lg.setLevel(old_level)
            lg.handlers[:] = handlers


def count_parameters(module: nn.Module, where: Callable[[str], bool] = lambda n: True) -> int:
    return int(sum(p.numel() for n, p in module.named_parameters() if where(n)))


def describe_model(model: nn.Module) -> dict[str, Any]:
    """Class, latent size and parameter counts (the capacity-match claim, checkable)."""
    info: dict[str, Any] = {
        "class": type(model).__name__,
        "total_parameters": count_parameters(model),
    }
    for part in ("encoder", "decoder", "generator", "discriminator"):
        if hasattr(model, part):
            info[f"{part}_parameters"] = count_parameters(getattr(model, part))
    if isinstance(model, InfoVAEGAN):
        cfg = model.model_config
        info.update(
            code_dim=cfg.code_dim,
            noise_dim=cfg.noise_dim,
            latent_dim=cfg.generator_input_dim,
            infer_noise=cfg.infer_noise,
            variant=cfg.variant,
        )
    else:
        info["latent_dim"] = int(model.model_config.latent_dim)
    return info
