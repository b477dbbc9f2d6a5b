"""Execution providers and session options for ONNX Runtime (numpy-free, torch-free).

``get_available_providers()`` only says which providers were compiled in; this module answers
whether CUDA can really run here (:func:`cuda_unavailable_reason`, probed once), turns a
``providers`` argument into a verified list (:func:`resolve_providers`) and builds
``SessionOptions`` from plain arguments (:func:`make_session_options`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import io
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

__all__ = [
    "CPU",
    "CUDA",
    "ProviderUnavailableError",
    "cuda_unavailable_reason",
    "make_session_options",
    "resolve_providers",
]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
_ALIASES = {"cpu": CPU, "cuda": CUDA, "gpu": CUDA, "tensorrt": "TensorrtExecutionProvider"}
_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class ProviderUnavailableError(RuntimeError):
    """An execution provider was asked for explicitly but cannot run on this machine."""


def _cuda_provider_library() -> Path:
    capi = Path(ort.__file__).resolve().parent / "capi"
    if sys.platform == "win32":
        return capi / "onnxruntime_providers_cuda.dll"
    return capi / "libonnxruntime_providers_cuda.so"


def _try_load_cuda_provider(library: Path) -> str | None:
    """dlopen the CUDA provider library; the loader resolves cuBLAS/cuDART/... for us.

    The shared-provider bridge is loaded first with global symbols, as ORT itself does, so the
    only failures left are genuinely missing CUDA libraries.
    """
    shared = library.with_name(library.name.replace("providers_cuda", "providers_shared"))
    mode = getattr(ctypes, "RTLD_GLOBAL", 0)
    try:
        if shared.exists():
            ctypes.CDLL(str(shared), mode=mode)
        ctypes.CDLL(str(library))
    except OSError as exc:
        return str(exc)
    return None


def _cuda_device_count() -> tuple[int, str | None]:
    """Number of visible CUDA devices via the driver API (no CUDA toolkit needed)."""
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        driver = ctypes.CDLL(name)
    except OSError as exc:
        return 0, f"the NVIDIA driver library {name} cannot be loaded ({exc})"
    if driver.cuInit(0) != 0:
        return 0, "cuInit failed: the NVIDIA driver found no usable GPU"
    count = ctypes.c_int(0)
    if driver.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return 0, "no CUDA device is visible (check the driver and CUDA_VISIBLE_DEVICES)"
    return count.value, None


@functools.lru_cache(maxsize=1)
def cuda_unavailable_reason() -> str | None:
    """Why CUDAExecutionProvider cannot run here, or ``None`` when it can. Probed once.

    ``get_available_providers()`` only says the provider was compiled in; onnxruntime-gpu
    lists CUDA even on machines without CUDA libraries and then prints errors and falls back
    at session creation. Loading the provider library ourselves answers the real question
    silently.
    """
    available = ort.get_available_providers()
    if CUDA not in available:
        return (
            f"this onnxruntime build ({ort.__version__}) has no {CUDA} "
            f"(available: {', '.join(available)}); install onnxruntime-gpu instead of onnxruntime"
        )
    library = _cuda_provider_library()
    if not library.exists():
        return f"the CUDA provider library {library} is missing from the onnxruntime install"
    error = _try_load_cuda_provider(library)
    if error is not None and importlib.util.find_spec("nvidia") is not None:
        # CUDA libraries pip-installed as nvidia-* wheels are found only after preloading.
        preload = getattr(ort, "preload_dlls", None)
        if preload is not None:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(Exception):
                    preload(cuda=True, cudnn=True)
            error = _try_load_cuda_provider(library)
    if error is not None:
        build_info = getattr(ort.capi, "build_and_package_info", None)
        cuda_version = getattr(build_info, "cuda_version", "")
        wanted = f"CUDA {cuda_version} " if cuda_version else "CUDA "
        return (
            f"the CUDA provider library cannot load: {error}. Install the {wanted}runtime "
            f"libraries it needs (e.g. pip install 'onnxruntime-gpu[cuda,cudnn]') or put them on "
            f"LD_LIBRARY_PATH"
        )
    _, reason = _cuda_device_count()
    return reason


def resolve_providers(providers: str | Sequence[str] = "auto") -> list[str]:
    """Execution providers to ask ORT for, verified to work on this machine.

    ``"auto"``: CUDA (with CPU fallback for unsupported ops) when CUDA can really load, else
    CPU, silently. ``"cpu"`` / ``"cuda"`` or a list of provider names: exactly those, and a
    :class:`ProviderUnavailableError` saying what is missing when one cannot run.
    """
    if isinstance(providers, str):
        key = providers.strip()
        if key.lower() == "auto":
            return [CUDA, CPU] if cuda_unavailable_reason() is None else [CPU]
        requested = [_ALIASES.get(key.lower(), key)]
        if requested == [CUDA]:
            requested.append(CPU)
    else:
        requested = [_ALIASES.get(str(p).lower(), str(p)) for p in providers]
    if not requested:
        raise ValueError("providers must name at least one execution provider.")
    available = ort.get_available_providers()
    for name in requested:
        if name not in available:
            raise ProviderUnavailableError(
                f"{name} is not available in this onnxruntime build "
                f"(available: {', '.join(available)}). Use providers='auto' or 'cpu'."
            )
        if name == CUDA:
            reason = cuda_unavailable_reason()
            if reason is not None:
                raise ProviderUnavailableError(
                    f"{CUDA} was requested but cannot run: {reason}. "
                    "Use providers='auto' to fall back to CPU."
                )
    return list(dict.fromkeys(requested))


def make_session_options(
    intra_op_num_threads: int | None = None,
    inter_op_num_threads: int | None = None,
    graph_optimization_level: str | ort.GraphOptimizationLevel = "all",
    log_severity_level: int = 3,
) -> ort.SessionOptions:
    """Session options from plain arguments (``None`` thread counts keep ORT's defaults).

    The log level defaults to errors only: ORT's warnings (e.g. nodes placed on CPU next to
    CUDA) are expected for these small graphs and would only add noise to service logs.
    """
    options = ort.SessionOptions()
    if intra_op_num_threads is not None:
        if intra_op_num_threads < 0:
            raise ValueError(f"intra_op_num_threads must be >= 0, got {intra_op_num_threads}.")
        options.intra_op_num_threads = int(intra_op_num_threads)
    if inter_op_num_threads is not None:
        if inter_op_num_threads < 0:
            raise ValueError(f"inter_op_num_threads must be >= 0, got {inter_op_num_threads}.")
        options.inter_op_num_threads = int(inter_op_num_threads)
    if isinstance(graph_optimization_level, str):
        if graph_optimization_level not in _OPT_LEVELS:
            raise ValueError(
                f"graph_optimization_level must be one of {sorted(_OPT_LEVELS)}, "
                f"got {graph_optimization_level!r}."
            )
        graph_optimization_level = _OPT_LEVELS[graph_optimization_level]
    options.graph_optimization_level = graph_optimization_level
    options.log_severity_level = int(log_severity_level)
    return options
