"""The session base shared by :class:`OnnxEncoder` and :class:`OnnxGenerator`.

:class:`OnnxSession` opens one ``InferenceSession`` on verified providers, refuses files that
are not InfoVAEGAN exports of its kind (or whose metadata is newer than this runtime), reads
the image shape and pixel scaling from the metadata, and runs feeds in bounded chunks. It keeps
no per-call state, so one instance can serve many threads (ORT's ``run`` is thread-safe).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.providers import make_session_options, resolve_providers
from infovaegan_plugin.inputs import image_shape_error
from infovaegan_plugin.layout import LatentLayout

__all__ = ["InvalidModelError", "OnnxSession"]

_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


class InvalidModelError(ValueError):
    """The file is not a loadable ONNX model, or not an InfoVAEGAN export of the right kind."""


class OnnxSession:
    """A validated session for one exported file; subclasses add the kind-specific API.

    ``path``: the ``.onnx`` file or an export folder (the subclass's ``<kind>.onnx`` is
    picked). ``providers``: see :func:`~infovaegan_plugin.deploy.providers.resolve_providers`.
    ``batch_size``: rows per ``run`` call (bounded memory for large inputs). The thread
    counts, optimisation level and log level go to
    :func:`~infovaegan_plugin.deploy.providers.make_session_options`. Subclasses check their
    graph in :meth:`_check_graph`.
    """

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
        self._check_graph()

    def _check_graph(self) -> None:
        """Refuse a graph whose inputs/outputs this kind cannot serve (subclass hook)."""

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
        # images are resized and buffers sized by this shape: bounded before any of that
        too_large = image_shape_error(shape)
        if too_large is not None:
            raise InvalidModelError(f"{self.path}: metadata {md.INPUT_SHAPE} {shape}: "
                                    f"{too_large}.")
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


def read_layout(session: OnnxSession) -> LatentLayout:
    """The session's :class:`LatentLayout`, from its metadata; a missing or malformed one
    makes the file unusable (:class:`InvalidModelError` naming the file)."""
    try:
        return md.layout_from_metadata(session.metadata)
    except ValueError as exc:
        raise InvalidModelError(f"{session.path}: {exc}") from exc
