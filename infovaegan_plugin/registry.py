"""The one place that hooks plug-in models into pythae.

pythae picks trainers and loads saved models through hard-coded if-chains
(``TrainingPipeline.__init__``/``__call__``, ``AutoModel.load_from_folder``,
``AutoConfig.from_json_file``): a plug-in trainer config that subclasses ``BaseTrainerConfig``
would silently get ``BaseTrainer``, and a saved plug-in model would not load. ``install()``
wraps those four entry points once; each wrapper handles a *registered* model/config/trainer
and hands everything else to pythae's original code unchanged.

To add a model: ``register(Registration(...))``; no wrapper needs editing.

pythae is imported inside ``install()`` and the built-in registration is made by the first
wrapper call: ``install()`` runs right after pythae's own import (``infovaegan_plugin``'s
after-import call), possibly in the middle of an import of this package's modules, so it may
import pythae but none of ours.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Registration:
    """A model/config/trainer/trainer-config quadruple pythae should know about."""

    model_name: str  # ``model.model_name``
    model_cls: type
    config_cls: type
    trainer_cls: type
    trainer_config_cls: type
    #: reads a saved config (its JSON without ``name``) as the model's own loader does, e.g.
    #: filling fields an older file predates with the behaviour it was trained with;
    #: ``None``: ``config_cls.from_dict`` without ``latent_dim``
    read_saved_config: Callable[[dict], object] | None = None


_BY_MODEL_NAME: dict[str, Registration] = {}
_BY_CONFIG_NAME: dict[str, Registration] = {}
_ORIGINALS: dict[str, object] = {}


def register(entry: Registration) -> None:
    """Make ``entry`` known to the wrappers (idempotent for the same entry)."""
    _BY_MODEL_NAME[entry.model_name] = entry
    _BY_CONFIG_NAME[entry.config_cls.__name__] = entry


def registered() -> dict[str, Registration]:
    _ensure_builtin()
    return dict(_BY_MODEL_NAME)


def for_trainer_config(training_config: object) -> Registration | None:
    _ensure_builtin()
    for entry in _BY_MODEL_NAME.values():
        if isinstance(training_config, entry.trainer_config_cls):
            return entry
    return None


def _config_name(json_path: str) -> str | None:
    from .saved_models import read_json_object  # lazily: saved_models imports the model

    try:
        return read_json_object(json_path).get("name")
    except (OSError, ValueError):
        return None  # let pythae's own code report the problem


# ----- wrappers ------------------------------------------------------------------------


def _pipeline_init(self, model, training_config=None):
    _ensure_builtin()
    entry = _BY_MODEL_NAME.get(getattr(model, "model_name", None))
    if entry is not None:
        if training_config is None:
            training_config = entry.trainer_config_cls()
        elif not isinstance(training_config, entry.trainer_config_cls):
            raise AssertionError(
                f"A '{entry.trainer_config_cls.__name__}' is expected for training a "
                f"{entry.model_name}, got '{type(training_config).__name__}'."
            )
    _ORIGINALS["pipeline_init"](self, model=model, training_config=training_config)


def _as_dataset(pipeline, data):
    import torch

    if isinstance(data, (np.ndarray, torch.Tensor)):
        processed = pipeline.data_processor.process_data(data)
        return pipeline.data_processor.to_dataset(processed)
    return data


def _check_images(model, dataset, name: str) -> None:
    """The image convention (float (N, C, H, W) in [0, 1]) before training starts, so raw
    0..16 or 0..255 arrays are refused with the range found instead of trained on."""
    from .inputs import check_dataset_images

    images = getattr(dataset, "data", None)
    if images is not None and hasattr(images, "shape"):
        check_dataset_images(images, model.model_config.input_dim, name)


def _pipeline_call(self, train_data, eval_data=None, callbacks=None):
    entry = for_trainer_config(self.training_config)
    if entry is None:
        return _ORIGINALS["pipeline_call"](self, train_data, eval_data, callbacks)
    train_dataset = _as_dataset(self, train_data)
    self._check_dataset(train_dataset)
    _check_images(self.model, train_dataset, "train_data")
    eval_dataset = None
    if eval_data is not None:
        eval_dataset = _as_dataset(self, eval_data)
        self._check_dataset(eval_dataset)
        _check_images(self.model, eval_dataset, "eval_data")
    self.trainer = entry.trainer_cls(
        model=self.model,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        training_config=self.training_config,
        callbacks=callbacks,
    )
    self.trainer.train()


def _auto_model_load(cls, dir_path: str):
    from .saved_models import CONFIG_FILE

    _ensure_builtin()
    entry = _BY_CONFIG_NAME.get(_config_name(os.path.join(dir_path, CONFIG_FILE)) or "")
    if entry is not None:
        return entry.model_cls.load_from_folder(dir_path)
    return _ORIGINALS["auto_model_load"](cls, dir_path)


def _auto_config_load(cls, json_path: str):
    _ensure_builtin()
    entry = _BY_CONFIG_NAME.get(_config_name(json_path) or "")
    if entry is not None:
        raw = entry.config_cls._dict_from_json(json_path)
        raw.pop("name", None)
        try:
            if entry.read_saved_config is not None:
                return entry.read_saved_config(raw)
            raw.pop("latent_dim", None)  # derived from the latent layout
            return entry.config_cls.from_dict(raw)
        except (ValueError, TypeError) as exc:  # name the file and the field
            from .load_errors import invalid_config_message

            raise ValueError(invalid_config_message(json_path, exc)) from None
    return _ORIGINALS["auto_config_load"](cls, json_path)


def install() -> None:
    """Wrap pythae's four entry points; calling it again changes nothing."""
    if _ORIGINALS:
        return
    from pythae.models import AutoModel
    from pythae.models.auto_model import AutoConfig
    from pythae.pipelines import TrainingPipeline

    _ORIGINALS["pipeline_init"] = TrainingPipeline.__init__
    _ORIGINALS["pipeline_call"] = TrainingPipeline.__call__
    _ORIGINALS["auto_model_load"] = AutoModel.__dict__["load_from_folder"].__func__
    _ORIGINALS["auto_config_load"] = AutoConfig.__dict__["from_json_file"].__func__
    TrainingPipeline.__init__ = _pipeline_init
    TrainingPipeline.__call__ = _pipeline_call
    AutoModel.load_from_folder = classmethod(_auto_model_load)
    AutoConfig.from_json_file = classmethod(_auto_config_load)


def is_installed() -> bool:
    return bool(_ORIGINALS)


def _ensure_builtin() -> None:
    if "InfoVAEGAN" not in _BY_MODEL_NAME:
        register_builtin_models()


def register_builtin_models() -> None:
    """Register InfoVAEGAN and install the wrappers."""
    from .models.infovaegan import InfoVAEGAN, InfoVAEGANConfig
    from .models.infovaegan.infovaegan_model import config_from_saved
    from .trainers.infovaegan_trainer import InfoVAEGANTrainer, InfoVAEGANTrainerConfig

    register(
        Registration(
            model_name="InfoVAEGAN",
            model_cls=InfoVAEGAN,
            config_cls=InfoVAEGANConfig,
            trainer_cls=InfoVAEGANTrainer,
            trainer_config_cls=InfoVAEGANTrainerConfig,
            read_saved_config=config_from_saved,
        )
    )
    install()

