"""Finding a saved model inside what a user points at: the model folder itself, or a
training run (pythae's ``<Model>_training_<date>/final_model``), as the CLI commands accept."""

from __future__ import annotations

import os
from pathlib import Path

from .models.infovaegan.infovaegan_model import CONFIG_FILE, MODEL_FILE


def is_model_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / MODEL_FILE).is_file()


def find_model_dir(path: str | os.PathLike[str], what: str = "InfoVAEGAN") -> Path:
    """The saved-model folder inside ``path``.

    ``path`` may be the folder itself (``model_config.json`` + ``model.pt``) or a training
    run: its ``final_model``, possibly inside ``*_training_*`` sub-folders, the most recent
    (by the weights' modification time) when several runs share the output folder.
    ``what`` names the expected model in the error message.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"model folder not found: {root}")
    if is_model_dir(root):
        return root
    candidates = [d for d in root.rglob("final_model") if d.is_dir() and is_model_dir(d)]
    if not candidates:
        raise FileNotFoundError(
            f"{root} holds no saved {what}: expected {CONFIG_FILE} and {MODEL_FILE} "
            "there, or a training run with a final_model folder (e.g. "
            "InfoVAEGAN_training_<date>/final_model)."
        )
    return max(candidates, key=lambda d: ((d / MODEL_FILE).stat().st_mtime, str(d)))
