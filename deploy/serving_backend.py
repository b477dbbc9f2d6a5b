"""The model Triton's Python backend runs for ``infovaegan serve``: one ONNX Runtime session
per model instance, fed the requests the dynamic batcher gathered as one batch.

Triton checks names, data types, shapes and the batch limit against ``config.pbtxt`` before
a request reaches this code; what it cannot know (NaN or infinite values, pixels outside the
model's range) is checked here per request, so one bad request in a batch gets an error
answer and the good requests batched with it still get their codes. The tensors are the
graph's own (``1/model.onnx``, the same file and config tensors ``export --triton`` writes), so
a client cannot tell this server from Triton's ONNX Runtime backend except by better errors.

This module is imported by Triton's Python backend stub, where ``triton_python_backend_utils``
exists; everything else here is numpy and the torch-free runtime.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.encoder_runtime import OnnxEncoder
from infovaegan_plugin.deploy.generator_runtime import OnnxGenerator
from infovaegan_plugin.deploy.session import OnnxSession
from infovaegan_plugin.inputs import InvalidInputError, prepare_images

__all__ = ["THREADS_PARAMETER", "PROVIDERS_PARAMETER", "TritonPythonModel", "request_error"]

#: The ONNX Runtime backend's own name for the same setting, so both configs read alike.
THREADS_PARAMETER = "intra_op_thread_count"
PROVIDERS_PARAMETER = "execution_providers"
_RUNTIMES: dict[str, type[OnnxSession]] = {"encoder": OnnxEncoder, "generator": OnnxGenerator}


def request_error(session: OnnxSession, inputs: dict[str, np.ndarray]) -> str | None:
    """Why one request cannot be served (values Triton does not check), or ``None``.

    Encoder images go through the library's input contract (NaN/inf counted, range found vs
    expected); generator codes must be finite.
    """
    if isinstance(session, OnnxEncoder):
        try:
            prepare_images(inputs[session.input_names[0]], session.input_shape,
                           session.normalisation)
        except InvalidInputError as exc:
            return str(exc)
        return None
    for name, values in inputs.items():
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        if bad:
            return f"input {name!r} holds {bad} NaN or infinite value(s); codes must be finite."
    return None


def _all_valid(session: OnnxSession, batch: dict[str, np.ndarray]) -> bool:
    """The fast path: one vectorised check of the whole gathered batch."""
    if isinstance(session, OnnxEncoder):
        images = next(iter(batch.values()))
        return bool(np.isfinite(images).all() and images.min(initial=0.0) >= 0.0
                    and images.max(initial=0.0) <= 1.0)
    return all(bool(np.isfinite(v).all()) for v in batch.values())


def run_requests(session: OnnxSession, requests: Sequence[dict[str, np.ndarray]]
                 ) -> list[dict[str, np.ndarray] | str]:
    """Outputs for each request, or its error message; valid requests run as one batch."""
    names = list(requests[0]) if requests else []
    gathered = {n: np.concatenate([r[n] for r in requests]) for n in names}
    if _all_valid(session, gathered):
        errors: list[str | None] = [None] * len(requests)
    else:
        errors = [request_error(session, r) for r in requests]
        good = [r for r, e in zip(requests, errors) if e is None]
        gathered = {n: np.concatenate([r[n] for r in good]) for n in names} if good else {}
    outputs = session._run(gathered) if gathered else {}
    results: list[dict[str, np.ndarray] | str] = []
    start = 0
    for request, error in zip(requests, errors):
        if error is not None:
            results.append(error)
            continue
        rows = len(next(iter(request.values())))
        results.append({k: v[start:start + rows] for k, v in outputs.items()})
        start += rows
    return results


def _parameters(model_config: dict[str, Any]) -> dict[str, str]:
    return {k: v.get("string_value", "") for k, v in model_config.get("parameters", {}).items()}


def _bad_request(pb_utils: Any, message: str) -> Any:
    """An error the client sees as a bad request (HTTP 400 / gRPC INVALID_ARGUMENT) where the
    backend can say so, not as a server failure."""
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    return (pb_utils.TritonError(message) if code is None
            else pb_utils.TritonError(message, code))


class TritonPythonModel:
    """Triton Python backend entry point (``initialize`` / ``execute`` / ``finalize``)."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        parameters = _parameters(config)
        kind = parameters.get(md.KIND)
        if kind not in _RUNTIMES:
            raise ValueError(f"model {args['model_name']}: parameter {md.KIND!r} must be "
                             f"encoder or generator, got {kind!r}.")
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        threads = int(parameters.get(THREADS_PARAMETER, "1"))
        self.session = _RUNTIMES[kind](
            path, providers=parameters.get(PROVIDERS_PARAMETER, "auto"),
            batch_size=max(1, int(config.get("max_batch_size", 0)) or 256),
            intra_op_num_threads=threads, inter_op_num_threads=1,
        )
        self.input_names = [t["name"] for t in config["input"]]
        self.output_names = [t["name"] for t in config["output"]]

    def execute(self, requests: list[Any]) -> list[Any]:
        import triton_python_backend_utils as pb_utils  # exists only inside Triton

        feeds = [{n: pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in self.input_names}
                 for r in requests]
        responses = []
        for request, result in zip(requests, run_requests(self.session, feeds)):
            if isinstance(result, str):
                responses.append(pb_utils.InferenceResponse(error=_bad_request(pb_utils, result)))
                continue
            wanted = request.requested_output_names() or self.output_names
            responses.append(pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor(n, result[n]) for n in wanted]))
        return responses

    def finalize(self) -> None:
        self.session = None
