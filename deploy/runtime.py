"""ONNX Runtime inference for exported InfoVAEGAN encoders and generators.

This module is what services import, so it depends on numpy and onnxruntime only (no torch,
no onnx): everything it needs to know about a model (image shape, pixel scaling, latent
layout) is read from the metadata stamped at export time via ``session.get_modelmeta()``.

One :class:`OnnxEncoder` / :class:`OnnxGenerator` holds one ``InferenceSession`` and no
per-call state, so a single instance can serve many threads (ORT's ``run`` is thread-safe).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import io
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort

from ..inputs import InvalidInputError, describe_dtype, non_finite_error, prepare_images
from . import metadata as md

__all__ = [
    "InvalidInputError",
    "InvalidModelError",
    "OnnxEncoder",
    "OnnxGenerator",
    "ProviderUnavailableError",
    "cuda_unavailable_reason",
    "make_session_options",
    "prepare_images",
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
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


class ProviderUnavailableError(RuntimeError):
    """An execution provider was asked for explicitly but cannot run on this machine."""


class InvalidModelError(ValueError):
    """The file is not a loadable ONNX model, or not an InfoVAEGAN export of the right kind."""


# --------------------------------------------------------------------------- providers


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


# --------------------------------------------------------------------------- input checks


def _describe_dtype(dtype: np.dtype) -> str:
    return describe_dtype(str(dtype), dtype.kind)


def _check_finite(name: str, array: np.ndarray) -> None:
    if array.dtype.kind != "f":
        return
    finite = np.isfinite(array)
    if not finite.all():
        n_nan = int(np.isnan(array).sum())
        raise non_finite_error(name, n_nan, int(array.size - finite.sum() - n_nan))


# --------------------------------------------------------------------------- sessions


class _OnnxModel:
    """A validated session for one exported file; subclasses add the kind-specific API."""

    kind: ClassVar[str]

    def __init__(
        self,
        path: str | os.PathLike[str],
        providers: str | Sequence[str] = "auto",
        batch_size: int = 256,
        intra_op_num_threads: int | None = None,
        inter_op_num_threads: int | None = None,
        graph_optimization_level: str | ort.GraphOptimizationLevel = "all",
        log_severity_level: int = 3,
    ) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.batch_size = int(batch_size)
        self.path = self._resolve_path(path)
        options = make_session_options(
            intra_op_num_threads, inter_op_num_threads, graph_optimization_level,
            log_severity_level,
        )
        provider_list = resolve_providers(providers)
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=provider_list
            )
        except Exception as exc:  # ORT raises its own pybind classes (InvalidProtobuf, Fail...)
            raise InvalidModelError(
                f"{self.path} is not a loadable ONNX model: {exc}"
            ) from exc
        self.metadata = self._read_metadata()
        self.input_shape: tuple[int, int, int] = self._read_input_shape()
        self.normalisation: dict[str, Any] = {
            **md.DEFAULT_NORMALISATION, **(self.metadata.get(md.NORMALISATION) or {})
        }
        self._inputs = {i.name: i for i in self._session.get_inputs()}
        self.output_names: list[str] = [o.name for o in self._session.get_outputs()]

    @classmethod
    def _resolve_path(cls, path: str | os.PathLike[str]) -> Path:
        target = Path(path)
        if target.is_dir():  # an export folder: pick our kind's file
            target = target / f"{cls.kind}.onnx"
        if not target.is_file():
            raise FileNotFoundError(f"ONNX {cls.kind} file not found: {target}")
        return target

    def _read_metadata(self) -> dict[str, Any]:
        props = dict(self._session.get_modelmeta().custom_metadata_map)
        try:
            decoded = md.decode_metadata(props)
        except ValueError as exc:
            raise InvalidModelError(f"{self.path}: corrupt InfoVAEGAN metadata: {exc}") from exc
        kind = decoded.get(md.KIND)
        if kind is None:
            raise InvalidModelError(
                f"{self.path} is an ONNX model but not an InfoVAEGAN export: it has no "
                f"{md.KIND!r} metadata. Export models with infovaegan_plugin.deploy.export."
            )
        if kind != self.kind:
            other = "OnnxGenerator" if kind == "generator" else "OnnxEncoder"
            article = "an" if self.kind[0] in "aeiou" else "a"
            raise InvalidModelError(
                f"{self.path} is an InfoVAEGAN {kind}, not {article} {self.kind} "
                f"({md.KIND}={kind!r}); load it with {other}."
            )
        version = decoded.get(md.FORMAT_VERSION, md.CURRENT_FORMAT_VERSION)
        if not isinstance(version, int) or version > md.CURRENT_FORMAT_VERSION:
            raise InvalidModelError(
                f"{self.path} uses metadata format {version!r}; this runtime reads up to "
                f"{md.CURRENT_FORMAT_VERSION}. Upgrade infovaegan-plugin."
            )
        return decoded

    def _read_input_shape(self) -> tuple[int, int, int]:
        shape = self.metadata.get(md.INPUT_SHAPE)
        if (
            not isinstance(shape, list)
            or len(shape) != 3
            or not all(isinstance(d, int) and d > 0 for d in shape)
        ):
            raise InvalidModelError(
                f"{self.path}: metadata {md.INPUT_SHAPE} must be [C, H, W], got {shape!r}."
            )
        return (shape[0], shape[1], shape[2])

    @property
    def providers(self) -> list[str]:
        """The execution providers the session actually uses, in priority order."""
        return list(self._session.get_providers())

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    def _input_dtype(self, name: str) -> type:
        return _ORT_DTYPES.get(self._inputs[name].type, np.float32)

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run in chunks of ``batch_size`` rows so memory stays bounded for large inputs."""
        feeds = {k: np.ascontiguousarray(v, dtype=self._input_dtype(k)) for k, v in feeds.items()}
        n = len(next(iter(feeds.values())))
        if n == 0:  # ORT kernels do not all accept empty batches: run one row, keep none
            probe = {k: np.zeros((1, *v.shape[1:]), dtype=v.dtype) for k, v in feeds.items()}
            return {k: v[:0] for k, v in self._run(probe).items()}
        chunks: list[list[np.ndarray]] = []
        for start in range(0, n, self.batch_size):
            part = {k: v[start : start + self.batch_size] for k, v in feeds.items()}
            chunks.append(self._session.run(None, part))
        return {
            name: np.concatenate([c[i] for c in chunks]).astype(np.float32, copy=False)
            for i, name in enumerate(self.output_names)
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, providers={self.providers})"


