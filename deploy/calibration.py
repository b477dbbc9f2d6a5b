"""Real images for an export: calibrating int8 and checking parity on one part, measuring the
reduced-precision variants on another.

The images come from a data set named by the caller, else from the one the model was trained
on (:func:`infovaegan_plugin.saved_models.recorded_dataset`). They are split once, with a
fixed seed, into a calibration part and a held-out part, so an int8 model is not graded on the
images it was tuned to. Without real images the exporter falls back to images the fp32
generator samples from its prior (and dynamic int8).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CalibrationError", "DEFAULT_CALIBRATION_SIZE", "RealImages", "SPLIT_SEED",
           "find_real_images", "held_out_deviation", "split_images"]

#: Images used to calibrate int8 and check parity; as many again are held out for measuring.
DEFAULT_CALIBRATION_SIZE = 512
SPLIT_SEED = 0


class CalibrationError(ValueError):
    """The data set asked for cannot calibrate this model; ``needs_data_dir`` says whether a
    data folder would help."""

    def __init__(self, message: str, needs_data_dir: bool = False) -> None:
        super().__init__(message)
        self.needs_data_dir = needs_data_dir


@dataclass(frozen=True)
class RealImages:
    """Real images split into a calibration part and a held-out part, and where they came from."""

    calibration: np.ndarray
    held_out: np.ndarray
    source: str


def split_images(images: np.ndarray, size: int, label: str) -> RealImages:
    """A seeded calibration subset of ``size`` images and up to as many other images held out."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    calibration = np.ascontiguousarray(images[np.sort(order[:size])])
    rest = order[size : 2 * size]
    if len(rest) == 0:
        return RealImages(calibration, calibration, f"{label}: {len(calibration)} images "
                          "(too few to hold any out: measured on the calibration images)")
    held_out = np.ascontiguousarray(images[np.sort(rest)])
    return RealImages(calibration, held_out, f"{label}: {len(held_out)} held-out images")


def _load(source: str, data_dir: Path | None, input_dim: tuple[int, ...] | None, size: int):
    """The images of a named data set or a path, checked against the model's input shape."""
    from infovaegan_plugin.data import load_dataset

    kw: dict[str, Any] = {}
    if source == "dsprites" and data_dir is None:  # procedural: render only what is needed
        kw = {"n": 2 * size, "seed": SPLIT_SEED}
    # MNIST's test split: images the training run never saw.
    split = "test" if source == "mnist" else "train"
    data = load_dataset(source, data_dir, split=split, **kw)
    if input_dim is not None and tuple(data.images.shape[1:]) != tuple(input_dim):
        raise ValueError(
            f"{source} has images of shape {tuple(data.images.shape[1:])}, but the model takes "
            f"{tuple(input_dim)}."
        )
    return data


def find_real_images(model_dir: Path, calibration: str | None, data_dir: Path | None,
                     size: int = DEFAULT_CALIBRATION_SIZE) -> tuple[RealImages | None, str | None]:
    """Real images for calibration and measurement, or ``(None, why not)``.

    ``calibration``: a data set name or a path; one that cannot be used raises
    :class:`CalibrationError`. Without it the data set the model was trained on is used; one
    that cannot be loaded (e.g. MNIST without ``data_dir``) only leads to the fallback.
    """
    from infovaegan_plugin.data import DataError, loader_for_recorded
    from infovaegan_plugin.saved_models import recorded_dataset, saved_input_dim

    input_dim = saved_input_dim(model_dir)
    if calibration is not None:
        try:
            data = _load(calibration, data_dir, input_dim, size)
        except (DataError, ValueError, OSError) as exc:
            raise CalibrationError(f"{calibration}: {exc}", "data_dir" in str(exc)) from None
        return split_images(data.images, size, calibration), None
    recorded = recorded_dataset(model_dir)
    if recorded is None:
        return None, "no --calibration given and no training-run metrics.json names the data set"
    loader = loader_for_recorded(recorded)
    if loader is None:
        return None, (f"the run was trained on {recorded!r}, a path it does not record; "
                      "pass --calibration PATH")
    try:
        data = _load(loader, data_dir, input_dim, size)
    except (DataError, ValueError, OSError) as exc:
        hint = " (give it with --data-dir)" if "data_dir" in str(exc) else ""
        return None, f"the recorded data set {recorded!r} cannot be loaded ({exc}){hint}"
    return split_images(data.images, size, loader), None


def held_out_deviation(encoder_path: Path, variants: dict[str, Any], images: np.ndarray,
                       label: str) -> dict[str, dict[str, Any]]:
    """Each variant's encoder against the fp32 encoder on held-out real ``images``."""
    from infovaegan_plugin.deploy.quantize import encoder_deviation
    from infovaegan_plugin.deploy.runtime import OnnxEncoder

    reference = OnnxEncoder(encoder_path, providers="cpu")
    report = {}
    for name, variant in variants.items():
        candidate = OnnxEncoder(variant.encoder_path, providers="cpu")
        report[name] = {**encoder_deviation(reference, candidate, images), "images": label}
    return report
