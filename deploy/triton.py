"""Triton Inference Server model repository for an exported encoder/generator pair.

Triton's ONNX Runtime backend needs one folder per model with a ``config.pbtxt`` and the
file under a numeric version folder. The config's tensors are read from the ONNX graph itself
(never typed by hand) so a re-export with different latent sizes cannot drift out of sync.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import onnx

__all__ = [
    "ServingSection",
    "TensorSpec",
    "export_parameters",
    "graph_tensor_specs",
    "load_graph",
    "render_config",
    "write_model",
    "write_triton_repository",
]

_TRITON_TYPES = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.BFLOAT16: "TYPE_BF16",
    onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.INT16: "TYPE_INT16",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
    onnx.TensorProto.UINT16: "TYPE_UINT16",
    onnx.TensorProto.UINT32: "TYPE_UINT32",
    onnx.TensorProto.UINT64: "TYPE_UINT64",
    onnx.TensorProto.BOOL: "TYPE_BOOL",
    onnx.TensorProto.STRING: "TYPE_STRING",
}


@dataclass(frozen=True)
class TensorSpec:
    """One graph input/output as Triton sees it: dims ``-1`` where the graph is symbolic."""

    name: str
    data_type: str
    dims: tuple[int, ...]


def graph_tensor_specs(model: onnx.ModelProto) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs) of a graph with full shapes; initializers are not inputs."""
    initializers = {init.name for init in model.graph.initializer}

    def spec(value: onnx.ValueInfoProto) -> TensorSpec:
        tensor = value.type.tensor_type
        if tensor.elem_type not in _TRITON_TYPES:
            name = onnx.TensorProto.DataType.Name(tensor.elem_type)
            raise ValueError(f"tensor {value.name!r} has type {name}, which Triton cannot serve.")
        dims = tuple(
            d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim
        )
        return TensorSpec(value.name, _TRITON_TYPES[tensor.elem_type], dims)

    inputs = [spec(v) for v in model.graph.input if v.name not in initializers]
    outputs = [spec(v) for v in model.graph.output]
    return inputs, outputs


def _batched(specs: list[TensorSpec], source: Path, max_batch_size: int) -> list[TensorSpec]:
    """Drop the leading batch axis, which Triton adds back itself when batching is on."""
    if max_batch_size == 0:
        return specs
    result = []
    for s in specs:
        if not s.dims or s.dims[0] not in (-1, max_batch_size):
            raise ValueError(
                f"{source}: tensor {s.name!r} has shape {list(s.dims)}; with max_batch_size > 0 "
                "its first axis must be a dynamic batch axis. Re-export with a dynamic batch."
            )
        result.append(TensorSpec(s.name, s.data_type, s.dims[1:]))
    return result


def _render_tensors(section: str, specs: list[TensorSpec]) -> list[str]:
    lines = [f"{section} ["]
    for index, s in enumerate(specs):
        dims = ", ".join(str(d) for d in s.dims)
        closing = "  }," if index < len(specs) - 1 else "  }"
        lines += [
            "  {",
            f'    name: "{s.name}"',
            f"    data_type: {s.data_type}",
            f"    dims: [ {dims} ]",
            closing,
        ]
    lines.append("]")
    return lines