class OnnxEncoder(_OnnxModel):
    """Images -> codes, from an exported ``encoder.onnx``."""

    kind = "encoder"

    def __init__(self, path: str | os.PathLike[str], providers: str | Sequence[str] = "auto",
                 batch_size: int = 256, intra_op_num_threads: int | None = None,
                 inter_op_num_threads: int | None = None,
                 graph_optimization_level: str | ort.GraphOptimizationLevel = "all",
                 log_severity_level: int = 3) -> None:
        super().__init__(path, providers, batch_size, intra_op_num_threads,
                         inter_op_num_threads, graph_optimization_level, log_severity_level)
        if len(self._inputs) != 1:
            raise InvalidModelError(
                f"{self.path}: an encoder has one input, this graph has {self.input_names}."
            )
        self._input_name = self.input_names[0]
        missing = [o for o in md.ENCODER_OUTPUTS if o not in self.output_names]
        if missing:
            raise InvalidModelError(f"{self.path}: encoder graph lacks outputs {missing}.")

    def encode(self, images: Any) -> dict[str, np.ndarray]:
        """Codes of ``images`` as float32 arrays keyed by the graph's output names.

        ``categorical_probs``/``categorical_logits`` (N, sum of categorical sizes),
        ``continuous_mean``/``continuous_logvar`` (N, continuous_dim), ``features``, and
        ``noise_mean``/``noise_logvar`` when the model infers the noise.
        """
        batch = prepare_images(images, self.input_shape, self.normalisation)
        return self._run({self._input_name: batch})


