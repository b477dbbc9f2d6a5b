"""Resuming a run: what a ``checkpoint_epoch_N`` folder records, and how its settings combine
with the ones given again.

Every check raises :class:`ResumeError` with one line that names the checkpoint and says what
to do, so a command can print it instead of a traceback.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .run_control import OPTIMIZERS_FILE, RUN_SETTINGS_FILE, list_checkpoints

__all__ = ["Checkpoint", "ResumeError", "check_resumable", "checkpoint_damage", "merge_settings",
           "newest_intact_checkpoint", "read_checkpoint", "resume_command"]

TRAINING_CONFIG_FILE = "training_config.json"


class ResumeError(ValueError):
    """The checkpoint cannot be resumed (missing, corrupt, another model, nothing to train)."""


@dataclass
class Checkpoint:
    """What a ``checkpoint_epoch_N`` folder says about the run it belongs to."""

    path: Path
    epoch: int
    settings: dict[str, Any] = field(default_factory=dict)  # run_settings.json
    training: dict[str, Any] = field(default_factory=dict)  # training_config.json
    #: True when a run folder was named and its newest checkpoint was picked.
    picked_newest: bool = False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResumeError(f"--resume: {path} cannot be read ({exc}).") from None
    return content if isinstance(content, dict) else {}


def checkpoint_damage(path: Path) -> tuple[int | None, str | None]:
    """``(epoch, None)`` for a checkpoint folder whose files all load, else ``(epoch or None,
    what is wrong)``: a truncated or corrupt ``optimizers.pt`` or ``model.pt``, an unreadable
    ``model_config.json``."""
    import torch

    from ...load_errors import unreadable_weights_message
    from ...models.infovaegan.infovaegan_model import MODEL_FILE
    from ...saved_models import CONFIG_FILE, read_model_config

    try:
        epoch = int(torch.load(path / OPTIMIZERS_FILE, map_location="cpu",
                               weights_only=True)["epoch"])
    except Exception as exc:  # torch raises several types for a corrupt file
        return None, (f"{OPTIMIZERS_FILE} is corrupt or not an InfoVAEGAN checkpoint "
                      f"({type(exc).__name__})")
    try:
        weights = torch.load(path / MODEL_FILE, map_location="cpu", weights_only=True)
        weights["model_state_dict"]
    except Exception as exc:
        return epoch, unreadable_weights_message(path / MODEL_FILE, exc).rstrip(".")
    try:
        read_model_config(path)
    except (OSError, ValueError) as exc:
        return epoch, f"{CONFIG_FILE} cannot be read ({exc})"
    return epoch, None


def newest_intact_checkpoint(run_dir: Path, exclude: Path | None = None) -> Path | None:
    """The newest checkpoint of ``run_dir`` whose files all load (``exclude`` aside)."""
    for _, folder in reversed(list_checkpoints(str(run_dir))):
        if exclude is not None and Path(folder).resolve() == Path(exclude).resolve():
            continue
        if checkpoint_damage(Path(folder))[1] is None:
            return Path(folder)
    return None


def read_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint ``path`` names (a run folder means its newest checkpoint). A damaged
    one is refused with the newest intact checkpoint of the same run named instead."""

    path = Path(path)
    if not path.exists():
        raise ResumeError(f"--resume {path}: checkpoint folder not found.")
    if not path.is_dir():
        raise ResumeError(f"--resume {path} is a file; give a checkpoint_epoch_N folder of a "
                          "training run.")
    picked = False
    if not (path / OPTIMIZERS_FILE).is_file():
        found = list_checkpoints(str(path))
        if not found:
            raise ResumeError(
                f"--resume {path} is not a checkpoint: it has no {OPTIMIZERS_FILE} (give a "
                "checkpoint_epoch_N folder of a training run, or the run folder).")
        path, picked = Path(found[-1][1]), True
    epoch, damage = checkpoint_damage(path)
    if damage is not None or epoch is None:
        intact = newest_intact_checkpoint(path.parent, exclude=path)
        instead = (f"the newest intact checkpoint of this run is {intact}; resume with: "
                   f"{resume_command(str(intact))}" if intact is not None
                   else f"no other checkpoint in {path.parent} is intact")
        raise ResumeError(f"--resume {path}: {damage}; {instead}.")
    settings: dict[str, Any] = {}
    for folder in (path, path.parent):
        if (folder / RUN_SETTINGS_FILE).is_file():
            settings = _read_json(folder / RUN_SETTINGS_FILE)
            break
    training = (_read_json(path / TRAINING_CONFIG_FILE)
                if (path / TRAINING_CONFIG_FILE).is_file() else {})
    _check_recorded_batch_size(path / TRAINING_CONFIG_FILE, training)
    return Checkpoint(path, epoch, settings, training, picked)


