"""The one train/held-out split every command and benchmark uses.

MNIST has an official test split, so it is the held-out part; every other source is split
with :meth:`ImageData.split` under a seed, so a training run and its later evaluation (same
seed) see the same held-out images.
"""

from __future__ import annotations

import os

from .base import ImageData
from .registry import load_dataset

#: dSprites images rendered (or drawn from the npz) when no ``limit`` is given: the whole
#: grid would take 12 GB as float32.
DSPRITES_DEFAULT_IMAGES = 20000


def train_held_out(
    dataset: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    eval_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[ImageData, ImageData]:
    """``(train, held_out)`` of a named data set or a path.

    ``limit``: MNIST keeps the first N of each split, dSprites draws N images (default
    :data:`DSPRITES_DEFAULT_IMAGES`) with ``seed``, other sources keep their first N.
    ``seed`` also seeds the hold-out of sources without a test split.
    """
    if dataset == "mnist":
        train = load_dataset("mnist", data_dir, split="train", limit=limit)
        return train, load_dataset("mnist", data_dir, split="test", limit=limit)
    if dataset == "dsprites":
        data = load_dataset("dsprites", data_dir, n=limit or DSPRITES_DEFAULT_IMAGES, seed=seed)
    else:
        data = load_dataset(dataset, data_dir, split="train")
        if limit is not None:
            data = data.subset(slice(0, limit))
    return data.split(eval_fraction, seed)


__all__ = ["DSPRITES_DEFAULT_IMAGES", "train_held_out"]
