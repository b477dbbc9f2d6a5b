"""The runs benchmarks/dsprites_gpu.py compares, and the metrics' pictures rendered once.

- :class:`ReferenceRunner`: the reference script's ``main`` on a device (its classes and
  functions imported by path, its seeding, optimizers and loop body repeated);
- :class:`InfoVAEGANRunner`: the trainer ``infovaegan train --dataset dsprites`` builds,
  stepped as its ``train_step`` steps (InfoVAEGAN, or its InfoGAN ablation with
  :func:`variant_run`);
- :class:`BaselineRunner`: a pythae VAE baseline of ``infovaegan benchmark`` (beta-VAE,
  FactorVAE) with the matched networks, stepped as pythae's trainer steps it;
- :class:`CachedGroundTruth`: ``DSpritesGroundTruth`` rendering each picture once.

Each runner has ``train(n)``, ``steps``, ``train_s``, ``losses()``, an ``evaluating()`` context,
``represent``/``reconstruct``/``samples``/``traversal`` for the metrics, ``save(folder)`` for
its trained weights and ``training_state()``/``load_training_state(state)`` for everything a
stopped run needs to continue bit for bit (weights, optimizers, random streams, the place in
its data); :data:`RUNNERS` builds one by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.profiler import record_function

#: prior samples scored for sprites per evaluation (the reference script draws 1,000)
SPRITE_SAMPLES = 1000


def _cpu(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in weights.items()}


# ----- rendering the metrics' sprites once --------------------------------------------------


def render_packed(classes: np.ndarray) -> np.ndarray:
    """Sprites of ``classes`` (N, 6) bit-packed along the rows: (N, 1, 64, 8) uint8."""
    from infovaegan_plugin.data.dsprites import render

    return np.packbits(render(classes, dtype=np.uint8), axis=-1)


class CachedGroundTruth:
    """``DSpritesGroundTruth`` whose pictures are rendered once: the metrics draw the same
    factor rows for both models of a seed (their streams are seeded by the seed alone), and
    rendering is deterministic, so a repeated chunk of rows is served from memory. ``pool``
    (a ``multiprocessing`` pool) renders a chunk in parallel pieces."""

    def __init__(self, pool: Any = None, pieces: int = 1):
        from infovaegan_plugin.evaluation.dsprites_ground_truth import DSpritesGroundTruth

        self._data = DSpritesGroundTruth()
        self.factors_num_values = self._data.factors_num_values
        self.factor_names = self._data.factor_names
        self.pool, self.pieces = pool, max(1, pieces)
        self._cache: dict[bytes, np.ndarray] = {}
        self.stats = {"rendered": 0, "served": 0, "render_s": 0.0}

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._data.sample_factors(n, rng)

    def sample_observations_from_factors(self, factors: np.ndarray,
                                         rng: np.random.Generator) -> np.ndarray:
        factors = np.ascontiguousarray(factors, dtype=np.int64)
        key = hashlib.blake2b(factors.tobytes() + bytes(str(factors.shape), "ascii"),
                              digest_size=16).digest()
        packed = self._cache.get(key)
        if packed is None:
            started = time.perf_counter()
            classes = self._data.full_classes(factors)
            if self.pool is None or len(classes) < 2 * self.pieces:
                packed = render_packed(classes)
            else:
                parts = np.array_split(classes, self.pieces)
                packed = np.concatenate(self.pool.map(render_packed, parts))
            self._cache[key] = packed
            self.stats["rendered"] += len(factors)
            self.stats["render_s"] += time.perf_counter() - started
        else:
            self.stats["served"] += len(factors)
        return np.unpackbits(packed, axis=-1).astype(np.float32)

    def clear(self) -> None:
        self._cache.clear()


# ----- the reference, ported to a device ----------------------------------------------------


def load_reference(path: Path) -> Any:
    """The reference script as a module (its ``main`` is not run)."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: reference script not found: {path}")
    spec = importlib.util.spec_from_file_location("infogan_dsprites_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ReferenceRunner:
    """The reference's ``main`` on ``device``: seeding, nets, optimizers and loop body as
    there; ``evaluate``'s draws from the codes' generator (1,000 samples) as there too."""

    name = "reference"
    amp = False

    def __init__(self, ref: Any, seed: int, device: str, batch: int = 64,
                 prefetch: bool = False):
        self.ref, self.seed, self.device, self.batch = ref, seed, torch.device(device), batch
        torch.manual_seed(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.G, self.D = ref.Generator(), ref.Discriminator()
        self.G.apply(ref.init)
        self.D.apply(ref.init)
        self.G.to(self.device)
        self.D.to(self.device)
        self.oG = torch.optim.Adam(self.G.parameters(), 1e-3, betas=(0.5, 0.999))
        self.oD = torch.optim.Adam(self.D.parameters(), 2e-3, betas=(0.5, 0.999))
        self._prefetch = ThreadPoolExecutor(1) if prefetch else None
        self._next = None
        self._rng_before_next: dict[str, Any] | None = None  # the stream's state then
        self.steps, self.train_s = 0, 0.0
        self.last: dict[str, torch.Tensor] = {}

    def _real(self) -> torch.Tensor:
        """The next batch of the reference's stream (``real_batch``); with prefetching the one
        after it is rendered in a thread meanwhile (one thread draws, in order)."""
        if self._prefetch is None:
            with record_function("data"):  # a label for profilers; free otherwise
                return self.ref.real_batch(self.batch, self.rng)
        if self._next is None:
            self._next = self._prefetch.submit(self.ref.real_batch, self.batch, self.rng)
        real = self._next.result()
        self._rng_before_next = self.rng.bit_generator.state  # no draw is in flight now
        self._next = self._prefetch.submit(self.ref.real_batch, self.batch, self.rng)
        return real

    def step(self) -> None:
        """The body of the reference's training loop."""
        ref, G, D, eps = self.ref, self.G, self.D, 1e-8
        codes, weight = ref.CODES, ref.MI_WEIGHT
        real = self._real().to(self.device, non_blocking=True)
        z = ref.prior(self.batch, self.gen).to(self.device, non_blocking=True)
        fake = G(z)
        d_real, _ = D(real)
        d_fake, q_fake = D(fake.detach())
        mi = 0.5 * ((q_fake - z[:, :codes]) ** 2).sum(1).mean()
        d_loss = -(torch.log(torch.sigmoid(d_real) + eps).mean()
                   + torch.log(1 - torch.sigmoid(d_fake) + eps).mean()) + weight * mi
        self.oD.zero_grad()
        d_loss.backward()
        self.oD.step()
        for _ in range(2):  # the reference runs the generator's step twice on the same codes
            d_fake, q_fake = D(G(z))
            mi = 0.5 * ((q_fake - z[:, :codes]) ** 2).sum(1).mean()
            g_loss = -torch.log(torch.sigmoid(d_fake) + eps).mean() + weight * mi
            self.oG.zero_grad()
            g_loss.backward()
            self.oG.step()
        self.last = {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "mi": mi.detach()}

    def train(self, n: int) -> None:
        self.G.train()
        self.D.train()
        started = time.perf_counter()
        for _ in range(n):
            self.step()
        _synchronize(self.device)
        self.train_s += time.perf_counter() - started
        self.steps += n

    def losses(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.last.items()}

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        self.G.eval()
        self.D.eval()
        try:
            yield
        finally:
            self.G.train()
            self.D.train()

    @torch.no_grad()
    def represent(self, images: np.ndarray) -> np.ndarray:
        """Q's means of ``images`` (the reference's ``evaluate``)."""
        x = torch.as_tensor(np.asarray(images, np.float32)).to(self.device)
        return self.D(x)[1].float().cpu().numpy()

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """G of Q's means with the noise at its prior mean (0): InfoGAN's reconstruction,
        as the InfoGAN ablation's posterior mode (it draws nothing)."""
        q = self.D(images.to(self.device))[1]
        noise = q.new_zeros(len(q), self.ref.NOISE)
        return self.G(torch.cat([q, noise], dim=1))

    def save(self, folder: Path) -> Path:
        """G's and D's (with Q) weights and the step under the reference script's own
        checkpoint keys, so :func:`load_saved` reads both alike (``weights_only=True``)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "reference.pt"
        torch.save({"G": self.G.state_dict(), "D": self.D.state_dict(), "step": self.steps,
                    "seed": self.seed}, path)
        return path

    def training_state(self) -> dict[str, Any]:
        """Everything the run continues from, under the reference script's own ``--checkpoint``
        keys (``G``, ``D``, ``oG``, ``oD``, ``gen``, ``torch``, ``rng``, ``step``), so the
        script continues a port's run and the port a script's. With prefetching, the data
        stream's state from before the batch drawn ahead (that batch is drawn again)."""
        if self._next is not None:
            self._next.result()  # the draw in flight ends before the state is read
        rng = self._rng_before_next if self._next is not None else self.rng.bit_generator.state
        return {"G": _cpu(self.G.state_dict()), "D": _cpu(self.D.state_dict()),
                "oG": self.oG.state_dict(), "oD": self.oD.state_dict(),
                "gen": self.gen.get_state(), "torch": torch.get_rng_state(), "rng": rng,
                "step": self.steps, "seed": self.seed, "train_s": self.train_s,
                "losses": self.losses()}

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`training_state`'s (or the script's checkpoint's) state."""
        if "seed" in state and int(state["seed"]) != self.seed:
            raise ValueError(f"the state is of seed {state['seed']}, this run's seed is "
                             f"{self.seed}")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.oG.load_state_dict(state["oG"])
        self.oD.load_state_dict(state["oD"])
        self.gen.set_state(state["gen"])
        self.rng.bit_generator.state = state["rng"]
        self._next = self._rng_before_next = None
        self.steps, self.train_s = int(state["step"]), float(state.get("train_s", 0.0))
        self.last = dict(state.get("losses", {}))  # the last step's, scored with the point

    @torch.no_grad()
    def samples(self) -> np.ndarray:
        """1,000 samples drawn with the codes' generator, as the reference's ``evaluate``."""
        z = self.ref.prior(SPRITE_SAMPLES, self.gen).to(self.device)
        return self.G(z).float().cpu().numpy()

    @torch.no_grad()
    def traversal(self, num_values: int = 10) -> tuple[torch.Tensor, int, list[str]]:
        """Each code over [-1, 1] (a row each), the noise and the other codes fixed at one
        prior draw (seed 0, not the codes' generator)."""
        codes = self.ref.CODES
        base = self.ref.prior(1, torch.Generator().manual_seed(0))
        z = base.repeat(codes * num_values, 1)
        values = torch.linspace(-1.0, 1.0, num_values)
        for row in range(codes):
            z[row * num_values:(row + 1) * num_values, row] = values
        return self.G(z.to(self.device)).float().cpu(), num_values, [f"c{d}" for d in range(codes)]


# ----- InfoVAEGAN as `infovaegan train --dataset dsprites` builds it ------------------------


class OwnRandomState:
    """A run's own torch random state (CPU and its CUDA device), swapped in while it works, so
    runs taking turns in one process draw what each would draw alone."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(device) if self.cuda else None
        self.device = device

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        outer_cpu = torch.get_rng_state()
        outer_cuda = torch.cuda.get_rng_state(self.device) if self.cuda else None
        torch.set_rng_state(self.cpu_state)
        if self.cuda:
            torch.cuda.set_rng_state(self.cuda_state, self.device)
        try:
            yield
        finally:
            self.cpu_state = torch.get_rng_state()
            torch.set_rng_state(outer_cpu)
            if self.cuda:
                self.cuda_state = torch.cuda.get_rng_state(self.device)
                torch.cuda.set_rng_state(outer_cuda, self.device)


@contextlib.contextmanager
def evaluating(model: torch.nn.Module, device: torch.device) -> Iterator[None]:
    """Eval mode, and the run's random state untouched (the metrics must not steer it)."""
    cuda = [] if device.type != "cuda" else [
        device.index if device.index is not None else torch.cuda.current_device()]
    try:
        with torch.random.fork_rng(devices=cuda):
            model.eval()
            yield
    finally:
        model.train()


class AdaptedRunner:
    """What a runner of a package model scores through its evaluation adapter (``_adapter``):
    the representation ``infovaegan evaluate`` scores (InfoVAEGAN: categorical probabilities
    and continuous means; a VAE: its encoder means) and the prior's samples."""

    model: torch.nn.Module
    device: torch.device
    name: str
    steps: int

    def _adapter(self) -> Any:
        raise NotImplementedError

    def evaluating(self) -> contextlib.AbstractContextManager[None]:
        return evaluating(self.model, self.device)

    def represent(self, images: np.ndarray) -> np.ndarray:
        return self._adapter().represent(images)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """The generator (decoder) of the posterior mode (mean): the adapter's, as
        ``infovaegan evaluate`` scores it."""
        return self._adapter().reconstruct(images)

    def save(self, folder: Path) -> Path:
        """The weights (``model.pt``, loadable with ``weights_only=True``) and the step."""
        folder.mkdir(parents=True, exist_ok=True)
        state = _cpu(self.model.state_dict())
        torch.save({"model": self.name, "step": self.steps, "model_state_dict": state},
                   folder / "model.pt")
        return folder

    def samples(self) -> np.ndarray:
        from infovaegan_plugin.evaluation.evaluate import sample_images

        return sample_images(self._adapter(), SPRITE_SAMPLES, seed=0)


def variant_run(run: Any, variant: str, **model_switches: Any) -> Any:
    """``run`` as ``infovaegan train --variant V`` prepares it (``infogan``: the ablation),
    with some model-config fields switched (the bisection's differences)."""
    from infovaegan_plugin.presets import model_config_for

    config = model_config_for("dsprites", run.train_data.images.shape[1:], variant,
                              **model_switches)
    config.trained_on = run.model_config.trained_on
    return replace(run, model_config=config, settings={**run.settings, "variant": variant})


def prepared_run(seed: int, limit: int | None, amp: bool, output_dir: str) -> Any:
    """``infovaegan train --dataset dsprites --seed S [--limit N] [--amp]``'s prepared run."""
    from infovaegan_plugin.training import prepare_run, run_settings

    return prepare_run(run_settings({"dataset": "dsprites", "limit": limit, "seed": seed,
                                     "amp": amp, "output_dir": output_dir}))


class LoaderRunner(AdaptedRunner):
    """A trainer's run stepped batch by batch through its shuffled data loader, in its own
    random state (:class:`OwnRandomState`). Its training state holds the random state at the
    start of the current epoch too: the loader draws the epoch's order from it, so a loaded
    run deals the epoch again in the same order and skips the batches it already trained on."""

    trainer: Any
    random: OwnRandomState
    epoch: int
    step_in_epoch: int
    train_s: float
    _batches: Iterator[Any] | None
    _epoch_rng: torch.Tensor | None = None

    def _start_epoch(self) -> None:
        self._epoch_rng = torch.get_rng_state()
        self._batches, self.step_in_epoch = iter(self.trainer.train_loader), 0

    def _next_batch(self) -> Any:
        """The loader's next batch on the device; at an epoch's end ``model.update()`` and
        the next epoch, as the trainers' ``train_step`` loops do."""
        while True:
            if self._batches is None:
                self._start_epoch()
            try:
                inputs = next(self._batches)
            except StopIteration:
                self.model.update()
                self.epoch, self._batches = self.epoch + 1, None
                continue
            self.step_in_epoch += 1
            return self.trainer._set_inputs_to_device(inputs)

    def _optimizers(self) -> dict[str, Any]:
        """Every optimizer and scheduler the trainer steps, by attribute name."""
        kinds = (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler,
                 torch.optim.lr_scheduler.ReduceLROnPlateau)
        return {k: v for k, v in vars(self.trainer).items() if isinstance(v, kinds)}

    def training_state(self) -> dict[str, Any]:
        return {"runner": self.name, "step": self.steps, "train_s": self.train_s,
                "losses": self.losses(), "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                "model": _cpu(self.model.state_dict()),
                "optimizers": {k: o.state_dict() for k, o in self._optimizers().items()},
                "rng": self.random.cpu_state, "cuda_rng": self.random.cuda_state,
                "epoch_rng": self._epoch_rng if self._batches is not None else None}

    def load_training_state(self, state: dict[str, Any]) -> None:
        if state.get("runner") != self.name:
            raise ValueError(f"the state is of a {state.get('runner')!r} run, this run is "
                             f"{self.name!r}")
        optimizers = self._optimizers()
        if set(state["optimizers"]) != set(optimizers):
            raise ValueError(f"the state holds optimizers {sorted(state['optimizers'])}, this "
                             f"run steps {sorted(optimizers)}")
        self.model.load_state_dict(state["model"])
        for name, saved in state["optimizers"].items():
            optimizers[name].load_state_dict(saved)  # moves the moments to the params' device
        self.steps, self.train_s = int(state["step"]), float(state["train_s"])
        self.last = dict(state["losses"])  # the last step's, scored with the point
        self.epoch, self._batches = int(state["epoch"]), None
        self.random.cpu_state = state["rng"]
        if self.random.cuda and state["cuda_rng"] is not None:
            self.random.cuda_state = state["cuda_rng"]
        if state["epoch_rng"] is not None:  # deal the epoch again, skip what was trained on
            outer = torch.get_rng_state()
            torch.set_rng_state(state["epoch_rng"])
            try:
                self._start_epoch()
                for _ in range(int(state["step_in_epoch"])):
                    next(self._batches)
            finally:
                torch.set_rng_state(outer)
            self.step_in_epoch = int(state["step_in_epoch"])


class InfoVAEGANRunner(LoaderRunner):
    """The trainer ``train_run`` builds for ``run`` on ``device``, seeded as its
    ``prepare_training`` seeds it, stepped as its ``train_step`` steps: ``training_step`` on
    each batch of its loader, the epoch counter and ``model.update()`` at each epoch's end.
    ``trainer_overrides``: trainer-config fields changed from the command's (the bisection's
    optimizer switches)."""

    def __init__(self, run: Any, device: str, trainer_overrides: dict[str, Any] | None = None):
        from pythae.trainers.trainer_utils import set_seed

        from infovaegan_plugin.data import to_pythae_dataset
        from infovaegan_plugin.trainers import InfoVAEGANTrainer
        from infovaegan_plugin.training import build_model, trainer_config

        self.name = run.settings.get("variant") or "infovaegan"
        self.config = trainer_config(run, device)
        if trainer_overrides:  # validated by the config (a misspelt field is an error)
            self.config = replace(self.config, **trainer_overrides)
        model = build_model(run.model_config, run.settings["seed"])
        self.trainer = InfoVAEGANTrainer(model, to_pythae_dataset(run.train_data), None,
                                         self.config)
        set_seed(self.config.seed)  # prepare_training's, without a run folder or callbacks
        self.trainer.set_optimizer()
        self.trainer.set_scheduler()
        if self.trainer.schedulers:
            raise SystemExit("error: the dSprites preset now has a scheduler; this benchmark "
                             "steps no scheduler (InfoVAEGANTrainer.train_step does).")
        self.model = self.trainer.model
        self.device = torch.device(self.trainer.device)
        self.amp = bool(self.config.amp)
        self.amp_dtype = (str(getattr(self.trainer.amp_context, "fast_dtype", "")).replace(
            "torch.", "") or None) if self.amp else None
        self.random = OwnRandomState(self.device)
        self.epoch, self.step_in_epoch, self._batches = 1, 0, None
        self.steps, self.train_s = 0, 0.0
        self.last: dict[str, torch.Tensor] = {}
        self.images_per_epoch = len(run.train_data)

    def _start_epoch(self) -> None:
        self.model.training_epoch = self.epoch  # train_step's: instance noise's schedule
        super()._start_epoch()

    def _optimizers(self) -> dict[str, Any]:
        """The trainer's optimizers by role (its ``optimizer`` attribute is one of them)."""
        return dict(self.trainer.optimizers)

    def train(self, n: int) -> None:
        started = time.perf_counter()
        with self.random.active():
            self.model.train()
            for _ in range(n):
                real = self._next_batch()["data"]
                self.last = self.trainer.training_step(real, self.epoch, self.step_in_epoch)
        _synchronize(self.device)
        self.train_s += time.perf_counter() - started
        self.steps += n

    def losses(self) -> dict[str, float]:
        # the signals that say why a code follows a factor: the MI terms per code kind (Q
        # recovering the generator's codes), self-augmentation's consistency on real sprites,
        # the contrastive classifier's loss and accuracy
        keep = ("discriminator_loss", "adversarial_loss", "mutual_information_loss",
                "elbo_loss", "d_real_accuracy", "d_fake_accuracy", "mi_categorical",
                "mi_continuous", "sat_consistency", "sat_balance", "contrastive_loss",
                "contrastive_accuracy")
        return {k: float(self.last[k]) for k in keep if k in self.last}

    def _adapter(self) -> Any:
        from infovaegan_plugin.evaluation.adapters import InfoVAEGANAdapter

        return InfoVAEGANAdapter(self.model)

    def save(self, folder: Path) -> Path:
        """The model as the package saves it (``model_config.json`` + weights-only
        ``model.pt``), so ``infovaegan evaluate --model`` scores it again (e.g. at metric
        scale 1.0)."""
        self.model.save(str(folder))
        return folder

    def traversal(self, num_values: int = 10) -> tuple[torch.Tensor, int, list[str]]:
        images, ncol, rows = self._adapter().traversal(np.zeros((1, 1, 64, 64), np.float32),
                                                       num_values)
        return images.float().cpu(), ncol, rows


# ----- pythae's VAE baselines, as `infovaegan benchmark` trains them -------------------------


class BaselineRunner(LoaderRunner):
    """``infovaegan benchmark``'s ``name`` baseline (``build_baseline`` on the run's preset
    config, ``baseline_trainer_config``'s optimizers) on the run's training images, stepped as
    pythae's ``train_step`` steps: per batch the model's forward (``epoch``, ``dataset_size``)
    and the trainer's ``_optimizers_step``, ``model.update()`` at each epoch's end; seeded as
    the benchmark seeds it (``torch.manual_seed`` before building, ``set_seed`` before the
    optimizers)."""

    amp = False
    amp_dtype = None

    def __init__(self, name: str, run: Any, device: str):
        from infovaegan_plugin.data import to_pythae_dataset
        from infovaegan_plugin.evaluation.baselines import (
            baseline_trainer_config,
            build_baseline,
            make_trainer,
            quiet_pythae,
        )

        self.name = name
        seed = int(run.settings["seed"])
        torch.manual_seed(seed)
        model = build_baseline(name, run.model_config)
        self.config = baseline_trainer_config(
            name, output_dir=str(run.settings["output_dir"]), num_epochs=1_000_000,
            per_device_train_batch_size=int(run.settings["batch_size"]),
            per_device_eval_batch_size=256, seed=seed, steps_saving=None,
            no_cuda=device == "cpu")
        with quiet_pythae():
            self.trainer = make_trainer(model, self.config, to_pythae_dataset(run.train_data),
                                        None)
            self.trainer.prepare_training()  # train()'s: the seed, every optimizer, a folder
        self.model = self.trainer.model
        self.device = torch.device(self.trainer.device)
        self.random = OwnRandomState(self.device)
        self.epoch, self.step_in_epoch, self._batches = 1, 0, None
        self.steps, self.train_s = 0, 0.0
        self.last: dict[str, float] = {}
        self.images_per_epoch = len(run.train_data)
        self._reference = run.train_data.images[:1]
        self._built_from = run.model_config

    def train(self, n: int) -> None:
        started = time.perf_counter()
        size = len(self.trainer.train_loader.dataset)
        with self.random.active():
            self.model.train()
            for _ in range(n):
                inputs = self._next_batch()
                output = self.model(inputs, epoch=self.epoch, dataset_size=size, uses_ddp=False)
                self.trainer._optimizers_step(output)
        _synchronize(self.device)
        self.train_s += time.perf_counter() - started
        self.steps += n
        if n > 0:
            keep = ("loss", "recon_loss", "reg_loss", "autoencoder_loss", "discriminator_loss")
            self.last = {k: float(output[k].detach()) for k in keep if k in output.keys()}

    def losses(self) -> dict[str, float]:
        return dict(self.last)

    def _adapter(self) -> Any:
        from infovaegan_plugin.evaluation.adapters import PythaeVAEAdapter

        return PythaeVAEAdapter(self.model)

    def save(self, folder: Path) -> Path:
        """The weights (:meth:`AdaptedRunner.save`) and the InfoVAEGAN config the baseline is
        built from (``build_baseline(name, config)`` rebuilds it): pythae's own ``save``
        would pickle the custom networks."""
        super().save(folder)
        from infovaegan_plugin.atomic import write_text

        write_text(folder / "infovaegan_config.json", self._built_from.to_json_string())
        return folder

    def traversal(self, num_values: int = 10) -> tuple[torch.Tensor, int, list[str]]:
        """The most informative latents over [-2, 2] from the first training sprite."""
        images, ncol, rows = self._adapter().traversal(
            np.asarray(self._reference, np.float32), num_values)
        return images.float().cpu(), ncol, rows


# ----- kept models, scored again ------------------------------------------------------------


class SavedRunner(AdaptedRunner):
    """A kept model (``--keep-models``), scored as its run scored it, through the adapter
    ``infovaegan evaluate`` uses for its family; it trains no more."""

    amp = False
    train_s = 0.0

    def __init__(self, name: str, model: torch.nn.Module, steps: int, device: str = "cpu"):
        self.name, self.steps = name, int(steps)
        self.device = torch.device(device)
        self.model = model.to(self.device)

    def losses(self) -> dict[str, float]:
        return {}

    def _adapter(self) -> Any:
        from infovaegan_plugin.evaluation.adapters import adapter_for

        return adapter_for(self.model)


def load_saved(name: str, path: Path, steps: int, device: str = "cpu",
               ref: Any = None, seed: int = 0) -> Any:
    """The runner of a model kept by ``--keep-models`` (``path`` as its record lists it) or of
    a reference script's ``--checkpoint`` (``name`` ``reference``): weights loaded with
    ``weights_only=True``. A loaded reference draws its samples from a fresh codes generator
    (``seed``), not from where its run's stream stood."""
    from infovaegan_plugin.evaluation.baselines import build_baseline
    from infovaegan_plugin.models.infovaegan import InfoVAEGAN, InfoVAEGANConfig

    path = Path(path)
    if name == "reference":
        if ref is None:
            raise SystemExit("error: scoring a reference needs the reference script")
        state = torch.load(path, map_location="cpu", weights_only=True)
        runner = ReferenceRunner(ref, seed, device)
        runner.G.load_state_dict(state["G"])
        runner.D.load_state_dict(state["D"])
        runner.steps = int(state["step"])
        return runner
    if (path / "model_config.json").is_file():  # InfoVAEGAN or its ablation
        return SavedRunner(name, InfoVAEGAN.load_from_folder(str(path)), steps, device)
    config = InfoVAEGANConfig.from_json_file(str(path / "infovaegan_config.json"))
    model = build_baseline(name, config)
    model.load_state_dict(torch.load(path / "model.pt", map_location="cpu",
                                     weights_only=True)["model_state_dict"])
    return SavedRunner(name, model, steps, device)


def load_arm_state(path: Path, device: str = "cpu") -> tuple[SavedRunner, int]:
    """A bisection arm's saved training state (``dsprites_bisect.py``'s ``state/arm_*.pt``) as a
    kept model named ``VARIANT[ARM]`` and its seed (from the record: the file may be renamed):
    the model config the arm trained with (its record's variant and model switches) holding the
    state's weights, scored and trained no more."""
    from run_state import load_state

    from infovaegan_plugin.data.dsprites import IMAGE_SIZE
    from infovaegan_plugin.models.infovaegan import InfoVAEGAN
    from infovaegan_plugin.presets import model_config_for

    saved = load_state(path)
    record = saved.get("record") if isinstance(saved, dict) else None
    if not record or "training" not in saved or "model" not in saved["training"]:
        raise SystemExit(f"error: {path} is not a bisection arm's state (dsprites_bisect.py "
                         "writes them in OUT/state/)")
    config = model_config_for("dsprites", (1, IMAGE_SIZE, IMAGE_SIZE), record["variant"],
                              **record["model_overrides"])
    model = InfoVAEGAN(config)
    model.load_state_dict(saved["training"]["model"])
    runner = SavedRunner(f"{record['variant']}[{record['arm']}]", model,
                         int(saved["training"]["step"]), device)
    return runner, int(record["seed"])


#: The models benchmarks/dsprites_gpu.py compares, by name: ``(ref, run, device, prefetch)``
#: to a runner (``run``: the seed's ``prepared_run``; ``prefetch``: render the reference's
#: next batch in a thread, on a GPU).
RUNNERS: dict[str, Callable[[Any, Any, str, bool], Any]] = {
    "reference": lambda ref, run, device, prefetch: ReferenceRunner(
        ref, int(run.settings["seed"]), device, prefetch=prefetch),
    "infovaegan": lambda ref, run, device, prefetch: InfoVAEGANRunner(run, device),
    "infogan": lambda ref, run, device, prefetch: InfoVAEGANRunner(
        variant_run(run, "infogan"), device),
    "beta_vae": lambda ref, run, device, prefetch: BaselineRunner("beta_vae", run, device),
    "factor_vae": lambda ref, run, device, prefetch: BaselineRunner("factor_vae", run, device),
}
#: the runners whose steps are the InfoVAEGAN trainer's (its ``amp`` switch applies)
TRAINER_MODELS = ("infovaegan", "infogan")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
