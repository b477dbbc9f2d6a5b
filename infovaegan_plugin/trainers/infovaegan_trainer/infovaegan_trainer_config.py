"""Training configuration of InfoVAEGAN: three optimizers and the stage schedule.

pythae's own fields keep their meaning: ``optimizer_cls`` / ``optimizer_params`` and
``scheduler_cls`` / ``scheduler_params`` apply to each of the three optimizers, ``amp``,
``no_cuda``, ``steps_saving`` (checkpoint every N epochs), ``steps_predict`` and the
distributed fields. ``learning_rate`` is unused: each optimizer has its own. A
``ReduceLROnPlateau`` scheduler watches ``eval_recon_mse`` (the per-image MSE of reconstructing
held-out images), or without an eval set ``train_recon_mse``, the same quantity on the training
set (see ``InfoVAEGANTrainer.scheduler_metric``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass
from pythae.trainers import BaseTrainerConfig


#: Largest batch (training or evaluation): far above GAN practice (64 here, 2048 for BigGAN) and
#: what one device can push through the networks, so that a corrupt ``training_config.json``
#: (``--resume``) is refused rather than asking for one batch of the whole data set.
MAX_BATCH_SIZE = 65_536


def batch_size_error(name: str, value: object) -> str | None:
    """Why ``value`` is not a batch size in ``[1, MAX_BATCH_SIZE]`` (naming ``name``), or
    ``None``."""
    if isinstance(value, bool) or not isinstance(value, int) or not (
        1 <= value <= MAX_BATCH_SIZE
    ):
        return f"{name} must be a whole number in [1, {MAX_BATCH_SIZE:,}], got {value!r}."
    return None


# extra="forbid": a misspelt field is an error naming it, not a setting silently dropped
# (pythae's configs ignore unknown keyword arguments)
@dataclass(config=ConfigDict(extra="forbid"))
class InfoVAEGANTrainerConfig(BaseTrainerConfig):
    """InfoVAEGAN trainer configuration.

    Parameters:
        discriminator_learning_rate, discriminator_betas: the discriminator's optimizer.
        generator_learning_rate, generator_betas: the generator's adversarial loss.
        mutual_information_learning_rate, mutual_information_betas: the MI loss, which trains
            the generator and the encoder (InfoGAN's Q network role).
        mi_optimizer: ``"separate"`` (authors' code: the adversarial and the MI loss each have
            their own Adam, so neither gradient crowds out the other) or ``"shared"`` (one Adam
            on generator + encoder for their sum, our 0.1 behaviour).
        encoder_learning_rate, encoder_betas: the data-free ELBO stage optimizer (encoder only).
        contrastive_learning_rate, contrastive_betas: the contrastive classifier's optimizer
            (a model with ``contrastive_weight > 0``); InfoGAN-CR's 2e-3 and beta1 0.5.
        discriminator_steps: discriminator updates per generator update (same batch).
        generator_steps: generator updates per step (default 1). Each extra one renders the
            same prior codes again with the updated generator and steps the generation losses
            only (adversarial and mutual information; the ELBO stage runs once per step), as
            InfoGAN-CR's dSprites recipe runs the generator's update twice on the same codes.
        warmup_epochs: GAN-only epochs before the inference stage starts (0: both stages from
            the first step, as in the authors' code).
        resume_from_checkpoint: a ``checkpoint_epoch_N`` folder to continue from.
        keep_checkpoints: keep only the newest N ``checkpoint_epoch_*`` folders of the run
            (``None`` or 0: keep all).
        eval_accuracy: report the unsupervised accuracy of the first categorical code on
            labelled eval data each epoch.
        cpu_fast_path: on the CPU, train with channels-last conv weights and ATen's kernel
            for the one-channel layers (``models/infovaegan/fast_cpu.py``): the same math up
            to float rounding, a dSprites step 1.3x faster on one thread (docs/RESULTS.md).
            ``False`` keeps the float results of earlier versions bit for bit.
    """

    per_device_train_batch_size: int = 64
    per_device_eval_batch_size: int = 256
    num_epochs: int = 20
    learning_rate: float = 2e-4
    discriminator_learning_rate: float = 2e-4
    discriminator_betas: tuple[float, float] = (0.5, 0.999)
    generator_learning_rate: float = 1e-3
    generator_betas: tuple[float, float] = (0.5, 0.999)
    mutual_information_learning_rate: float = 1e-3
    mutual_information_betas: tuple[float, float] = (0.5, 0.999)
    mi_optimizer: Literal["separate", "shared"] = "shared"
    encoder_learning_rate: float = 2e-4
    encoder_betas: tuple[float, float] = (0.5, 0.999)
    contrastive_learning_rate: float = 2e-3
    contrastive_betas: tuple[float, float] = (0.5, 0.999)
    discriminator_steps: int = 1
    generator_steps: int = 1
    warmup_epochs: int = 0
    resume_from_checkpoint: str | None = None
    keep_checkpoints: int | None = None
    eval_accuracy: bool = True
    cpu_fast_path: bool = True

    def __post_init__(self):
        # pythae switches ``amp`` off whenever ``no_cuda`` is set; this trainer runs bf16
        # autocast on CPU, so a CPU run that asks for it keeps it (it was silently dropped).
        requested_amp = self.amp
        super().__post_init__()
        self.amp = requested_amp
        for name in ("discriminator", "generator", "mutual_information", "encoder",
                     "contrastive"):
            lr = getattr(self, f"{name}_learning_rate")
            if lr <= 0:
                raise ValueError(f"{name}_learning_rate must be > 0, got {lr}.")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            error = batch_size_error(name, getattr(self, name))
            if error is not None:
                raise ValueError(error)
        for name in ("discriminator_steps", "generator_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 0:
            raise ValueError(f"keep_checkpoints must be >= 0, got {self.keep_checkpoints}.")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}.")