def _check_recorded_batch_size(path: Path, training: Mapping[str, Any]) -> None:
    """The batch size a resumed run takes from ``training_config.json``, refused (naming the
    file) when it is outside the trainer's bounds, before any data is read."""
    from .infovaegan_trainer_config import batch_size_error

    key = "per_device_train_batch_size"
    if training.get(key) is not None:
        error = batch_size_error(key, training[key])
        if error is not None:
            raise ResumeError(f"--resume: {path}: {error}")


def merge_settings(given: Mapping[str, Any], checkpoint: Checkpoint | None,
                   defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Settings given again win; then the checkpoint's; then ``defaults``."""
    recorded: dict[str, Any] = {}
    if checkpoint is not None:
        training = checkpoint.training
        recorded = {
            "epochs": training.get("num_epochs"),
            "batch_size": training.get("per_device_train_batch_size"),
            "seed": training.get("seed"),
            "amp": training.get("amp"),
            "keep_checkpoints": training.get("keep_checkpoints"),
            "checkpoint_every": training.get("steps_saving"),
            "output_dir": training.get("output_dir"),
        }
        recorded = {k: v for k, v in recorded.items() if v is not None}
        recorded.update({k: v for k, v in checkpoint.settings.items() if v is not None})
    merged = {**defaults, **recorded}
    merged.update({k: v for k, v in given.items() if v is not None})
    for key in ("data_dir", "output_dir"):
        if merged.get(key) is not None:
            merged[key] = Path(merged[key])
    return merged


def check_variant(checkpoint: Checkpoint, variant: str | None) -> None:
    """A variant given again must be the one the checkpoint was trained as."""
    recorded = checkpoint.settings.get("variant")
    if variant and recorded and variant != recorded:
        raise ResumeError(
            f"--variant {variant} does not match the checkpoint {checkpoint.path}, which was "
            f"trained as {recorded}; drop --variant to resume it.")


def check_resumable(checkpoint: Checkpoint, model_config: Any, epochs: int) -> Any:
    """Same model as the checkpoint's, and something left to train; returns the checkpoint's
    config, which the resumed run trains.

    ``trained_on`` is not compared: it records the data, and checkpoints written before it
    existed do not have it (the resumed run keeps the checkpoint's value). Nor is a field the
    checkpoint predates: it trained with that field's old behaviour (``legacy_defaults``),
    which no option can ask for, and the resumed run keeps it.
    """
    from ...load_errors import invalid_config_message
    from ...models.infovaegan.infovaegan_model import config_from_saved
    from ...saved_models import CONFIG_FILE, read_model_config

    config_path = checkpoint.path / CONFIG_FILE
    try:
        raw = read_model_config(checkpoint.path)
    except (OSError, ValueError) as exc:
        raise ResumeError(f"--resume: {config_path} cannot be read ({exc}).") from None
    raw.pop("name", None)
    try:
        saved = config_from_saved(raw)
    except (ValueError, TypeError) as exc:
        raise ResumeError(invalid_config_message(config_path, exc)) from None
    names = [k for k in model_config.__dataclass_fields__
             if k not in ("trained_on", "latent_dim") and k in raw
             and getattr(saved, k, None) != getattr(model_config, k, None)]
    if names:
        shown = "; ".join(f"{k}: checkpoint {getattr(saved, k, None)!r}, these options "
                          f"{getattr(model_config, k, None)!r}" for k in names[:4])
        raise ResumeError(
            f"--resume {checkpoint.path} was trained with another model ({shown}); resume it "
            "with the data set and --variant it was trained with.")
    if checkpoint.epoch >= epochs:
        raise ResumeError(
            f"--resume {checkpoint.path} has already reached epoch {checkpoint.epoch} and the "
            f"target is {epochs} epoch(s): nothing to train. Pass --epochs N with N > "
            f"{checkpoint.epoch} to train further.")
    return saved


def resume_command(checkpoint: str) -> str:
    """The command line that continues a run from ``checkpoint``."""
    return f"infovaegan train --resume {shlex.quote(str(checkpoint))}"
