"""InfoVAEGAN trainer: pythae's ``BaseTrainer`` with three optimizers and two stages per step.

Reused from pythae: data loaders, output folders, callbacks (progress bar, loggers), final
model + ``training_config.json`` layout, ``checkpoint_epoch_N`` folders, seeding.
Different from pythae, and why:

- the final model is the *last* epoch's, not the lowest eval loss: GAN losses do not rank
  models (the eval loss is still reported);
- distributed training averages gradients explicitly (all-reduce before each optimizer step)
  instead of wrapping the model in DDP: the GAN's three networks are called outside
  ``forward``, which DDP would not synchronise, and DDP's ``device_ids`` breaks CPU (gloo);
- a NaN/inf loss stops training with a message naming the loss, after saving the last good
  state as a checkpoint, so no finished epoch is lost;
- checkpoints hold the three optimizers and can be resumed from.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import time
import warnings
from collections.abc import Callable
from copy import deepcopy
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.optim as optim
import torch.optim.lr_scheduler as lr_scheduler
from pythae.customexception import ModelError
from pythae.data.datasets import BaseDataset
from pythae.models.base.base_utils import ModelOutput
from pythae.trainers import BaseTrainer
from pythae.trainers.training_callbacks import (
    CallbackHandler,
    MetricConsolePrinterCallback,
    ProgressBarCallback,
    TrainingCallback,
)

from ...atomic import WriteError, save_torch, write_text
from ...health import HealthMonitor, min_category_share, sample_spread
from ...models.infovaegan import InfoVAEGAN
from ...models.infovaegan.fast_cpu import set_fast_cpu
from ...models.infovaegan.infovaegan_model import LOSS_NAMES, per_image_mse
from ...precision import cpu_bf16_warning
from .infovaegan_trainer_config import InfoVAEGANTrainerConfig
from .resume import resume_command
from .run_control import (
    OPTIMIZERS_FILE,
    create_run_dir,
    deferred_interrupts,
    interrupted,
    list_checkpoints,
    prune_checkpoints,
    staged_dir,
)

logger = logging.getLogger(__name__)

#: Terms of the discriminator's loss reported per epoch when they exist.
DISCRIMINATOR_TERMS = ("d_mutual_information", "sat_consistency", "sat_balance")
#: The contrastive regulariser's terms, reported per epoch while it is on.
CONTRASTIVE_TERMS = {"contrastive": "contrastive_loss",
                     "contrastive_accuracy": "contrastive_accuracy"}
HISTORY_FILE = "training_history.json"


class NonFiniteLossError(ArithmeticError):
    """A loss became NaN or inf; training stopped after keeping the last good state."""


def epoch_loss(metrics: dict[str, float], prefix: str = "") -> float:
    """An epoch's loss: the sum of the epoch means of the named losses (``<prefix><name>_loss``
    for each of :data:`LOSS_NAMES` that was computed), so ``train_epoch_loss`` and
    ``eval_epoch_loss`` add up the same terms. Reported to follow a run, not to rank models
    (GAN losses do not): the scheduler watches :meth:`InfoVAEGANTrainer.scheduler_metric`."""
    return sum(metrics.get(f"{prefix}{name}_loss", 0.0) for name in LOSS_NAMES)


class InfoVAEGANTrainer(BaseTrainer):
    """Trains an :class:`InfoVAEGAN` with the GAN+MI stage and the data-free ELBO stage.

    Args:
        model: the model to train.
        train_dataset: a pythae ``BaseDataset`` (see ``infovaegan_plugin.data``).
        eval_dataset: optional; with labels, the categorical code's accuracy is reported.
        training_config: an :class:`InfoVAEGANTrainerConfig` (default one if None).
        callbacks: pythae training callbacks.
    """

    def __init__(
        self,
        model: InfoVAEGAN,
        train_dataset: BaseDataset,
        eval_dataset: BaseDataset | None = None,
        training_config: InfoVAEGANTrainerConfig | None = None,
        callbacks: list[TrainingCallback] | None = None,
    ):
        if training_config is None:
            training_config = InfoVAEGANTrainerConfig()
        if not isinstance(training_config, InfoVAEGANTrainerConfig):
            raise TypeError(
                "InfoVAEGANTrainer needs an InfoVAEGANTrainerConfig, got "
                f"{type(training_config).__name__}."
            )
        if not isinstance(model, InfoVAEGAN):
            raise TypeError(f"InfoVAEGANTrainer trains InfoVAEGAN, got {type(model).__name__}.")
        if training_config.output_dir is None:
            training_config.output_dir = "dummy_output_dir"

        self.training_config = training_config
        self.model_config = model.model_config
        self.model_name = model.model_name
        self.world_size = training_config.world_size
        self.local_rank = training_config.local_rank
        self.rank = training_config.rank
        self.dist_backend = training_config.dist_backend
        self.distributed = self.world_size > 1
        self.device = self._setup_devices() if self.distributed else self._single_device()

        self.amp_context, self.grad_scaler = self._amp()
        model = model.to(self.device)
        if torch.device(self.device).type == "cpu" and training_config.cpu_fast_path:
            set_fast_cpu(model)  # channels-last convs: the same math up to float rounding
        model.device = self.device
        self.model = model
        if self.distributed:
            self._broadcast_state()

        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.train_loader = self.get_train_dataloader(train_dataset)
        self.eval_loader = (
            self.get_eval_dataloader(eval_dataset) if eval_dataset is not None else None
        )
        self.callbacks = callbacks
        self._run_model_sanity_check(model, self.train_loader)
        self.history: list[dict[str, Any]] = []
        self._last_good: dict[str, Any] | None = None
        self.health = HealthMonitor()
        #: callables ``model -> {name: float}`` run after each epoch's eval (e.g. generator
        #: purity); their numbers join the epoch's metrics and history.
        self.epoch_probes: list[Callable[[InfoVAEGAN], dict[str, float]]] = []

    # ----- devices, precision, distribution -----------------------------------------

    def _single_device(self) -> str:
        use_cuda = torch.cuda.is_available() and not self.training_config.no_cuda
        return "cuda" if use_cuda else "cpu"

    def _setup_devices(self):
        """Join the process group; gloo on CPU (pythae only initialises it for CUDA)."""
        if self.training_config.no_cuda or not torch.cuda.is_available():
            device, backend = torch.device("cpu"), "gloo"
        else:
            torch.cuda.set_device(self.local_rank)
            device, backend = torch.device("cuda", self.local_rank), self.dist_backend
        if not dist.is_initialized():
            dist.init_process_group(
                backend=backend,
                init_method="env://",
                world_size=self.world_size,
                rank=self.rank,
            )
        return device

    def _warn_if_amp_is_emulated(self) -> None:
        """bf16 autocast on a CPU without bf16 instructions is slower, not faster. A Python
        warning only: the command line renders those (``warning: ...``), and a logger line as
        well printed the message twice there."""
        if not self.training_config.amp or torch.device(self.device).type != "cpu":
            return
        message = cpu_bf16_warning()
        if message is not None and self.is_main_process:
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def _amp(self):
        """pythae's ``amp`` switch: fp16 + grad scaling on CUDA, bf16 autocast on CPU."""
        if not self.training_config.amp:
            return contextlib.nullcontext(), None
        device_type = torch.device(self.device).type
        if device_type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")
        return torch.autocast("cpu", dtype=torch.bfloat16), None

    def _broadcast_state(self) -> None:
        """Start every rank from rank 0's weights, as DDP would."""
        for tensor in list(self.model.parameters()) + list(self.model.buffers()):
            dist.broadcast(tensor.data, src=0)

    def _average_gradients(self, params: list[torch.nn.Parameter]) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def _set_inputs_to_device(self, inputs: dict[str, Any]):
        if torch.device(self.device).type == "cpu":
            return inputs
        for key in list(inputs.keys()):
            if torch.is_tensor(inputs[key]):
                inputs[key] = inputs[key].to(self.device, non_blocking=True)
        return inputs

    def _run_model_sanity_check(self, model, loader):
        """One forward pass in eval mode, so the check leaves no trace in BN statistics."""
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                model(self._set_inputs_to_device(next(iter(loader))))
        except Exception as exc:
            raise ModelError(
                "InfoVAEGAN could not run a forward pass on the first training batch: "
                f"{exc}. Check that the images are float (N, C, H, W) in [0, 1] and that "
                f"input_dim={self.model_config.input_dim} matches them."
            ) from exc
        finally:
            model.train(was_training)

    # ----- optimizers and schedulers -------------------------------------------------

    def _make_optimizer(self, params, name: str) -> optim.Optimizer:
        cfg = self.training_config
        optimizer_cls = getattr(optim, cfg.optimizer_cls)
        kwargs = dict(cfg.optimizer_params or {})
        kwargs["lr"] = getattr(cfg, f"{name}_learning_rate")
        if "betas" in inspect.signature(optimizer_cls).parameters:
            kwargs.setdefault("betas", tuple(getattr(cfg, f"{name}_betas")))
        return optimizer_cls(params, **kwargs)

    def optimizer_parameters(self) -> dict[str, list[torch.nn.Parameter]]:
        """Which networks each optimizer owns (one optimizer per loss, as the authors do).

        ``generator``: the adversarial loss, generator only (ALI: + encoder);
        ``mutual_information``: the MI loss, generator + encoder (with ``mi_optimizer=
        "shared"`` this is folded into ``generator``, our 0.1 behaviour);
        ``encoder``: the data-free ELBO, encoder only (its heads with a shared trunk);
        ``discriminator``: the discriminator, and with a shared trunk the encoder's heads too
        (InfoGAN's Q, whose MI term is then part of D's loss: the generator's MI gradient
        trains the generator only); ``contrastive``: InfoGAN-CR's classifier (with
        ``contrastive_weight > 0``).
        """
        m, cfg = self.model, self.model_config
        generator, encoder = list(m.generator.parameters()), list(m.encoder.parameters())
        trunk = {id(p) for p in m.discriminator.trunk.parameters()}
        # with a shared trunk the ELBO trains the encoder's own heads, never the trunk
        encoder_own = [p for p in encoder if id(p) not in trunk]
        uses_mi = cfg.has_mutual_information_loss
        # InfoGAN's Q on D's trunk learns the MI term with D's optimizer (model.losses puts
        # the term in D's loss); the generator's MI gradient then trains the generator only
        q_on_discriminator = m.mi_in_discriminator_loss
        mi_trained = generator + ([] if q_on_discriminator else encoder)
        plan: dict[str, list[torch.nn.Parameter]] = {
            "discriminator": list(m.discriminator.parameters())
            + (encoder_own if q_on_discriminator else []),
            "generator": generator + (encoder if cfg.encoder_adversarial else []),
        }
        if uses_mi and self.training_config.mi_optimizer == "separate":
            plan["mutual_information"] = mi_trained
        elif uses_mi and not cfg.encoder_adversarial:
            plan["generator"] = mi_trained
        if cfg.use_inference_stage:
            plan["encoder"] = encoder_own
        if m.contrastive is not None:
            plan["contrastive"] = list(m.contrastive.parameters())
        return plan

    def optimizer_losses(self) -> dict[str, tuple[str, ...]]:
        """The named losses of :meth:`InfoVAEGAN.losses` each optimizer minimises (their sum).

        ``discriminator``: ``discriminator``; ``generator``: ``adversarial`` (+
        ``mutual_information`` when the MI loss has no optimizer of its own);
        ``mutual_information``: ``mutual_information``; ``encoder``: ``elbo``;
        ``contrastive``: ``contrastive``, whose weighted copy ``contrastive_generator`` the
        generator's optimizer adds.
        """
        plan = self.optimizer_parameters()
        cfg = self.model_config
        losses: dict[str, tuple[str, ...]] = {
            "discriminator": ("discriminator",),
            "generator": ("adversarial",),
        }
        if "mutual_information" in plan:
            losses["mutual_information"] = ("mutual_information",)
        elif cfg.has_mutual_information_loss:
            losses["generator"] = ("adversarial", "mutual_information")
        if "encoder" in plan:
            losses["encoder"] = ("elbo",)
        if "contrastive" in plan:
            # InfoGAN-CR: the classifier and the generator minimise the same cross-entropy
            losses["contrastive"] = ("contrastive",)
            losses["generator"] = (*losses["generator"], "contrastive_generator")
        return losses

    def optimizer_loss(self, name: str, losses) -> torch.Tensor:
        """The loss optimizer ``name`` steps on, taken by name from :meth:`InfoVAEGAN.losses`."""
        first, *rest = self._losses[name]
        return sum((losses[other] for other in rest), losses[first])

    def set_optimizer(self):
        plan = self.optimizer_parameters()
        #: the named losses each optimizer minimises
        self._losses: dict[str, tuple[str, ...]] = self.optimizer_losses()
        self.optimizers: dict[str, optim.Optimizer] = {
            name: self._make_optimizer(params, name) for name, params in plan.items()
        }
        #: each optimizer's parameters, in the order its gradients are computed and applied
        self._owned: dict[str, list[torch.nn.Parameter]] = plan
        # positions, per optimizer, of the parameters each gradient-norm instrument reads
        # (computed once here instead of on every step)
        watched = {
            "encoder_trunk": {id(p) for p in self.model.encoder.trunk.parameters()},
            "generator": {id(p) for p in self.model.generator.parameters()},
        }
        self._watched_positions = {
            name: {t: [i for i, p in enumerate(params) if id(p) in ids] for t, ids in watched.items()}
            for name, params in plan.items()
        }
        self.optimizer = self.optimizers["generator"]  # pythae callers expect one attribute

    def set_scheduler(self):
        cfg = self.training_config
        self.schedulers: dict[str, Any] = {}
        if cfg.scheduler_cls is not None:
            scheduler_cls = getattr(lr_scheduler, cfg.scheduler_cls)
            for name, optimizer in self.optimizers.items():
                self.schedulers[name] = scheduler_cls(optimizer, **(cfg.scheduler_params or {}))
        self.scheduler = self.schedulers.get("generator")

    def scheduler_metric(self, metrics: dict[str, float]) -> float | None:
        """What ``ReduceLROnPlateau`` watches: the per-image MSE of reconstructing real images
        from their posterior mode, ``eval_recon_mse`` on the eval set, or without one
        ``train_recon_mse``, the same quantity on the training set (measured only then).
        GAN losses do not fall as a model improves, so they are not used."""
        return metrics.get("eval_recon_mse", metrics.get("train_recon_mse"))

    def _needs_train_recon_mse(self) -> bool:
        return self.eval_loader is None and any(
            isinstance(s, lr_scheduler.ReduceLROnPlateau) for s in self.schedulers.values()
        )

    def train_recon_mse(self) -> float:
        """``eval_recon_mse``'s quantity on the training set (eval mode, no gradients). The
        random generator is left as it was (a data loader draws a seed), so measuring it does
        not change the training that follows."""
        self.model.eval()
        total, seen = 0.0, 0
        with self._random_state_kept(), torch.no_grad(), self.amp_context:
            for inputs in self.get_eval_dataloader(self.train_dataset):
                real = self._set_inputs_to_device(inputs)["data"]
                mse = per_image_mse(self.model.reconstruct(real), self.model.check_images(real))
                total += float(mse) * real.shape[0]
                seen += real.shape[0]
        return self._reduce_eval({"train_recon_mse": total}, seen)["train_recon_mse"]

    def _schedulers_step(self, metrics=None):
        for scheduler in self.schedulers.values():
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                scheduler.step(metrics)
            else:
                scheduler.step()

    def _set_output_dir(self):
        """A run folder of its own, created exclusively (see ``run_control``)."""
        self.training_dir = create_run_dir(
            self.training_config.output_dir, self.model_name, create=self.is_main_process
        )

    def _setup_callbacks(self):
        """pythae's defaults, except that a given progress-bar callback replaces tqdm's."""
        callbacks = list(self.callbacks or [TrainingCallback()])
        self.callback_handler = CallbackHandler(callbacks=callbacks, model=self.model)
        if not any(getattr(c, "is_progress_bar", False) for c in callbacks):
            self.callback_handler.add_callback(ProgressBarCallback())
        self.callback_handler.add_callback(MetricConsolePrinterCallback())

    @staticmethod
    def _check_finite(name: str, loss: torch.Tensor, terms: dict[str, Any], epoch: int, step: int):
        if bool(torch.isfinite(loss)):
            return
        bad = {
            k: float(v.detach())
            for k, v in terms.items()
            if torch.is_tensor(v) and v.dim() == 0 and not bool(torch.isfinite(v))
        }
        raise NonFiniteLossError(
            f"non-finite {name} loss at epoch {epoch}, step {step}: {bad}. Lower the "
            "learning rates or check the data for NaN/inf."
        )

    def _apply(self, name: str, grads: list[torch.Tensor | None] | None = None) -> None:
        """Step optimizer ``name`` with ``grads`` (aligned with its parameters), or with the
        gradients already in ``.grad``."""
        optimizer = self.optimizers[name]
        params = self._owned[name]
        if grads is not None:
            for p, g in zip(params, grads):
                p.grad = g
        if self.distributed:
            self._average_gradients(params)
        if self.grad_scaler is not None:
            self.grad_scaler.step(optimizer)
        else:
            optimizer.step()

    def _step(self, name: str, losses, epoch: int, step: int) -> None:
        """Backward + step of one optimizer; a NaN/inf loss stops before touching weights."""
        loss = self.optimizer_loss(name, losses)
        self._check_finite(name, loss, losses, epoch, step)
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        (self.grad_scaler.scale(loss) if self.grad_scaler is not None else loss).backward()
        self._apply(name)
        if self.grad_scaler is not None:
            self.grad_scaler.update()

    # ----- one training step: GAN + MI stage, then the data-free inference stage ------

    def inference_stage_active(self, epoch: int) -> bool:
        return self.model_config.use_inference_stage and epoch > self.training_config.warmup_epochs

    def _step_generation(self, out: ModelOutput, epoch: int, step: int
                         ) -> dict[str, tuple[torch.Tensor | None, ...]]:
        """Step every optimizer whose losses ``out`` holds (the discriminator's aside; the
        encoder's ELBO once computed, i.e. after warm-up): all gradients are taken before any
        optimizer steps. Returns the gradients, for the logged norms."""
        names = [
            name
            for name, losses in self._losses.items()
            if name != "discriminator" and all(loss in out for loss in losses)
        ]
        grads = {}
        for name in names:
            loss = self.optimizer_loss(name, out)
            self._check_finite(name, loss, out, epoch, step)
            if self.grad_scaler is not None:
                loss = self.grad_scaler.scale(loss)
            params = self._owned[name]
            grads[name] = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        for name in names:
            self._apply(name, grads[name])
        if self.grad_scaler is not None:
            self.grad_scaler.update()
        return grads

    def training_step(
        self, real: torch.Tensor, epoch: int, step: int = 1
    ) -> dict[str, torch.Tensor]:
        """One step; forward passes (d_steps=1): G 2, D 3, E 1 (2 with a joint D, which also
        encodes the real batch).

        The discriminator steps first, on :meth:`InfoVAEGAN.losses`' discriminator stage;
        then the generation (and inference) losses are computed from shared forward passes
        and every optimizer's gradients are taken before any of them steps (the authors run
        g_optim, q_optim and vae_optim in one session call), so each loss gets its own Adam
        normalisation and none crowds out another.
        """
        m, cfg = self.model, self.model_config
        with self.amp_context:
            batch = m.loss_batch(real)
        for _ in range(self.training_config.discriminator_steps):
            with self.amp_context:
                d_out = m.losses(batch, ("discriminator",))
            self._step("discriminator", d_out, epoch, step)
        inference = self.inference_stage_active(epoch)
        with self.amp_context:
            out = m.losses(batch, ("generation", "inference") if inference else ("generation",))
        grads = self._step_generation(out, epoch, step)
        for _ in range(self.training_config.generator_steps - 1):
            # the same codes rendered by the updated generator; the ELBO stage ran once
            with self.amp_context:
                again = replace(batch, fake=m.generator(batch.prior.generator_input()))
                self._step_generation(m.losses(again, ("generation",)), epoch, step)
        saturated = self.health.d_win_accuracy
        named = {**d_out, **out}
        metrics = {f"{name}_loss": named[name].detach() for name in LOSS_NAMES if name in named}
        metrics.update(
            d_real_accuracy=d_out.d_real_accuracy,
            d_fake_accuracy=d_out.d_fake_accuracy,
            d_saturated_fraction=(
                (d_out.d_real_accuracy >= saturated) & (d_out.d_fake_accuracy >= saturated)
            ).float(),
            mi_categorical=out.mi_categorical.detach(),
            mi_continuous=out.mi_continuous.detach(),
        )
        # the discriminator stage's extra terms when Q trains there (InfoGAN's official MI,
        # self-augmented training of the categories on real images)
        metrics.update({k: d_out[k] for k in DISCRIMINATOR_TERMS if k in d_out})
        metrics.update({name: out[k].detach() for k, name in CONTRASTIVE_TERMS.items()
                        if k in out})
        if cfg.regresses_noise:
            metrics["noise_regression"] = out.noise_regression.detach()
        metrics.update(self._gradient_norms(grads))
        if inference:
            metrics.update(
                elbo_reconstruction=out.reconstruction.detach(),
                kl_continuous=out.kl_continuous.detach(),
                kl_categorical=out.kl_categorical.detach(),
                kl_noise=out.kl_noise.detach(),
            )
        return metrics

    def _gradient_norms(self, grads: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Per-loss gradient norm on the encoder trunk and on the generator: the instrument
        that tells which loss drives a shared network."""
        out: dict[str, torch.Tensor] = {}
        for name, loss_grads in grads.items():
            for target, positions in self._watched_positions[name].items():
                picked = [loss_grads[i].detach().float() for i in positions if loss_grads[i] is not None]
                if picked:
                    norms = torch._foreach_norm(picked)
                    out[f"gradnorm_{name}_{target}"] = torch.linalg.vector_norm(torch.stack(norms))
        return out

    def train_step(self, epoch: int) -> dict[str, float]:
        self.callback_handler.on_train_step_begin(
            training_config=self.training_config,
            train_loader=self.train_loader,
            epoch=epoch,
            rank=self.rank,
        )
        self.model.train()
        self.model.training_epoch = epoch
        if self.distributed and hasattr(self.train_loader.sampler, "set_epoch"):
            self.train_loader.sampler.set_epoch(epoch)
        sums: dict[str, torch.Tensor] = {}
        for step, inputs in enumerate(self.train_loader):
            real = self._set_inputs_to_device(inputs)["data"]
            metrics = self.training_step(real, epoch, step + 1)
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value.float()
            self.callback_handler.on_train_step_end(training_config=self.training_config)
        self.model.update()
        n = max(len(self.train_loader), 1)
        means = {key: float(value) / n for key, value in sums.items()}
        means["train_epoch_loss"] = epoch_loss(means)
        return means

    def eval_step(self, epoch: int) -> dict[str, float]:
        """Eval losses, real-image reconstruction MSE and (with labels) clustering accuracy."""
        self.callback_handler.on_eval_step_begin(
            training_config=self.training_config,
            eval_loader=self.eval_loader,
            epoch=epoch,
            rank=self.rank,
        )
        self.model.eval()
        cfg = self.model_config
        inference = self.inference_stage_active(epoch)
        # the losses the training steps of this epoch computed (no ELBO during warm-up)
        names = [n for n in LOSS_NAMES if n != "elbo" or inference]
        sums = {f"eval_{name}_loss": 0.0 for name in names}
        sums["eval_recon_mse"] = 0.0
        seen = 0
        predictions, labels = [], []
        with torch.no_grad(), self.amp_context:
            for inputs in self.eval_loader:
                inputs = self._set_inputs_to_device(inputs)
                out = self.model(inputs, inference=inference)
                n = inputs["data"].shape[0]
                for name in names:
                    sums[f"eval_{name}_loss"] += float(out[f"{name}_loss"]) * n
                sums["eval_recon_mse"] += float(out.recon_loss) * n
                seen += n
                if cfg.categorical_dims:
                    probs = out.z[:, cfg.layout.categorical_slices[0]]  # features open with them
                    predictions.append(probs.argmax(1).cpu().numpy())
                    if "labels" in inputs.keys():
                        labels.append(inputs["labels"].cpu().numpy())
                self.callback_handler.on_eval_step_end(training_config=self.training_config)
        metrics = self._reduce_eval(sums, seen)
        metrics["eval_epoch_loss"] = epoch_loss(metrics, "eval_")
        if predictions:
            share = min_category_share(np.concatenate(predictions), cfg.layout.categorical_sizes[0])
            if share is not None:
                metrics["min_category_share"] = share
        spread = self._sample_spread()
        if spread is not None:
            metrics["sample_spread_ratio"] = spread
        if self.training_config.eval_accuracy and predictions and labels and self._has_labels():
            y_pred, y_true = self._gather(np.concatenate(predictions), np.concatenate(labels))
            from ...metrics.clustering import unsupervised_accuracy

            metrics["eval_accuracy"] = float(unsupervised_accuracy(y_true.astype(np.int64), y_pred))
        return metrics

    def _random_state_kept(self) -> contextlib.AbstractContextManager:
        """Torch's random state (CPU, and the run's CUDA device) restored on exit: what
        measures the run must not shift the draws of the training that follows."""
        device = torch.device(self.device)
        cuda = [] if device.type != "cuda" else [
            device.index if device.index is not None else torch.cuda.current_device()
        ]
        return torch.random.fork_rng(devices=cuda)

    def _probes(self) -> list[Callable[[InfoVAEGAN], dict[str, float]]]:
        """``epoch_probes`` plus the ``epoch_metrics`` of callbacks that have one (the way
        to add a probe through pythae's ``TrainingPipeline(...)(callbacks=[...])``)."""
        from_callbacks = [
            cb.epoch_metrics
            for cb in self.callback_handler.callbacks
            if callable(getattr(cb, "epoch_metrics", None))
        ]
        return [*self.epoch_probes, *from_callbacks]

    def _sample_spread(self, n: int = 256) -> float | None:
        """Per-pixel spread of prior samples relative to held-out images (collapse check)."""
        data = getattr(self.eval_dataset, "data", None)
        if data is None or len(data) < 2:
            return None
        real = torch.as_tensor(data[:n]).float().cpu().numpy()
        with torch.no_grad():
            fake = self.model.generate(min(n, len(real) * 4)).float().cpu().numpy()
        return sample_spread(fake, real)

    def _has_labels(self) -> bool:
        flag = getattr(self.eval_dataset, "has_labels", None)
        if flag is not None:
            return bool(flag)
        labels = getattr(self.eval_dataset, "labels", None)
        return labels is not None and torch.as_tensor(labels).unique().numel() > 1

    def _reduce_eval(self, sums: dict[str, float], seen: int) -> dict[str, float]:
        if self.distributed:
            packed = torch.tensor(list(sums.values()) + [seen], dtype=torch.float64)
            dist.all_reduce(packed)
            sums = dict(zip(sums.keys(), packed[:-1].tolist()))
            seen = int(packed[-1])
        return {key: value / max(seen, 1) for key, value in sums.items()}

    def _gather(self, y_pred: np.ndarray, y_true: np.ndarray):
        if not self.distributed:
            return y_pred, y_true
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, (y_pred, y_true))
        return np.concatenate([p for p, _ in parts]), np.concatenate([t for _, t in parts])

    # ----- training loop -------------------------------------------------------------

    def train(self, log_output_dir: str | None = None):
        """Train for ``num_epochs`` (continuing a checkpoint when configured)."""
        self.prepare_training()
        self._warn_if_amp_is_emulated()
        start_epoch = 1
        if self.training_config.resume_from_checkpoint:
            start_epoch = self.load_checkpoint(self.training_config.resume_from_checkpoint) + 1
        self.callback_handler.on_train_begin(
            training_config=self.training_config, model_config=self.model_config
        )
        file_logger = None
        if log_output_dir is not None and self.is_main_process:
            file_logger = self._get_file_logger(log_output_dir=log_output_dir)
        self._remember_good_state(start_epoch - 1)
        try:
            self._train_epochs(start_epoch, file_logger)
        except KeyboardInterrupt as exc:  # Ctrl-C / SIGTERM: keep the last finished epoch
            raise interrupted(self, exc, start_epoch) from None
        self.callback_handler.on_train_end(self.training_config)

    def _train_epochs(self, start_epoch: int, file_logger) -> None:
        for epoch in range(start_epoch, self.training_config.num_epochs + 1):
            self.callback_handler.on_epoch_begin(
                training_config=self.training_config,
                epoch=epoch,
                train_loader=self.train_loader,
                eval_loader=self.eval_loader,
            )
            started = time.perf_counter()
            try:
                metrics = self.train_step(epoch)
            except NonFiniteLossError as exc:
                self.callback_handler.on_epoch_end(training_config=self.training_config)
                path = self._save_last_good()
                raise NonFiniteLossError(f"{exc} Last good state kept in {path}.") from exc
            metrics["train_time_s"] = time.perf_counter() - started
            if self.eval_loader is not None:
                metrics.update(self.eval_step(epoch))
            elif self._needs_train_recon_mse():
                metrics["train_recon_mse"] = self.train_recon_mse()
            for probe in self._probes():
                # an instrument must not steer the run: a probe that draws random numbers
                # (purity samples the prior) would shift every later epoch's draws, so
                # runs with and without it would part after their first epoch
                with self._random_state_kept():
                    metrics.update(probe(self.model))
            self._schedulers_step(self.scheduler_metric(metrics))
            warnings = self.health.check(metrics)
            for warning in warnings:
                logger.warning("epoch %d: %s", epoch, warning)
            metrics["health_warnings"] = warnings
            if (
                self.training_config.steps_predict is not None
                and epoch % self.training_config.steps_predict == 0
                and self.is_main_process
                and self.eval_loader is not None
            ):
                true_data, reconstructions, generations = self.predict(self.model)
                self.callback_handler.on_prediction_step(
                    self.training_config,
                    true_data=true_data,
                    reconstructions=reconstructions,
                    generations=generations,
                    global_step=epoch,
                )
            self.callback_handler.on_epoch_end(training_config=self.training_config)
            self.history.append({"epoch": epoch, **metrics})
            self._remember_good_state(epoch)
            steps = self.training_config.steps_saving
            if steps is not None and epoch % steps == 0 and self.is_main_process:
                with self._saying_what_was_kept():
                    self.save_checkpoint(self.model, self.training_dir, epoch)
                prune_checkpoints(self.training_dir, self.training_config.keep_checkpoints)
                logger.info("Saved checkpoint at epoch %d", epoch)
            if file_logger is not None:
                file_logger.info(json.dumps({"epoch": epoch, **metrics}))
            self.callback_handler.on_log(
                self.training_config, metrics, global_step=epoch, rank=self.rank
            )
        final_dir = os.path.join(self.training_dir, "final_model")
        if self.is_main_process:
            with (self._saying_what_was_kept(), deferred_interrupts(),
                  staged_dir(final_dir, copy_settings=False) as staging):
                self.save_model(self.model, dir_path=staging)
                write_text(os.path.join(staging, HISTORY_FILE),
                           json.dumps(self.history, indent=2))
            logger.info("Saved final model in %s", final_dir)
        if self.distributed:
            dist.destroy_process_group()

    def predict(self, model: InfoVAEGAN):
        """Real images, their reconstructions and prior samples for prediction callbacks."""
        model.eval()
        with torch.no_grad():
            inputs = self._set_inputs_to_device(next(iter(self.eval_loader)))
            real = inputs["data"][:10]
            return real.cpu(), model.reconstruct(real).cpu(), model.generate(real.shape[0]).cpu()

    # ----- checkpoints ----------------------------------------------------------------

    def save_model(self, model: InfoVAEGAN, dir_path: str) -> None:
        """pythae's final-model layout; the model is never DDP-wrapped here."""
        model.save(dir_path)
        self.training_config.save_json(dir_path, "training_config")
        self.callback_handler.on_save(self.training_config)

    def _optimizer_payload(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "torch_rng_state": torch.get_rng_state(),
        }

    def save_checkpoint(self, model: InfoVAEGAN, dir_path: str, epoch: int) -> str:
        """``checkpoint_epoch_N``: model files + the three optimizers (+ schedulers)."""
        checkpoint_dir = os.path.join(dir_path, f"checkpoint_epoch_{epoch}")
        with deferred_interrupts(), staged_dir(checkpoint_dir) as staging:
            model.save(staging)
            save_torch(self._optimizer_payload(epoch), os.path.join(staging, OPTIMIZERS_FILE))
            self.training_config.save_json(staging, "training_config")
        return checkpoint_dir

    @contextlib.contextmanager
    def _saying_what_was_kept(self):
        """A failed checkpoint or final-model write says which checkpoint is left to resume
        from (the staged write left every earlier one intact)."""
        try:
            yield
        except WriteError as exc:
            kept = list_checkpoints(self.training_dir)
            note = (f"the newest intact checkpoint is {kept[-1][1]}; resume with: "
                    f"{resume_command(kept[-1][1])}" if kept
                    else "no checkpoint of this run was written before")
            raise WriteError(exc.filename, exc.strerror, exc.errno, kept=note) from exc

    def load_checkpoint(self, checkpoint_dir: str) -> int:
        """Restore weights, optimizers and schedulers; return the checkpoint's epoch."""
        path = os.path.join(checkpoint_dir, OPTIMIZERS_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{checkpoint_dir!r} is not a checkpoint folder: missing {OPTIMIZERS_FILE}."
            )
        restored = InfoVAEGAN.load_from_folder(checkpoint_dir)
        if restored.model_config != self.model_config:
            raise ValueError(
                f"checkpoint {checkpoint_dir!r} was trained with another model config."
            )
        self.model.load_state_dict(restored.state_dict())
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if set(payload["optimizers"]) != set(self.optimizers):
            raise ValueError(
                f"checkpoint {checkpoint_dir!r} holds optimizers {sorted(payload['optimizers'])}"
                f" but this training uses {sorted(self.optimizers)} (another mi_optimizer or "
                "variant); resume with the settings it was trained with."
            )
        for name, state in payload["optimizers"].items():
            self.optimizers[name].load_state_dict(state)
            self._set_optimizer_on_device(self.optimizers[name], self.device)
        for name, state in payload.get("schedulers", {}).items():
            if name in self.schedulers:
                self.schedulers[name].load_state_dict(state)
        torch.set_rng_state(payload["torch_rng_state"])
        return int(payload["epoch"])

    def _set_optimizer_on_device(self, optimizer, device):
        for state in optimizer.state.values():
            for key, value in state.items():
                if torch.is_tensor(value) and key != "step":
                    state[key] = value.to(device)
        return optimizer

    def _remember_good_state(self, epoch: int) -> None:
        """Keep the state after the last finished epoch (CPU copy) for NaN recovery."""
        self._last_good = {
            "epoch": epoch,
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "payload": deepcopy(self._optimizer_payload(epoch)),
        }

    def _save_last_good(self) -> str | None:
        if self._last_good is None or not self.is_main_process:
            return None
        good = self._last_good
        checkpoint_dir = os.path.join(self.training_dir, f"checkpoint_epoch_{good['epoch']}")
        if os.path.isfile(os.path.join(checkpoint_dir, OPTIMIZERS_FILE)):
            return checkpoint_dir
        snapshot = InfoVAEGAN(self.model_config)
        snapshot.load_state_dict(good["model"])
        with deferred_interrupts(), staged_dir(checkpoint_dir) as staging:
            snapshot.save(staging)
            save_torch(good["payload"], os.path.join(staging, OPTIMIZERS_FILE))
            self.training_config.save_json(staging, "training_config")
        return checkpoint_dir

