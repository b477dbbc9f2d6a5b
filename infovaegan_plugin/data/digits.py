"""scikit-learn's 8x8 digits: a real, labelled, offline data set small enough for CI."""

from __future__ import annotations

import numpy as np

from .base import ImageData, validate_images


def load_digits_data() -> ImageData:
    """The 1,797 digits as (N, 1, 8, 8) in [0, 1] (grey levels 0..16 divided by 16), labels 0-9.

    Ships inside scikit-learn, so tests and smoke runs never need a download.
    """
    from sklearn.datasets import load_digits  # deferred: sklearn import costs ~1 s

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    return ImageData(
        images=validate_images(images, expected_shape=(1, 8, 8), name="digits"),
        labels=bunch.target.astype(np.int64),
        name="digits",
        class_names=tuple(str(d) for d in range(10)),
    )
