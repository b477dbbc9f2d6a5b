"""The metadata vocabulary shared by the exporter, the runtime and the Triton writer.

An exported ONNX file must be self-describing: a service that only has ``encoder.onnx`` has
to know the image shape it expects, how pixels are scaled and which latent blocks the
generator takes. That information travels in the model's ``metadata_props`` (string to string)
under the keys below, and again in the ``export_metadata.json`` sidecar for humans and tools
that do not parse ONNX.

Values that are strings are stored as they are (so ``infovaegan.kind`` reads ``encoder`` in
Netron or ``onnx``); everything else is JSON. This module needs only the standard library and
the torch-free :mod:`infovaegan_plugin.layout` (numpy), so that
:mod:`infovaegan_plugin.deploy.runtime` stays importable without torch or onnx.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import metadata as _importlib_metadata
from pathlib import Path
from typing import Any

from infovaegan_plugin.layout import (
    GENERATOR_INPUTS as GENERATOR_INPUTS,  # the ONNX input names
)
from infovaegan_plugin.layout import LatentLayout

PREFIX = "infovaegan."

#: ``"encoder"`` or ``"generator"``: the runtime refuses files without it.
KIND = PREFIX + "kind"
#: Version of the metadata layout; bumped when a key changes meaning.
FORMAT_VERSION = PREFIX + "format_version"
PLUGIN_VERSION = PREFIX + "plugin_version"
#: ``[C, H, W]`` of the images the encoder takes and the generator produces.
INPUT_SHAPE = PREFIX + "input_shape"
#: How raw pixels map to the model's float input, see :data:`NORMALISATION`.
NORMALISATION = PREFIX + "normalisation"
#: ``LatentLayout.to_blocks()`` (= ``model.latent_layout()``): one ``{name, kind, size, prior
#: [, std]}`` per block, generator order; :func:`layout_from_metadata` reads it back.
LATENT_LAYOUT = PREFIX + "latent_layout"
TRAINING_DATASET = PREFIX + "training_dataset"
#: SHA-256 of the ``model.pt`` the ONNX file was exported from (``None`` for in-memory models).
SOURCE_SHA256 = PREFIX + "source_sha256"
#: ``"fp32"``, ``"fp16"`` or ``"int8"``.
PRECISION = PREFIX + "precision"
#: Measured deviation of a reduced-precision variant from the fp32 export.
DEVIATION = PREFIX + "deviation"

#: 1 since the first export; ``LatentLayout`` writes and reads the same ``latent_layout``
#: blocks, so format-1 files of every release load as they are.
CURRENT_FORMAT_VERSION = 1
#: The lowest ONNX opset an export is written with, and the default of every export entry
#: point (``export_onnx``, ``write_export``, ``infovaegan export --opset``). Defined here, in the
#: standard-library-only module, so the command line can use it without importing torch.
MIN_OPSET = 17
KINDS = ("encoder", "generator")
PRECISIONS = ("fp32", "fp16", "int8")

#: Keys whose values are plain strings (everything else is JSON-encoded).
STRING_KEYS = frozenset({KIND, PLUGIN_VERSION, TRAINING_DATASET, SOURCE_SHA256, PRECISION})

#: The image convention of the whole library: float32 in [0, 1]; uint8 pixels are divided by 255.
DEFAULT_NORMALISATION: dict[str, Any] = {
    "dtype": "float32",
    "range": [0.0, 1.0],
    "uint8_scale": 1 / 255,
}

ENCODER_INPUT = "images"
ENCODER_OUTPUTS = (
    "categorical_probs",
    "categorical_logits",
    "continuous_mean",
    "continuous_logvar",
    "features",
)
ENCODER_NOISE_OUTPUTS = ("noise_mean", "noise_logvar")
#: The encoder trunk's last hidden layer (``hidden_dim`` values), an output of exports since
#: 0.2: a richer embedding than the codes for downstream classifiers (older files lack it).
ENCODER_TRUNK_OUTPUT = "trunk_features"
#: ``{output name: what it holds}`` of the encoder outputs meant as embeddings for downstream
#: services (``features``; ``trunk_features`` where the file has it).
EMBEDDINGS = PREFIX + "embeddings"
EMBEDDING_DESCRIPTIONS = {
    "features": "the codes: categorical_probs | continuous_mean | noise_mean (when inferred)",
    ENCODER_TRUNK_OUTPUT: "the encoder trunk's last hidden layer (after BatchNorm and "
                          "LeakyReLU), hidden_dim values",
}
GENERATOR_OUTPUT = "images"

SIDECAR_NAME = "export_metadata.json"


def encode_metadata(values: Mapping[str, Any]) -> dict[str, str]:
    """Turn a metadata dict into ONNX ``metadata_props`` strings (keys must carry the prefix)."""
    encoded: dict[str, str] = {}
    for key, value in values.items():
        if not key.startswith(PREFIX):
            raise ValueError(f"metadata key {key!r} must start with {PREFIX!r}.")
        if key in STRING_KEYS and isinstance(value, str):
            encoded[key] = value
        else:
            encoded[key] = json.dumps(value, sort_keys=True)
    return encoded


def decode_metadata(props: Mapping[str, str]) -> dict[str, Any]:
    """Parse ``metadata_props`` back: our keys JSON-decoded, foreign keys left as strings.

    A string key holding ``null`` (e.g. no training dataset) decodes to ``None``.
    """
    decoded: dict[str, Any] = {}
    for key, raw in props.items():
        if not key.startswith(PREFIX):
            decoded[key] = raw
        elif key in STRING_KEYS:
            decoded[key] = None if raw == "null" else raw
        else:
            try:
                decoded[key] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"metadata {key!r} is not valid JSON: {raw!r} ({exc}).") from exc
    return decoded


def plugin_version() -> str:
    """The installed plug-in's version, preferring the package attribute over dist metadata."""
    try:
        import infovaegan_plugin

        version = getattr(infovaegan_plugin, "__version__", None)
        if version:
            return str(version)
    except Exception:  # the library's own import may fail mid-development; fall through
        pass
    try:
        return _importlib_metadata.version("infovaegan-plugin")
    except _importlib_metadata.PackageNotFoundError:
        return "unknown"


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, streamed so large checkpoints do not load into memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_metadata(
    kind: str,
    input_shape: tuple[int, int, int] | list[int],
    latent_layout: Any,
    *,
    training_dataset: str | None = None,
    source_sha256: str | None = None,
    precision: str = "fp32",
    version: str | None = None,
    embeddings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The full metadata dict of one exported file, validated so bad exports fail early.

    ``latent_layout``: a :class:`~infovaegan_plugin.layout.LatentLayout` or its list of block
    dicts (checked by ``LatentLayout.from_blocks``).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    shape = [int(d) for d in input_shape]
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) with positive sizes, got {input_shape}.")
    blocks = (latent_layout.to_blocks() if isinstance(latent_layout, LatentLayout)
              else latent_layout)
    layout = LatentLayout.from_blocks(blocks).to_blocks()
    extra = {EMBEDDINGS: dict(embeddings)} if embeddings else {}
    return {
        KIND: kind,
        FORMAT_VERSION: CURRENT_FORMAT_VERSION,
        PLUGIN_VERSION: version or plugin_version(),
        INPUT_SHAPE: shape,
        NORMALISATION: dict(DEFAULT_NORMALISATION),
        LATENT_LAYOUT: layout,
        TRAINING_DATASET: training_dataset,
        SOURCE_SHA256: source_sha256,
        PRECISION: precision,
        **extra,
    }


