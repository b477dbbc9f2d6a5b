"""A failing write, a damaged file of our own making, a warning: each is one line on the
console (exit 2 for the errors), and what was there before stays intact and loadable."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from infovaegan_plugin.cli.app import app

runner = CliRunner()
TINY = ["--dataset", "digits", "--limit", "64", "--batch-size", "32", "--seed", "3",
        "--device", "cpu", "--threads", "1", "--no-purity"]


def squashed(text: str) -> str:
    """Console text without whitespace: rich folds long paths at any character."""
    return "".join(text.split())


def said(result, *fragments: str) -> None:
    """Exit 2, one error line (no traceback) holding every fragment."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.count("error:") == 1, result.output
    for fragment in fragments:
        assert squashed(fragment) in squashed(result.output), (fragment, result.output)


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def test_a_checkpoint_that_cannot_be_written_names_the_one_kept(tmp_path, monkeypatch):
    from infovaegan_plugin.trainers.infovaegan_trainer import infovaegan_trainer
    from infovaegan_plugin.trainers.infovaegan_trainer.resume import read_checkpoint

    real, calls = infovaegan_trainer.save_torch, []

    def second_fails(obj, path):
        calls.append(path)
        return no_space() if len(calls) == 2 else real(obj, path)

    monkeypatch.setattr(infovaegan_trainer, "save_torch", second_fails)
    result = runner.invoke(app, ["train", *TINY, "--epochs", "3", "-o", str(tmp_path)])
    run = next(tmp_path.glob("InfoVAEGAN_training_*"))
    said(result, f"cannot write {run / 'checkpoint_epoch_2'}: No space left on device",
         f"the newest intact checkpoint is {run / 'checkpoint_epoch_1'}",
         f"infovaegan train --resume {run / 'checkpoint_epoch_1'}")
    assert sorted(p.name for p in run.glob("checkpoint_*")) == ["checkpoint_epoch_1"]
    assert hidden(run) == []
    assert read_checkpoint(run / "checkpoint_epoch_1").epoch == 1


def test_codes_that_cannot_be_written_keep_the_earlier_file(tiny_export, tmp_path, monkeypatch):
    from infovaegan_plugin.deploy.codes_files import CodesWriter

    images = np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32)
    np.save(tmp_path / "x.npy", images)
    output = tmp_path / "out" / "codes.npz"
    command = ["encode", str(tiny_export / "onnx"), str(tmp_path / "x.npy"), "-o", str(output),
               "--batch-size", "16", "--threads", "1"]
    assert runner.invoke(app, command).exit_code == 0
    before = output.read_bytes()
    real_add, batches = CodesWriter.add, []

    def second_batch_fails(self, codes, names=None):
        batches.append(len(codes["features"]))
        return no_space() if len(batches) == 2 else real_add(self, codes, names)

    monkeypatch.setattr(CodesWriter, "add", second_batch_fails)
    said(runner.invoke(app, command), f"cannot write {output}: No space left on device")
    assert output.read_bytes() == before and hidden(output.parent) == []


def test_a_grid_that_cannot_be_written_keeps_the_earlier_picture(tiny_export, tmp_path,
                                                                  monkeypatch):
    from infovaegan_plugin import atomic

    output = tmp_path / "grid.png"
    command = ["generate", str(tiny_export / "onnx"), "--n", "4", "-o", str(output),
               "--threads", "1"]
    assert runner.invoke(app, command).exit_code == 0
    before = output.read_bytes()
    monkeypatch.setattr(atomic.os, "fsync", no_space)
    said(runner.invoke(app, command), f"cannot write {output}: No space left on device")
    assert output.read_bytes() == before and hidden(tmp_path) == []


