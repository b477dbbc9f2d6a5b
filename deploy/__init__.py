"""Deployment path: torch -> ONNX export, ONNX Runtime inference, Triton model repository.

Installed as ``infovaegan_plugin.deploy``. ``runtime`` imports without torch.

Modules, by what they need installed:

- ``metadata``: standard library + the torch-free ``layout``; the keys every exported file
  carries.
- ``runtime``: numpy + onnxruntime; :class:`OnnxEncoder`, :class:`OnnxGenerator`,
  :func:`resolve_providers`. This is what a serving machine imports. It re-exports the
  modules that do each job, all torch-free: ``providers`` (CUDA probe, execution providers,
  session options), ``input_checks`` (the generator's code arrays), ``session`` (the session
  base), ``encoder_runtime`` and ``generator_runtime``.
- ``triton``: onnx; :func:`write_triton_repository`.
- ``quantize``: onnx + onnxruntime; fp16/int8 variants with measured deviations.
- ``export``: torch; :func:`export_onnx`.

The names below are resolved lazily (PEP 562) so that importing this package, or
``runtime`` through it, never imports torch or onnx.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "OnnxEncoder": "runtime",
    "OnnxGenerator": "runtime",
    "InvalidInputError": "runtime",
    "InvalidModelError": "runtime",
    "ProviderUnavailableError": "runtime",
    "resolve_providers": "runtime",
    "write_triton_repository": "triton",
    "make_variant": "quantize",
    "export_onnx": "export",
    "ExportResult": "export",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