def _quote(value: str) -> str:
    """A protobuf text-format string literal (JSON values carry quotes and backslashes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class ServingSection:
    """What a served model's config adds to the tensors: which backend runs the file, how many
    instances, how long the dynamic batcher may wait, a warm-up request before the model is
    reported ready, and free-form parameters (the export's metadata travels there)."""

    backend: str | None = None  # None: Triton's ONNX Runtime backend (platform onnxruntime_onnx)
    instance_count: int | None = None
    max_queue_delay_us: int | None = None
    warmup: bool = False
    parameters: tuple[tuple[str, str], ...] = ()


def _render_warmup(inputs: list[TensorSpec]) -> list[str]:
    lines = ["model_warmup [", "  {", '    name: "zeros"', "    batch_size: 1"]
    for s in inputs:
        dims = ", ".join(str(max(d, 1)) for d in s.dims)
        lines += [
            "    inputs {",
            f'      key: "{s.name}"',
            f"      value {{ data_type: {s.data_type} dims: [ {dims} ] zero_data: true }}",
            "    }",
        ]
    return [*lines, "  }", "]"]


def render_config(
    name: str, inputs: list[TensorSpec], outputs: list[TensorSpec], max_batch_size: int,
    serving: ServingSection | None = None,
) -> str:
    """The ``config.pbtxt`` text for one model (ONNX Runtime backend unless ``serving``
    names another); the tensors are the same whichever backend runs the file."""
    serving = serving or ServingSection()
    runner = (f'backend: "{serving.backend}"' if serving.backend
              else 'platform: "onnxruntime_onnx"')
    lines = [
        f'name: "{name}"',
        runner,
        f"max_batch_size: {max_batch_size}",
        *_render_tensors("input", inputs),
        *_render_tensors("output", outputs),
    ]
    if max_batch_size > 0:
        delay = serving.max_queue_delay_us
        lines.append("dynamic_batching { }" if delay is None
                     else f"dynamic_batching {{ max_queue_delay_microseconds: {delay} }}")
    if serving.instance_count is not None:
        lines.append(f"instance_group [ {{ count: {serving.instance_count} kind: KIND_CPU }} ]")
    if serving.warmup:
        lines += _render_warmup(inputs)
    for key, value in serving.parameters:
        lines.append(f"parameters {{ key: {_quote(key)} value: {{ string_value: {_quote(value)} }} }}")
    return "\n".join(lines) + "\n"


def export_parameters(model: onnx.ModelProto) -> tuple[tuple[str, str], ...]:
    """The export's own metadata (``infovaegan.*``: kind, latent layout, format and plug-in
    version, input shape, ...) as config parameters, so a client can read them from Triton's
    model-config endpoint whichever backend serves the file."""
    return tuple(sorted((p.key, p.value) for p in model.metadata_props
                        if p.key.startswith("infovaegan.")))


def load_graph(source: Path) -> onnx.ModelProto:
    """The ONNX file without its weights' external data, or a ValueError naming it."""
    if not source.is_file():
        raise FileNotFoundError(f"ONNX file not found: {source}")
    try:
        model = onnx.load(str(source), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError; keep the file name in the message
        raise ValueError(f"{source} is not a valid ONNX model: {exc}") from exc
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
        raise ValueError(
            f"{source} keeps weights in external data files; Triton's repository layout here "
            "expects a single self-contained model.onnx."
        )
    return model


def write_model(source: Path, repo: Path, name: str, max_batch_size: int,
                serving: ServingSection | None = None) -> Path:
    """``<repo>/<name>/config.pbtxt`` + ``1/model.onnx``; the tensors come from the graph and
    the export's metadata becomes config parameters. Returns the model folder."""
    model = load_graph(source)
    inputs, outputs = graph_tensor_specs(model)
    inputs = _batched(inputs, source, max_batch_size)
    outputs = _batched(outputs, source, max_batch_size)
    serving = serving or ServingSection()
    serving = replace(serving, parameters=export_parameters(model) + serving.parameters)
    model_dir = repo / name
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, model_dir / "1" / "model.onnx")
    (model_dir / "config.pbtxt").write_text(
        render_config(name, inputs, outputs, max_batch_size, serving), encoding="utf-8"
    )
    return model_dir


def write_triton_repository(
    encoder_onnx: str | Path,
    generator_onnx: str | Path,
    repo_dir: str | Path,
    name_prefix: str = "infovaegan",
    max_batch_size: int = 256,
) -> Path:
    """Write ``<prefix>_encoder`` and ``<prefix>_generator`` into ``repo_dir`` and return it.

    Existing model folders of the same names are overwritten (re-running is idempotent);
    other models already in the repository are left alone.
    """
    if max_batch_size < 0:
        raise ValueError(f"max_batch_size must be >= 0, got {max_batch_size}.")
    if not name_prefix or any(ch in name_prefix for ch in '/\\" '):
        raise ValueError(f"name_prefix must be a plain name, got {name_prefix!r}.")
    repo = Path(repo_dir)
    repo.mkdir(parents=True, exist_ok=True)
    write_model(Path(encoder_onnx), repo, f"{name_prefix}_encoder", max_batch_size)
    write_model(Path(generator_onnx), repo, f"{name_prefix}_generator", max_batch_size)
    return repo
