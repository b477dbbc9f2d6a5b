"""Data loaders: every source ends as an ImageData, float32 (N, C, H, W) in [0, 1].

See docs/ARCHITECTURE.md ("Data API"). Nothing here downloads unless asked
(:func:`download_mnist`).
"""

from .arrays import load_array_file
from .base import DataError, ImageData, to_pythae_dataset, validate_images, validate_labels
from .digits import load_digits_data
from .dsprites import (
    DSPRITES_DEFAULT_N,
    DSPRITES_N_IMAGES,
    IMAGE_SIZE,
    SHAPE_NAMES,
    classes_to_index,
    classes_to_values,
    index_to_classes,
    latents_bases,
    latents_names,
    latents_possible_values,
    latents_sizes,
    load_dsprites,
    load_dsprites_npz,
    render,
    sample_factors,
)
from .images import load_image_folder
from .mnist import MNIST_MD5, MNIST_MIRRORS, download_mnist, load_mnist, parse_idx, read_idx
from .registry import (
    DSPRITES_NPZ_NAME,
    SPLITS,
    available_datasets,
    is_named,
    load_dataset,
    loader_for_recorded,
)
from .splits import DSPRITES_DEFAULT_IMAGES, train_held_out

__all__ = [
    "ImageData",
    "DataError",
    "to_pythae_dataset",
    "validate_images",
    "validate_labels",
    "load_dataset",
    "available_datasets",
    "is_named",
    "loader_for_recorded",
    "train_held_out",
    "DSPRITES_DEFAULT_IMAGES",
    "SPLITS",
    "load_mnist",
    "download_mnist",
    "read_idx",
    "parse_idx",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "load_digits_data",
    "load_dsprites",
    "load_dsprites_npz",
    "DSPRITES_NPZ_NAME",
    "load_array_file",
    "load_image_folder",
    "latents_names",
    "latents_sizes",
    "latents_bases",
    "latents_possible_values",
    "DSPRITES_N_IMAGES",
    "DSPRITES_DEFAULT_N",
    "SHAPE_NAMES",
    "IMAGE_SIZE",
    "index_to_classes",
    "classes_to_index",
    "classes_to_values",
    "sample_factors",
    "render",
]
