"""``infovaegan export`` leaves a folder that describes exactly one model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infovaegan_plugin.cli.app import app
from infovaegan_plugin.deploy import metadata as md

runner = CliRunner()
VARIANTS = ("encoder.fp16.onnx", "generator.fp16.onnx", "encoder.int8.onnx",
            "generator.int8.onnx")


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two different tiny models (runs A and B) trained on digits."""
    root = tmp_path_factory.mktemp("two_runs")
    found = {}
    for name, seed in (("A", "0"), ("B", "1")):
        result = runner.invoke(app, ["train", "--dataset", "digits", "--limit", "120",
                                     "--epochs", "1", "--batch-size", "32", "--seed", seed,
                                     "--device", "cpu", "--threads", "1",
                                     "--output-dir", str(root / name)])
        assert result.exit_code == 0, result.output
        found[name] = next((root / name).glob("InfoVAEGAN_training_*"))
    return found


def export(*args: str):
    return runner.invoke(app, ["export", *map(str, args), "--calibration-size", "64"])


def sources(folder: Path) -> dict[str, str]:
    """Source model.pt SHA-256 of every ONNX file under ``folder`` (Triton copies too)."""
    return {p.relative_to(folder).as_posix(): md.read_onnx_file_metadata(p)[md.SOURCE_SHA256]
            for p in folder.rglob("*.onnx")}


def sha(run: Path) -> str:
    return md.sha256_file(run / "final_model" / "model.pt")


def listing(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_reexport_of_another_model_is_refused_then_replaces_everything(runs, tmp_path):
    out = tmp_path / "D"
    first = export(runs["A"], "-o", out, "--fp16", "--quantize", "int8", "--triton")
    assert first.exit_code == 0, first.output
    assert set(sources(out).values()) == {sha(runs["A"])}
    assert {*VARIANTS, "triton/infovaegan_encoder/1/model.onnx"} <= listing(out)
    before = {p: (out / p).read_bytes() for p in listing(out)}

    refused = export(runs["B"], "-o", out)
    assert refused.exit_code == 2, refused.output
    text = flat(refused.output)
    assert "holds the export of another model" in text and "--overwrite" in text
    assert "Traceback" not in refused.output
    assert {p: (out / p).read_bytes() for p in listing(out)} == before  # untouched

    replaced = export(runs["B"], "-o", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert listing(out) == {"encoder.onnx", "generator.onnx", md.SIDECAR_NAME}
    assert set(sources(out).values()) == {sha(runs["B"])}  # one source hash, B's
    sidecar = json.loads((out / md.SIDECAR_NAME).read_text())
    assert {m[md.SOURCE_SHA256] for m in sidecar["models"].values()} == {sha(runs["B"])}
    assert sidecar["variants"] == {}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_reexport_of_the_same_model_drops_stale_variants(runs, tmp_path):
    out = tmp_path / "D"
    assert export(runs["B"], "-o", out, "--fp16", "--triton").exit_code == 0
    assert "encoder.fp16.onnx" in listing(out) and (out / "triton").is_dir()
    again = export(runs["B"], "-o", out)  # same model: no --overwrite needed
    assert again.exit_code == 0, again.output
    assert listing(out) == {"encoder.onnx", "generator.onnx", md.SIDECAR_NAME}


def test_foreign_files_and_the_model_folder_itself_are_protected(runs, tmp_path):
    out = tmp_path / "mixed"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    refused = export(runs["A"], "-o", out)
    assert refused.exit_code == 2
    assert "not part of an InfoVAEGAN export (notes.txt)" in flat(refused.output)
    assert (out / "notes.txt").read_text() == "keep me"

    inside = export(runs["A"], "-o", runs["A"], "--overwrite")  # would delete the model
    assert inside.exit_code == 2
    assert "holds the model being exported" in flat(inside.output)
    assert (runs["A"] / "final_model" / "model.pt").is_file()

    forced = export(runs["A"], "-o", out, "--overwrite")
    assert forced.exit_code == 0, forced.output
    assert not (out / "notes.txt").exists()


def test_a_failed_export_leaves_the_previous_folder_as_it_was(runs, tmp_path, monkeypatch):
    out = tmp_path / "D"
    assert export(runs["A"], "-o", out, "--fp16").exit_code == 0
    before = {p: (out / p).read_bytes() for p in listing(out)}
    import infovaegan_plugin.deploy.triton as triton

    def broken(*args, **kwargs):
        raise ValueError("disk trouble while writing the Triton repository")

    monkeypatch.setattr(triton, "write_triton_repository", broken)
    failed = export(runs["A"], "-o", out, "--triton")
    assert failed.exit_code == 2 and "disk trouble" in failed.output
    assert {p: (out / p).read_bytes() for p in listing(out)} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_library_export_refuses_another_models_folder(runs, tmp_path):
    from infovaegan_plugin.deploy.export import ExportFolderError, export_onnx

    first = export_onnx(runs["A"], tmp_path / "D", fp16=True)
    assert first.encoder_path == tmp_path / "D" / "encoder.onnx"
    assert first.variants["fp16"].encoder_path == tmp_path / "D" / "encoder.fp16.onnx"
    with pytest.raises(ExportFolderError, match="overwrite=True"):
        export_onnx(runs["B"], tmp_path / "D")
    export_onnx(runs["B"], tmp_path / "D", overwrite=True)
    assert set(sources(tmp_path / "D").values()) == {sha(runs["B"])}
    assert not (tmp_path / "D" / "encoder.fp16.onnx").exists()
