"""Triton repository: layout, and configs that agree with the ONNX graphs they describe."""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import pytest

from infovaegan_plugin.deploy.triton import write_triton_repository

ONNX_TO_TRITON = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.FLOAT16: "TYPE_FP16",
                  onnx.TensorProto.INT64: "TYPE_INT64"}


def parse_config(text: str) -> dict:
    """A minimal pbtxt reader for the subset Triton configs use here."""
    config = {
        "name": re.search(r'^name: "([^"]+)"', text, re.M).group(1),
        "platform": re.search(r'^platform: "([^"]+)"', text, re.M).group(1),
        "max_batch_size": int(re.search(r"^max_batch_size: (\d+)", text, re.M).group(1)),
        "dynamic_batching": bool(re.search(r"^dynamic_batching \{ \}", text, re.M)),
    }
    for section in ("input", "output"):
        body = re.search(rf"^{section} \[\n(.*?)^\]", text, re.M | re.S).group(1)
        config[section] = [
            {"name": name, "data_type": dtype,
             "dims": [int(d) for d in dims.replace(",", " ").split()]}
            for name, dtype, dims in re.findall(
                r'name: "([^"]+)"\s+data_type: (\w+)\s+dims: \[([^\]]*)\]', body
            )
        ]
    return config


def graph_specs(path: Path) -> tuple[list, list]:
    model = onnx.load(str(path))

    def spec(v):
        shape = v.type.tensor_type.shape
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in shape.dim]
        return {"name": v.name, "data_type": ONNX_TO_TRITON[v.type.tensor_type.elem_type],
                "dims": dims}

    return [spec(v) for v in model.graph.input], [spec(v) for v in model.graph.output]


def test_repository_layout_and_configs_match_graphs(digits_export, tmp_path):
    repo = write_triton_repository(*digits_export, tmp_path / "models", name_prefix="digits")
    assert repo == tmp_path / "models"
    for kind, source in zip(("encoder", "generator"), digits_export):
        folder = repo / f"digits_{kind}"
        assert (folder / "1" / "model.onnx").read_bytes() == source.read_bytes()
        config = parse_config((folder / "config.pbtxt").read_text())
        assert config["name"] == f"digits_{kind}"
        assert config["platform"] == "onnxruntime_onnx"
        assert config["max_batch_size"] == 256 and config["dynamic_batching"]
        inputs, outputs = graph_specs(source)
        for ours, theirs in ((config["input"], inputs), (config["output"], outputs)):
            assert [t["name"] for t in ours] == [t["name"] for t in theirs]
            assert [t["data_type"] for t in ours] == [t["data_type"] for t in theirs]
            assert all(t["dims"][0] == -1 for t in theirs)  # dynamic batch in the graph
            assert [t["dims"] for t in ours] == [t["dims"][1:] for t in theirs]
    encoder_config = parse_config((repo / "digits_encoder" / "config.pbtxt").read_text())
    assert encoder_config["input"] == [{"name": "images", "data_type": "TYPE_FP32",
                                        "dims": [1, 8, 8]}]
    assert {t["name"] for t in encoder_config["output"]} >= {"features", "categorical_probs"}


def test_no_batching_keeps_the_batch_axis_and_rewrites_idempotently(rgb_export, tmp_path):
    write_triton_repository(*rgb_export, tmp_path, max_batch_size=8)
    repo = write_triton_repository(*rgb_export, tmp_path, max_batch_size=0)
    config = parse_config((repo / "infovaegan_generator" / "config.pbtxt").read_text())
    assert config["max_batch_size"] == 0 and not config["dynamic_batching"]
    inputs, outputs = graph_specs(rgb_export[1])
    assert config["input"] == inputs and config["output"] == outputs  # batch axis kept
    assert config["input"][0]["dims"][0] == -1
    assert sorted(p.name for p in repo.iterdir()) == ["infovaegan_encoder", "infovaegan_generator"]


def test_errors_name_the_problem(digits_export, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        write_triton_repository(tmp_path / "missing.onnx", digits_export[1], tmp_path / "r")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not onnx at all")
    with pytest.raises(ValueError, match="garbage.onnx"):
        write_triton_repository(garbage, digits_export[1], tmp_path / "r")
    with pytest.raises(ValueError, match="max_batch_size"):
        write_triton_repository(*digits_export, tmp_path / "r", max_batch_size=-1)
    with pytest.raises(ValueError, match="name_prefix"):
        write_triton_repository(*digits_export, tmp_path / "r", name_prefix="a/b")
