"""ONNX Runtime inference for exported InfoVAEGAN encoders and generators.

This is the import path services use (``from infovaegan_plugin.deploy.runtime import
OnnxEncoder``); it gathers the runtime's public names from the modules that do each job:

- :mod:`~infovaegan_plugin.deploy.providers`: can CUDA really run here, which execution
  providers to ask for, session options.
- :mod:`~infovaegan_plugin.deploy.input_checks`: checks of the codes callers pass (images
  follow the library-wide contract of :mod:`infovaegan_plugin.inputs`).
- :mod:`~infovaegan_plugin.deploy.session`: the session base (file and metadata validation,
  chunked runs).
- :mod:`~infovaegan_plugin.deploy.encoder_runtime` / ``generator_runtime``:
  :class:`OnnxEncoder` and :class:`OnnxGenerator`.

All of them depend on numpy and onnxruntime only (no torch, no onnx): everything the runtime
needs to know about a model (image shape, pixel scaling, latent layout) is read from the
metadata stamped at export time via ``session.get_modelmeta()``. One :class:`OnnxEncoder` /
:class:`OnnxGenerator` holds one ``InferenceSession`` and no per-call state, so a single
instance can serve many threads (ORT's ``run`` is thread-safe).
"""

from __future__ import annotations

from infovaegan_plugin.deploy.encoder_runtime import OnnxEncoder
from infovaegan_plugin.deploy.generator_runtime import OnnxGenerator
from infovaegan_plugin.deploy.providers import (
    CPU,
    CUDA,
    ProviderUnavailableError,
    cuda_unavailable_reason,
    make_session_options,
    resolve_providers,
)
from infovaegan_plugin.deploy.session import InvalidModelError, OnnxSession
from infovaegan_plugin.inputs import InvalidInputError, prepare_images

__all__ = [
    "CPU",
    "CUDA",
    "InvalidInputError",
    "InvalidModelError",
    "OnnxEncoder",
    "OnnxGenerator",
    "OnnxSession",
    "ProviderUnavailableError",
    "cuda_unavailable_reason",
    "make_session_options",
    "prepare_images",
    "resolve_providers",
]