class OnnxGenerator(_OnnxModel):
    """Codes -> images, from an exported ``generator.onnx``."""

    kind = "generator"

    def __init__(self, path: str | os.PathLike[str], providers: str | Sequence[str] = "auto",
                 batch_size: int = 256, intra_op_num_threads: int | None = None,
                 inter_op_num_threads: int | None = None,
                 graph_optimization_level: str | ort.GraphOptimizationLevel = "all",
                 log_severity_level: int = 3) -> None:
        super().__init__(path, providers, batch_size, intra_op_num_threads,
                         inter_op_num_threads, graph_optimization_level, log_severity_level)
        try:
            layout = md.validate_latent_layout(self.metadata.get(md.LATENT_LAYOUT))
        except ValueError as exc:
            raise InvalidModelError(f"{self.path}: {exc}") from exc
        self.latent_layout: list[dict[str, Any]] = layout
        self.noise_dim = sum(b["size"] for b in layout if b["kind"] == "noise")
        self.noise_std = next((float(b.get("std", 1.0)) for b in layout if b["kind"] == "noise"), 1.0)
        self.categorical_sizes = [b["size"] for b in layout if b["kind"] == "categorical"]
        self.continuous_dim = sum(b["size"] for b in layout if b["kind"] == "continuous")
        priors = [b["prior"] for b in layout if b["kind"] == "continuous"]
        self.continuous_prior = priors[0] if priors else "uniform"
        widths = {
            "noise": self.noise_dim,
            "categorical": sum(self.categorical_sizes),
            "continuous": self.continuous_dim,
        }
        unknown = [name for name in self.input_names if name not in widths]
        if unknown:
            raise InvalidModelError(
                f"{self.path}: generator inputs must be among {list(widths)}, got {unknown}."
            )
        for name in self.input_names:
            dim = self._inputs[name].shape[-1]
            if isinstance(dim, int) and dim != widths[name]:
                raise InvalidModelError(
                    f"{self.path}: input {name!r} has width {dim} but the latent layout in "
                    f"the metadata says {widths[name]}."
                )
        self._widths = widths

    # ------------------------------------------------------------------ code parsing

    def _categorical_one_hot(self, categorical: Any, n: int) -> np.ndarray:
        sizes, total = self.categorical_sizes, sum(self.categorical_sizes)
        array = np.asarray(categorical)
        if array.dtype.kind not in "iufb":
            raise InvalidInputError(
                f"categorical has dtype {_describe_dtype(array.dtype)}; expected class "
                "indices (int) or one-hot/probability rows (float)."
            )
        if array.ndim == 0:
            array = np.full((n, 1), array)
        if array.ndim == 2 and array.shape[1] == total:  # one-hot or probabilities
            _check_finite("categorical", array)
            rows = array.astype(np.float32)
            start = 0
            for index, size in enumerate(sizes):
                block = rows[:, start : start + size]
                if block.size and (block.min() < -1e-6 or block.max() > 1 + 1e-6):
                    raise InvalidInputError(
                        f"categorical code {index}: one-hot/probability values must lie in "
                        f"[0, 1], got min {block.min():.4g} and max {block.max():.4g}."
                    )
                worst = float(np.abs(block.sum(axis=1) - 1).max()) if block.size else 0.0
                if worst > 1e-3:
                    raise InvalidInputError(
                        f"categorical code {index}: each row's {size} values must sum to 1 "
                        f"(one-hot or probabilities); the worst row is off by {worst:.4g}."
                    )
                start += size
            return rows
        if array.ndim == 1 and len(sizes) == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != len(sizes):
            index_shape = "(N,)" if len(sizes) == 1 else f"(N, {len(sizes)})"
            raise InvalidInputError(
                f"categorical must be class indices of shape {index_shape} or one-hot rows of "
                f"shape (N, {total}); got {array.shape}."
            )
        if array.dtype.kind == "f":
            _check_finite("categorical", array)
            if not np.array_equal(array, np.round(array)):
                raise InvalidInputError(
                    "categorical class indices must be whole numbers; pass one-hot rows of "
                    f"shape (N, {total}) for soft codes."
                )
        indices = array.astype(np.int64)
        rows = np.zeros((len(indices), total), dtype=np.float32)
        start = 0
        for index, size in enumerate(sizes):
            column = indices[:, index]
            if column.size and (column.min() < 0 or column.max() >= size):
                raise InvalidInputError(
                    f"categorical code {index} has {size} classes (0..{size - 1}), got "
                    f"indices from {column.min()} to {column.max()}."
                )
            rows[np.arange(len(column)), start + column] = 1.0
            start += size
        return rows

    def _dense(self, name: str, value: Any, width: int) -> np.ndarray:
        array = np.asarray(value)
        if array.dtype.kind not in "iuf":
            raise InvalidInputError(
                f"{name} has dtype {_describe_dtype(array.dtype)}; expected floats."
            )
        if array.ndim == 1 and width == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != width:
            raise InvalidInputError(f"{name} must have shape (N, {width}), got {array.shape}.")
        _check_finite(name, array)
        return array.astype(np.float32)

    @staticmethod
    def _rows(value: Any) -> int | None:
        if value is None:
            return None
        shape = np.shape(value)
        return int(shape[0]) if shape else None

    def _batch_size_of(self, n: int | None, **given: Any) -> int:
        counts = {name: rows for name, v in given.items() if (rows := self._rows(v)) is not None}
        if n is not None:
            if int(n) < 0:
                raise InvalidInputError(f"n must be >= 0, got {n}.")
            counts = {"n": int(n), **counts}
        if not counts:
            if any(v is not None for v in given.values()):
                return 1  # only scalars given: one image
            raise InvalidInputError("generate() needs n or at least one of categorical, "
                                    "continuous, noise.")
        if len(set(counts.values())) > 1:
            raise InvalidInputError(f"inconsistent batch sizes: {counts}.")
        return next(iter(counts.values()))

    # ------------------------------------------------------------------ public API

    def sample_codes(
        self,
        n: int | None = None,
        categorical: Any = None,
        continuous: Any = None,
        noise: Any = None,
        seed: int | None = 0,
    ) -> dict[str, np.ndarray]:
        """The generator inputs :meth:`generate` would feed: ``noise``, one-hot
        ``categorical`` and ``continuous`` as float32 ``(N, width)`` arrays.

        Exposed so callers can keep the codes behind generated images (e.g. as labels) and
        so two generators (fp32 vs int8) can be compared on identical inputs.
        """
        n_rows = self._batch_size_of(n, categorical=categorical, continuous=continuous,
                                     noise=noise)
        noise_rng, cat_rng, cont_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
        )
        if noise is None:
            noise_arr = (noise_rng.standard_normal((n_rows, self.noise_dim)) * self.noise_std).astype(
                np.float32
            )
        else:
            noise_arr = self._dense("noise", noise, self.noise_dim)
        if categorical is None:
            indices = np.stack(
                [cat_rng.integers(0, k, size=n_rows) for k in self.categorical_sizes], axis=1
            ) if self.categorical_sizes else np.zeros((n_rows, 0), dtype=np.int64)
            cat_arr = self._categorical_one_hot(indices, n_rows)
        else:
            cat_arr = self._categorical_one_hot(categorical, n_rows)
        if continuous is None:
            shape = (n_rows, self.continuous_dim)
            sampled = (
                cont_rng.uniform(-1.0, 1.0, size=shape)
                if self.continuous_prior == "uniform"
                else cont_rng.standard_normal(shape)
            )
            cont_arr = sampled.astype(np.float32)
        else:
            cont_arr = self._dense("continuous", continuous, self.continuous_dim)
        return {"noise": noise_arr, "categorical": cat_arr, "continuous": cont_arr}

    def decode(self, codes: Mapping[str, np.ndarray]) -> np.ndarray:
        """Images from complete generator inputs (as returned by :meth:`sample_codes`)."""
        missing = [name for name in self.input_names if name not in codes]
        if missing:
            raise InvalidInputError(f"codes lack {missing}; give all of {self.input_names}.")
        feeds = {name: self._dense(name, codes[name], self._widths[name])
                 for name in self.input_names}
        if len({len(v) for v in feeds.values()}) > 1:
            raise InvalidInputError(
                f"inconsistent batch sizes: { {k: len(v) for k, v in feeds.items()} }."
            )
        images = self._run(feeds)[self.output_names[0]]
        return np.clip(images, 0.0, 1.0, out=images)

    def generate(
        self,
        n: int | None = None,
        categorical: Any = None,
        continuous: Any = None,
        noise: Any = None,
        seed: int | None = 0,
    ) -> np.ndarray:
        """Images ``(N, C, H, W)`` float32 in ``[0, 1]`` from codes; missing codes are sampled.

        ``categorical``: class indices ``(N,)`` (one code) or ``(N, n_codes)``, a scalar class
        for every image, or one-hot/probability rows ``(N, sum of sizes)``. ``continuous``:
        ``(N, continuous_dim)``. ``noise``: ``(N, noise_dim)``. Missing blocks are drawn from
        the priors in the metadata with independent streams of ``seed``, so fixing a code
        leaves the sampled values of the others unchanged.
        """
        return self.decode(self.sample_codes(n, categorical, continuous, noise, seed))

    def _continuous_index(self, code: str | int) -> int:
        if self.continuous_dim == 0:
            raise InvalidInputError("this model has no continuous code to traverse.")
        index: int | None = None
        if isinstance(code, (int, np.integer)) and not isinstance(code, bool):
            index = int(code)
        elif isinstance(code, str):
            name = code.strip()
            for prefix in ("continuous:", "continuous_", "continuous", "c"):
                tail = name[len(prefix):]
                if name.startswith(prefix) and tail.isdigit():
                    index = int(tail)
                    break
            if name == "continuous" and self.continuous_dim == 1:
                index = 0
        if index is None or not 0 <= index < self.continuous_dim:
            raise InvalidInputError(
                f"code must be a continuous dimension 0..{self.continuous_dim - 1} (an int or "
                f"'continuous:<i>'), got {code!r}."
            )
        return index

    def traverse(
        self,
        code: str | int = 0,
        values: Sequence[float] | np.ndarray | None = None,
        fixed: Mapping[str, Any] | None = None,
        categorical_code: int = 0,
        seed: int | None = 0,
    ) -> np.ndarray:
        """Latent traversal grid ``(R, K, C, H, W)``: rows are the classes of one categorical
        code, columns the ``values`` of one continuous dimension ``code``.

        Everything else is held fixed across the grid: ``fixed`` may give ``"noise"``
        ``(noise_dim,)``, ``"continuous"`` ``(continuous_dim,)`` (the other dimensions'
        values, default 0) and ``"categorical"`` (class index per code, default 0; the row
        code is overridden). Noise not given is one draw from ``seed``. ``values`` defaults
        to 7 points over the prior's typical range ([-1, 1] uniform, [-2, 2] normal).
        """
        dim = self._continuous_index(code)
        fixed = dict(fixed or {})
        unknown = set(fixed) - {"noise", "continuous", "categorical"}
        if unknown:
            raise InvalidInputError(
                f"fixed accepts 'noise', 'continuous', 'categorical'; got {sorted(unknown)}."
            )
        if values is None:
            span = 1.0 if self.continuous_prior == "uniform" else 2.0
            values = np.linspace(-span, span, 7)
        column_values = np.asarray(values, dtype=np.float64).reshape(-1)
        _check_finite("values", column_values)
        n_cols = len(column_values)
        if n_cols == 0:
            raise InvalidInputError("values must hold at least one value.")

        n_codes = len(self.categorical_sizes)
        if n_codes and not 0 <= categorical_code < n_codes:
            raise InvalidInputError(
                f"categorical_code must be 0..{n_codes - 1}, got {categorical_code}."
            )
        n_rows = self.categorical_sizes[categorical_code] if n_codes else 1
        base_cat = np.asarray(fixed.get("categorical", np.zeros(n_codes, dtype=np.int64)))
        if base_cat.shape != (n_codes,):
            raise InvalidInputError(
                f"fixed['categorical'] must hold {n_codes} class indices, got {base_cat.shape}."
            )
        base_cont = fixed.get("continuous", np.zeros(self.continuous_dim))
        base_cont = self._dense("fixed['continuous']", np.reshape(base_cont, (1, -1)),
                                self.continuous_dim)[0]
        if "noise" in fixed:
            base_noise = self._dense("fixed['noise']", np.reshape(fixed["noise"], (1, -1)),
                                     self.noise_dim)[0]
        else:
            rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
            base_noise = (rng.standard_normal(self.noise_dim) * self.noise_std).astype(np.float32)

        total = n_rows * n_cols
        categorical = np.tile(base_cat, (total, 1))
        if n_codes:
            categorical[:, categorical_code] = np.repeat(np.arange(n_rows), n_cols)
        continuous = np.tile(base_cont, (total, 1))
        continuous[:, dim] = np.tile(column_values, n_rows)
        noise = np.tile(base_noise, (total, 1))
        images = self.generate(categorical=categorical, continuous=continuous, noise=noise)
        return images.reshape(n_rows, n_cols, *images.shape[1:])