def test_an_export_that_cannot_be_written_keeps_the_earlier_export(tiny_export, tmp_path,
                                                                    monkeypatch):
    import onnx

    output = tmp_path / "onnx"
    command = ["export", str(tiny_export / "model"), "-o", str(output)]
    assert runner.invoke(app, command).exit_code == 0
    before = (output / "encoder.onnx").read_bytes()
    monkeypatch.setattr(onnx, "save", no_space)
    said(runner.invoke(app, command), f"cannot write --output-dir {output}: No space left")
    assert (output / "encoder.onnx").read_bytes() == before and hidden(tmp_path) == []


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damaged", "command", "message"),
    [
        ("model/model.pt", ["export", "{root}/model", "-o", "{tmp}/onnx"],
         "model.pt is corrupt or not an InfoVAEGAN model.pt"),
        ("onnx/encoder.onnx", ["encode", "{root}/onnx/encoder.onnx", "digits", "-o",
                               "{tmp}/c.npy"], "encoder.onnx is not a loadable ONNX model"),
        ("onnx/generator.onnx", ["generate", "{root}/onnx/generator.onnx", "-o",
                                 "{tmp}/g.png"], "generator.onnx is not a loadable ONNX model"),
    ],
)
def test_damaged_models_and_exports_are_refused(tiny_export, tmp_path, damaged, command,
                                                message):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(tiny_export, root)
    truncate(root / damaged)
    args = [part.format(root=root, tmp=tmp_path) for part in command]
    said(runner.invoke(app, args), message)


def test_resume_from_a_damaged_checkpoint_names_the_newest_intact_one(tmp_path):
    first = runner.invoke(app, ["train", *TINY, "--epochs", "2", "-o", str(tmp_path)])
    assert first.exit_code == 0, first.output
    run = next(tmp_path.glob("InfoVAEGAN_training_*"))
    truncate(run / "checkpoint_epoch_2" / "model.pt")
    for target in (run / "checkpoint_epoch_2", run):  # the checkpoint, or the run's newest
        result = runner.invoke(app, ["train", "--resume", str(target), "--epochs", "3"])
        said(result, f"--resume {run / 'checkpoint_epoch_2'}:",
             "model.pt is corrupt or not an InfoVAEGAN model.pt",
             f"the newest intact checkpoint of this run is {run / 'checkpoint_epoch_1'}",
             f"resume with: infovaegan train --resume {run / 'checkpoint_epoch_1'}")


def test_warnings_print_as_one_clean_line(tmp_path):
    from infovaegan_plugin.data import load_digits_data

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, image in enumerate(load_digits_data().images[:40]):
        Image.fromarray((image[0] * 255).round().astype(np.uint8)).save(folder / f"{i:02}.png")
    (folder / "broken.png").write_bytes(b"not a picture")
    result = runner.invoke(app, ["train", "--dataset", str(folder), "--epochs", "1",
                                 "--batch-size", "16", "--device", "cpu", "--threads", "1",
                                 "-o", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert result.output.count("warning:") == 1, result.output
    assert squashed(f"warning: {folder}: skipped 1 file(s): {folder / 'broken.png'}: unreadable") in (
        squashed(result.output)), result.output
    assert "UserWarning" not in result.output and ".py:" not in result.output


def test_a_library_log_handler_on_a_closed_stream_writes_to_the_current_stderr(capsys):
    """pythae binds its console handlers to the stderr of the moment it was imported; an
    earlier command's closed stream must not turn a log line into a logging traceback."""
    import io
    import logging

    from infovaegan_plugin.pythae_logs import library_logs_to_current_stderr

    logger = logging.getLogger("pythae.trainers.training_callbacks")
    handler = next(h for h in logger.handlers if type(h) is logging.StreamHandler)
    closed = io.StringIO()
    closed.close()
    original, handler.stream = handler.stream, closed
    try:
        with library_logs_to_current_stderr():
            logger.warning("train loss 1.5")
        assert handler.stream is closed  # restored after the command
    finally:
        handler.stream = original
    err = capsys.readouterr().err
    assert "train loss 1.5" in err
    assert "Logging error" not in err
