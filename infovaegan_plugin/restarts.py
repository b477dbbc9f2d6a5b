"""Restarts chosen without labels, as k-means' ``n_init`` keeps its lowest inertia.

Whether a run's categorical code ends up naming digits or splitting two of them by style
(MNIST's 4 and 9) is decided early and mostly by the seed. :func:`train_with_restarts` trains
``K`` candidates (seeds ``seed``, ``seed + 1000``, ...) for a few epochs, scores each by the
encoder's mutual information between real training images and their category
(:func:`selection_score`, no labels), and continues only the best one to the full budget.
Resuming a checkpoint gives the weights of an uninterrupted run, so the kept run is exactly the
run of its seed. Every candidate shares the base seed's data split, so the scores are taken on
the same images. ``restarts.json`` records candidates, scores and the choice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_text
from .metrics.clustering import code_information

__all__ = ["RESTARTS_FILE", "RESTART_SEED_STRIDE", "SCORE_IMAGES", "Candidate",
           "RestartsResult", "pick_best", "restart_seeds", "selection_score",
           "train_with_restarts"]

#: Restart ``k`` of base seed ``s`` trains with seed ``s + k * RESTART_SEED_STRIDE``, so restart
#: 0 is the plain run of ``s`` and ``--restarts 1`` changes nothing.
RESTART_SEED_STRIDE = 1000
#: The score reads at most this many training images (the first ones: the same for every
#: candidate).
SCORE_IMAGES = 10_000
RESTARTS_FILE = "restarts.json"


def restart_seeds(seed: int, restarts: int) -> list[int]:
    """Seeds of the ``restarts`` candidates of base ``seed``."""
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return [seed + k * RESTART_SEED_STRIDE for k in range(restarts)]


def selection_score(model: Any, images: np.ndarray, limit: int = SCORE_IMAGES,
                    batch_size: int = 500) -> float:
    """Label-free quality of a model's categorical codes on real ``images``: the sum over its
    categorical codes of ``H(mean q(c|x)) - mean H(q(c|x))`` (nats), on the first ``limit``
    images. High when every category is used and each image is assigned confidently."""
    import torch

    layout = model.model_config.layout
    if not layout.categorical_sizes:
        raise ValueError("restarts are chosen by the categorical code; this model has none.")
    if len(images) == 0:
        raise ValueError("selection_score needs at least one image.")
    images = images[:limit]
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                batch = torch.as_tensor(np.ascontiguousarray(images[start:start + batch_size]))
                chunks.append(model.encode(batch).categorical_probs.float().cpu().numpy())
    finally:
        model.train(was_training)
    probs = np.concatenate(chunks).astype(np.float64)
    return float(sum(code_information(block / block.sum(1, keepdims=True))
                     for block in layout.split_categorical(probs)))


def pick_best(scores: Sequence[float | None]) -> int:
    """Index of the highest score; the first one on ties; ``None``/NaN (a failed candidate)
    never wins."""
    valid = [(s, -i) for i, s in enumerate(scores) if s is not None and not math.isnan(s)]
    if not valid:
        raise ValueError("no candidate finished with a score: every restart failed.")
    return -max(valid)[1]


@dataclass
class Candidate:
    """One restart: where it ran and how it scored after the selection epochs."""

    index: int
    seed: int
    run_dir: str | None = None
    score: float | None = None
    eval_accuracy: float | None = None  # with labels, for the record; never used to choose
    failed: str | None = None


@dataclass
class RestartsResult:
    """What :func:`train_with_restarts` did; ``final`` is the kept run's ``RunResult``."""

    candidates: list[Candidate]
    chosen: int | None  # index into candidates; None until every candidate has run
    after_epochs: int
    score_images: int
    final: Any = None
    continued_from: str | None = None
    record: Path | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "selection": {
                "score": "code_information: H(mean q(c|x)) - mean H(q(c|x)) on the first "
                         f"{self.score_images} training images (nats, no labels)",
                "after_epochs": self.after_epochs,
                "seed_stride": RESTART_SEED_STRIDE,
            },
            "candidates": [asdict(c) for c in self.candidates],
            "chosen": self.chosen,
            "chosen_seed": None if self.chosen is None else self.candidates[self.chosen].seed,
            "continued_from": self.continued_from,
            "final_run_dir": None if self.final is None else str(self.final.folder),
            "final_model": None if self.final is None else str(self.final.final_model),
            "final_metrics": None if self.final is None else self.final.final_metrics,
        }


