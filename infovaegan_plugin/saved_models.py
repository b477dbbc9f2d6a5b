"""Finding a saved model inside what a user points at (the model folder itself, or a
training run: pythae's ``<Model>_training_<date>/final_model``, as the CLI commands accept),
and reading what its ``model_config.json`` says without building the model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .models.infovaegan.infovaegan_model import CONFIG_FILE, MODEL_FILE, ModelLoadError


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


def load_saved_model(folder: str | os.PathLike[str], allow_pickle: bool = False) -> Any:
    """The model saved in ``folder``: InfoVAEGAN from its weights alone, or any other pythae
    model when ``allow_pickle`` is true. pythae saves other models' networks with
    cloudpickle, which runs code when loaded, so only a caller who trusts the folder may.

    Raises :class:`ModelLoadError` (a config that is not a JSON object, a pickled model not
    allowed, files that do not load) and ``FileNotFoundError``.
    """
    folder = Path(folder)
    try:
        name = read_model_config(folder).get("name")
    except ValueError as exc:
        raise ModelLoadError(f"{folder / CONFIG_FILE} is not valid JSON: {exc}") from None
    if name == "InfoVAEGANConfig":
        from .models.infovaegan.infovaegan_model import InfoVAEGAN

        return InfoVAEGAN.load_from_folder(str(folder))
    if not allow_pickle:
        raise ModelLoadError(
            f"{folder} holds a pythae {name or 'unknown'} model; pythae saves custom "
            "networks with cloudpickle, which runs code when loaded. Pass allow_pickle=True "
            "if you trust this folder."
        )
    from pythae.models import AutoModel

    return AutoModel.load_from_folder(str(folder))


def read_model_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw ``model_config.json`` of a saved model (any pythae model) as a dict.

    Raises ``OSError`` when the file cannot be read and ``ValueError`` when it is not a JSON
    object; callers word the message for their context.
    """
    return read_json_object(Path(folder) / CONFIG_FILE)


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON file that must hold an object (every config file pythae writes).

    Raises ``OSError`` when the file cannot be read and ``ValueError`` when it is not a JSON
    object.
    """
    content = json.loads(Path(path).read_text())
    if not isinstance(content, dict):
        raise ValueError(f"{path} holds {type(content).__name__}, not a JSON object")
    return content


def saved_input_dim(folder: str | os.PathLike[str]) -> tuple[int, ...] | None:
    """``input_dim`` of a saved model, or ``None`` when the config cannot tell (the loader
    then reports the problem with its own message)."""
    try:
        return tuple(int(d) for d in read_model_config(folder)["input_dim"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recorded_dataset(folder: str | os.PathLike[str]) -> str | None:
    """The data set a saved model was trained on: its config's ``trained_on`` (written by
    training runs since it exists), else the ``dataset`` of the ``metrics.json`` of the
    training run holding the folder (models saved before); ``None`` when neither says."""
    try:
        trained_on = read_model_config(folder).get("trained_on")
    except (OSError, ValueError):
        trained_on = None
    if trained_on:
        return str(trained_on)
    model_dir = Path(folder)
    for parent in [model_dir, *model_dir.parents][:3]:
        path = parent / "metrics.json"
        if path.is_file():
            try:
                name = json.loads(path.read_text()).get("dataset")
            except (json.JSONDecodeError, OSError, AttributeError):
                return None
            return str(name) if name else None
    return None