def layout_from_metadata(decoded: Mapping[str, Any]) -> LatentLayout:
    """The :class:`LatentLayout` stamped in a decoded metadata dict.

    Every format so far (1) stores it the same way under :data:`LATENT_LAYOUT`; a newer format
    is refused with its number rather than misread.
    """
    version = decoded.get(FORMAT_VERSION, CURRENT_FORMAT_VERSION)
    if not isinstance(version, int) or version > CURRENT_FORMAT_VERSION:
        raise ValueError(
            f"metadata format {version!r} is newer than this library reads "
            f"({CURRENT_FORMAT_VERSION}); upgrade infovaegan-plugin."
        )
    return LatentLayout.from_blocks(decoded.get(LATENT_LAYOUT))


def stamp_onnx_model(model: Any, values: Mapping[str, Any]) -> None:
    """Write metadata into an ``onnx.ModelProto`` in place, replacing earlier values of our keys.

    ``onnx`` is imported by the caller; this only touches ``model.metadata_props``.
    """
    encoded = encode_metadata(values)
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in encoded]
    del model.metadata_props[:]
    for key, value in kept + sorted(encoded.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def stamp_onnx_file(path: str | Path, values: Mapping[str, Any]) -> None:
    """Load, stamp and save an ONNX file (small models: weights are kept inline)."""
    import onnx

    model = onnx.load(str(path))
    stamp_onnx_model(model, values)
    onnx.save(model, str(path))


def read_onnx_file_metadata(path: str | Path) -> dict[str, Any]:
    """Decoded metadata of an ONNX file without loading its weights (needs ``onnx``)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return decode_metadata({p.key: p.value for p in model.metadata_props})


def write_sidecar(path: str | Path, content: Mapping[str, Any]) -> Path:
    """Write the JSON sidecar with stable key order so diffs between exports stay readable."""
    target = Path(path)
    target.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read an ``export_metadata.json`` (a file or the export folder holding it)."""
    source = Path(path)
    if source.is_dir():
        source = source / SIDECAR_NAME
    return json.loads(source.read_text(encoding="utf-8"))
