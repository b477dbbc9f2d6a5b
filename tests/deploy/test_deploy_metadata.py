"""The metadata vocabulary: round trips, raw strings for string keys, layout validation."""

from __future__ import annotations

import pytest

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.layout import validate_blocks

LAYOUT = [
    {"name": "noise", "kind": "noise", "size": 4, "prior": "normal"},
    {"name": "categorical_0", "kind": "categorical", "size": 10, "prior": "categorical"},
    {"name": "continuous", "kind": "continuous", "size": 2, "prior": "uniform"},
]


def test_round_trip_keeps_strings_raw_and_decodes_json():
    values = md.build_metadata("encoder", (1, 8, 8), LAYOUT, training_dataset=None,
                               source_sha256="ab" * 32, version="1.2.3")
    encoded = md.encode_metadata(values)
    assert encoded[md.KIND] == "encoder"  # readable as-is in Netron / onnx
    assert encoded[md.PLUGIN_VERSION] == "1.2.3"
    assert encoded[md.TRAINING_DATASET] == "null"
    assert md.decode_metadata(encoded) == values
    assert values[md.NORMALISATION] == {"dtype": "float32", "range": [0.0, 1.0],
                                        "uint8_scale": 1 / 255}


def test_foreign_keys_are_kept_as_strings_and_bad_json_is_named():
    assert md.decode_metadata({"author": "x"}) == {"author": "x"}
    with pytest.raises(ValueError, match="infovaegan.input_shape"):
        md.decode_metadata({md.INPUT_SHAPE: "[1, 8"})
    with pytest.raises(ValueError, match="must start with"):
        md.encode_metadata({"kind": "encoder"})


@pytest.mark.parametrize(
    "block, message",
    [
        ({"name": "c", "kind": "categorical", "size": 1, "prior": "categorical"}, "invalid size"),
        ({"name": "d", "kind": "continuous", "size": 2, "prior": "beta"}, "prior 'beta'"),
        ({"name": "x", "kind": "style", "size": 2, "prior": "normal"}, "unknown kind"),
        ({"name": "x", "kind": "noise"}, "needs name, kind, size, prior"),
    ],
)
def test_invalid_latent_layout_is_rejected(block, message):
    with pytest.raises(ValueError, match=message):
        validate_blocks([block])


def test_build_metadata_rejects_bad_kind_and_shape():
    with pytest.raises(ValueError, match="kind"):
        md.build_metadata("decoder", (1, 8, 8), LAYOUT)
    with pytest.raises(ValueError, match="input_shape"):
        md.build_metadata("encoder", (8, 8), LAYOUT)


def test_sha256_and_sidecar(tmp_path):
    blob = tmp_path / "model.pt"
    blob.write_bytes(b"abc")
    assert md.sha256_file(blob) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    md.write_sidecar(tmp_path / md.SIDECAR_NAME, {"b": 1, "a": [1, 2]})
    assert md.read_sidecar(tmp_path) == {"a": [1, 2], "b": 1}