def _candidate_dir(output_dir: Path, index: int, seed: int) -> Path:
    return output_dir / f"restart_{index}_seed_{seed}"


def train_with_restarts(
    settings: Mapping[str, Any], restarts: int, after_epochs: int, device: str,
    make_callbacks: Callable[[], list] = list, purity: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> RestartsResult:
    """Train ``restarts`` candidates for ``after_epochs`` epochs, keep the best by
    :func:`selection_score` and continue it to ``settings["epochs"]``.

    ``settings`` are :func:`~infovaegan_plugin.training.prepare_run`'s (``seed`` is the base
    seed, ``output_dir`` holds one folder per candidate and ``restarts.json``). A candidate
    whose loss turns non-finite is recorded as failed and cannot win. ``make_callbacks`` gives
    fresh training callbacks (e.g. a progress bar) for each run. With ``purity``, one
    generator-purity classifier (trained with the base seed) serves every run.
    """
    from .models.infovaegan import InfoVAEGAN
    from .trainers.infovaegan_trainer.infovaegan_trainer import NonFiniteLossError
    from .trainers.infovaegan_trainer.resume import merge_settings, read_checkpoint
    from .training import DEFAULTS, prepare_run, purity_probe_for, train_run

    if after_epochs < 1:
        raise ValueError(f"after_epochs must be at least 1, got {after_epochs}")
    base = dict(settings)
    output_dir = Path(base["output_dir"])
    base_seed = int(base["seed"])
    base_run = prepare_run({**base, "data_seed": base_seed})
    if not base_run.model_config.categorical_dims:
        raise ValueError("restarts are chosen by the categorical code; this model has none.")
    total_epochs = int(base_run.settings["epochs"])
    selection_epochs = min(after_epochs, total_epochs)
    score_images = base_run.train_data.images[:SCORE_IMAGES]
    shared_probe = purity_probe_for(base_run, base_seed, log) if purity else None
    result = RestartsResult(
        candidates=[Candidate(i, s) for i, s in enumerate(restart_seeds(base_seed, restarts))],
        chosen=None, after_epochs=selection_epochs, score_images=len(score_images),
        record=output_dir / RESTARTS_FILE)

    def write_record() -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_text(result.record, json.dumps(result.as_dict(), indent=2) + "\n")

    runs = {}
    for candidate in result.candidates:
        log(f"restart {candidate.index + 1}/{restarts}: seed {candidate.seed}, "
            f"{selection_epochs} epoch(s)")
        run = prepare_run({
            **base, "seed": candidate.seed, "data_seed": base_seed, "epochs": selection_epochs,
            "checkpoint_every": selection_epochs,
            "output_dir": _candidate_dir(output_dir, candidate.index, candidate.seed)})
        try:
            runs[candidate.index] = done = train_run(run, device, make_callbacks(), purity, log,
                                                     probe=shared_probe)
        except NonFiniteLossError as exc:
            candidate.failed = str(exc)
            log(f"restart {candidate.index + 1} failed: {exc}")
            write_record()
            continue
        candidate.run_dir = str(done.folder)
        candidate.score = selection_score(
            InfoVAEGAN.load_from_folder(str(done.final_model)), score_images)
        accuracy = done.final_metrics.get("eval_accuracy")
        candidate.eval_accuracy = None if accuracy is None else float(accuracy)
        log(f"restart {candidate.index + 1}: code information {candidate.score:.4f} nats")
        write_record()

    result.chosen = pick_best([c.score for c in result.candidates])
    chosen = result.candidates[result.chosen]
    log(f"kept restart {result.chosen + 1} (seed {chosen.seed}, code information "
        f"{chosen.score:.4f})")
    if total_epochs > selection_epochs:
        checkpoint = read_checkpoint(Path(chosen.run_dir) / f"checkpoint_epoch_{selection_epochs}")
        given = {"epochs": total_epochs, "checkpoint_every": base.get("checkpoint_every"),
                 "keep_checkpoints": base.get("keep_checkpoints"), "threads": base.get("threads"),
                 "device": base.get("device")}
        merged = merge_settings(given, checkpoint, DEFAULTS)
        result.continued_from = str(checkpoint.path)
        result.final = train_run(prepare_run(merged, checkpoint), device, make_callbacks(),
                                 purity, log, probe=shared_probe)
    else:
        result.final = runs[result.chosen]
    write_record()
    return result
