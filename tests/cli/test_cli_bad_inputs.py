"""Bad command lines, as a new user types them: exit code 2, one line naming the problem, no
traceback, and nothing left behind (no run folder, no output file)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from infovaegan_plugin.cli.app import app

runner = CliRunner()
PROC = "/proc/x"  # a folder nobody can create: the example of an unwritable path


def flat(text: str) -> str:
    """Single-spaced text without the frame typer draws around usage errors."""
    for ch in "│╭╮╰╯─":
        text = text.replace(ch, " ")
    return " ".join(text.split())


@pytest.fixture(scope="module")
def files(tmp_path_factory, claiming_picture) -> dict[str, Path]:
    """A tiny trained run (with a checkpoint), its ONNX export, and broken inputs."""
    from infovaegan_plugin.data import load_digits_data

    root = tmp_path_factory.mktemp("bad_inputs")
    trained = runner.invoke(app, ["train", "--dataset", "digits", "--limit", "120", "--epochs",
                                  "1", "--batch-size", "32", "--device", "cpu", "--threads",
                                  "1", "--output-dir", str(root / "runs")])
    assert trained.exit_code == 0, trained.output
    run = next((root / "runs").glob("InfoVAEGAN_training_*"))
    exported = runner.invoke(app, ["export", str(run), "--output-dir", str(root / "onnx")])
    assert exported.exit_code == 0, exported.output
    digits = load_digits_data().images[:20]
    np.save(root / "digits.npy", digits)
    np.save(root / "raw16.npy", np.round(digits * 16))  # scikit-learn's own 0..16 levels
    np.save(root / "mnist_shaped.npy", np.zeros((20, 1, 28, 28), np.float32))
    np.savez(root / "two.npz", a=digits, b=digits)
    corrupt = root / "corrupt_model"
    shutil.copytree(run / "final_model", corrupt)
    (corrupt / "model.pt").write_bytes(b"PK\x03\x04 not a zip archive")
    bad_config = root / "bad_config_model"
    shutil.copytree(run / "final_model", bad_config)
    text = (bad_config / "model_config.json").read_text()
    (bad_config / "model_config.json").write_text(text.replace('"hidden_dim": 256',
                                                               '"hidden_dim": "wide"'))
    (root / "empty").mkdir()
    (root / "a_file").write_text("not a folder")
    hostile = _hostile_files(root, run, claiming_picture)
    return {**hostile,"run": run, "model": run / "final_model", "checkpoint": run / "checkpoint_epoch_1",
            "enc": root / "onnx" / "encoder.onnx", "gen": root / "onnx" / "generator.onnx",
            "digits": root / "digits.npy", "raw16": root / "raw16.npy",
            "mnist_shaped": root / "mnist_shaped.npy", "two": root / "two.npz",
            "corrupt": corrupt, "bad_config": bad_config, "empty": root / "empty",
            "missing": root / "does_not_exist", "file": root / "a_file", "proc": Path(PROC)}


def _hostile_files(root: Path, run: Path, claiming_picture) -> dict[str, Path]:
    """A saved model and checkpoints whose configs ask for absurd sizes, an encoder whose
    metadata claims absurd images, and a folder holding a 103-byte 576-megapixel PNG."""
    import json

    from infovaegan_plugin.deploy import metadata as md

    def with_json(source: Path, target: Path, name: str, **changes) -> Path:
        shutil.copytree(source, target)
        raw = json.loads((target / name).read_text())
        (target / name).write_text(json.dumps({**raw, **changes}))
        return target

    huge = [1, 200_000, 200_000]
    absurd_enc = root / "absurd_onnx" / "encoder.onnx"
    absurd_enc.parent.mkdir()
    shutil.copy(root / "onnx" / "encoder.onnx", absurd_enc)
    md.stamp_onnx_file(absurd_enc, {md.INPUT_SHAPE: huge})
    return {
        "huge_model": with_json(run / "final_model", root / "huge_model", "model_config.json",
                                input_dim=huge),
        "huge_checkpoint": with_json(run / "checkpoint_epoch_1", root / "huge_run" /
                                     "checkpoint_epoch_1", "model_config.json", input_dim=huge),
        "batch_checkpoint": with_json(run / "checkpoint_epoch_1", root / "batch_run" /
                                      "checkpoint_epoch_1", "training_config.json",
                                      per_device_train_batch_size=10**12),
        "bomb_folder": claiming_picture(root / "bombs" / "bomb.png", 24_000, 24_000).parent,
        "absurd_enc": absurd_enc,
    }


TRAIN = ["train", "--dataset", "digits", "--limit", "60", "--device", "cpu", "-o", "{out}/runs"]
# (the file each names, with its path, is checked by test_hostile_files_are_named_in_full)
HUGE_INPUT = ("invalid InfoVAEGAN model config: input_dim (1, 200000, 200000): 200000x200000 "
              "pixels has a side above the limit of 4096.")
BOMB = ("no readable images (1 file(s) skipped: bomb.png: too large: 576,000,000 pixels, above "
        "the limit of 67,108,864 (not decoded))")
ENCODE = ["encode", "{enc}", "{digits}", "-o", "{out}/codes.csv"]
GENERATE = ["generate", "{gen}", "-o", "{out}/g.png"]
TRAVERSE = ["traverse", "{gen}", "-o", "{out}/t.png"]
EVALUATE = ["evaluate", "{model}", "--dataset", "digits", "--no-cfd", "--output-dir", "{out}/ev"]
BENCH = ["benchmark", "--dataset", "digits", "-o", "{out}/bench"]

CASES = [
    # 3. numbers are checked before anything runs, the option named
    (TRAIN + ["--epochs", "-3"], "'--epochs': must be >= 1, got -3"),
    (TRAIN + ["--epochs", "0"], "'--epochs': must be >= 1, got 0"),
    (TRAIN + ["--batch-size", "0"], "'--batch-size': must be >= 1, got 0"),
    (TRAIN + ["--batch-size", "-5"], "'--batch-size': must be >= 1, got -5"),
    (TRAIN + ["--limit", "-5"], "'--limit': must be >= 1, got -5"),
    (TRAIN + ["--checkpoint-every", "0"], "'--checkpoint-every': must be >= 1, got 0"),
    (TRAIN + ["--keep-checkpoints", "-1"], "'--keep-checkpoints': must be >= 0, got -1"),
    (TRAIN + ["--eval-fraction", "0"], "'--eval-fraction': must be between 0 and 1"),
    (TRAIN + ["--eval-fraction", "1.5"], "'--eval-fraction': must be between 0 and 1"),
    (TRAIN + ["--seed", "-1"], "'--seed': must be >= 0, got -1"),
    (TRAIN + ["--threads", "-2"], "'--threads': must be >= 0, got -2"),
    (TRAIN + ["--epochs", "many"], "'--epochs'"),
    (TRAIN + ["--variant", "vae"], "--variant must be one of infovaegan, infogan, ali"),
    (TRAIN + ["--device", "tpu"], "--device must be auto, cpu or cuda"),
    (["train", "--dataset", "digits"], "--output-dir is required"),
    (["train", "-o", "{proc}/runs"], "cannot write --output-dir /proc/x/runs"),
    (["train", "-o", "{file}/runs"], "a_file is a file, not a folder"),
    (TRAIN + ["--limit", "3"], "cannot split 3 images"),
    (["train", "--dataset", "mnist", "-o", "{out}/runs"], "mnist needs --data-dir"),
    (["train", "--dataset", "{raw16}", "-o", "{out}/runs"],
     "found min 0, max 16, expected [0, 1]; they look like whole-number grey levels 0..16"),
    # 2/4. --resume: missing, not a checkpoint, another variant or model, target reached
    (["train", "--resume", "{missing}"], "does_not_exist: checkpoint folder not found"),
    (["train", "--resume", "{empty}"], "is not a checkpoint: it has no optimizers.pt"),
    (["train", "--resume", "{checkpoint}", "--variant", "ali", "--epochs", "3"],
     "--variant ali does not match the checkpoint"),
    (["train", "--resume", "{checkpoint}", "--dataset", "{mnist_shaped}", "--epochs", "3"],
     "was trained with another model (input_dim: checkpoint (1, 8, 8)"),
    (["train", "--resume", "{checkpoint}"], "has already reached epoch 1 and the target is 1"),
    # hostile files: sizes checked before anything is allocated, the file named
    (["export", "{huge_model}", "-o", "{out}/onnx"], HUGE_INPUT),
    (["evaluate", "{huge_model}", "--dataset", "digits", "--output-dir", "{out}/ev"], HUGE_INPUT),
    (["train", "--resume", "{huge_checkpoint}", "--epochs", "3"], HUGE_INPUT),
    (["train", "--resume", "{batch_checkpoint}", "--epochs", "3"],
     "per_device_train_batch_size must be a whole number in [1, 65,536], got 1000000000000."),
    (TRAIN + ["--batch-size", "100000"],
     "batch_size must be a whole number in [1, 65,536], got 100000."),
    (["train", "--dataset", "{bomb_folder}", "-o", "{out}/runs"], BOMB),
    (["encode", "{enc}", "{bomb_folder}", "-o", "{out}/c.csv"], BOMB),
    (["encode", "{absurd_enc}", "{digits}", "-o", "{out}/c.csv"],
     "metadata infovaegan.input_shape [1, 200000, 200000]: 200000x200000 pixels has a side "
     "above the limit of 4096."),
    # export
    (["export", "{model}", "-o", "{out}/onnx", "--opset", "99"], "--opset must be 17..20"),
    (["export", "{model}", "-o", "{out}/onnx", "--calibration-size", "0"],
     "'--calibration-size': must be >= 1"),
    (["export", "{model}", "-o", "{out}/onnx", "--triton-max-batch-size", "-1"],
     "'--triton-max-batch-size': must be >= 0"),
    (["export", "{model}", "-o", "{proc}/onnx"], "cannot write --output-dir /proc/x/onnx"),
    (["export", "{corrupt}", "-o", "{out}/onnx"],
     "model.pt is corrupt or not an InfoVAEGAN model.pt: PytorchStreamReader failed reading "
     "zip archive: failed finding central directory."),
    (["export", "{bad_config}", "-o", "{out}/onnx"],
     "model_config.json: invalid InfoVAEGAN model config: field 'hidden_dim'"),
    # encode
    (["encode", "{enc}", "{digits}", "-o", "{proc}/codes.csv"],
     "cannot write --output /proc/x/codes.csv"),
    (ENCODE + ["--batch-size", "0"], "'--batch-size': must be >= 1, got 0"),
    (ENCODE + ["--threads", "-1"], "'--threads': must be >= 0"),
    (["encode", "{enc}", "{raw16}", "-o", "{out}/c.csv"], "expected [0, 1]; they look like"),
    (["encode", "{enc}", "digits", "--split", "test", "-o", "{out}/c.csv"],
     "use --split train (or all)"),
    (["encode", "{enc}", "{two}", "-o", "{out}/c.csv"], "pass --key NAME to choose one"),
    (["encode", "{gen}", "{digits}", "-o", "{out}/c.csv"], "not an encoder"),
    (ENCODE + ["--providers", "tpu"], "--providers must be auto, cpu or cuda, got 'tpu'"),
    (GENERATE + ["--providers", "tpu"], "--providers must be auto, cpu or cuda, got 'tpu'"),
    (TRAVERSE + ["--providers", "tpu"], "--providers must be auto, cpu or cuda, got 'tpu'"),
    # generate / traverse
    (["generate", "{gen}", "-o", "{proc}/g.png"], "cannot write --output /proc/x/g.png"),
    (GENERATE + ["--n", "0"], "'--n': must be >= 1, got 0"),
    (GENERATE + ["--seed", "-1"], "'--seed': must be >= 0, got -1"),
    (GENERATE + ["--ncol", "0"], "'--ncol': must be >= 1, got 0"),
    (GENERATE + ["--categorical-code", "-1"], "'--categorical-code': must be >= 0"),
    (["generate", "{enc}", "-o", "{out}/g.png"], "not a generator"),
    (["traverse", "{gen}", "-o", "{proc}/t.png"], "cannot write --output /proc/x/t.png"),
    (TRAVERSE + ["--num-values", "0"], "'--num-values': must be >= 1, got 0"),
    (TRAVERSE + ["--span", "0"], "'--span': must be > 0, got 0"),
    (TRAVERSE + ["--code", "continuous_7"],
     "--code must name a continuous dimension 0..1 as continuous:<i>"),
    # evaluate
    (["evaluate", "{model}", "--dataset", "digits", "--output-dir", "{proc}/ev"],
     "cannot write --output-dir /proc/x/ev"),
    (EVALUATE + ["--n-samples", "0"], "'--n-samples': must be >= 1, got 0"),
    (EVALUATE + ["--metric-scale", "0"], "'--metric-scale': must be > 0, got 0"),
    (EVALUATE + ["--eval-fraction", "1"], "'--eval-fraction': must be between 0 and 1"),
    (EVALUATE + ["--limit", "-5"], "'--limit': must be >= 1, got -5"),
    (EVALUATE + ["--seed", "-3"], "'--seed': must be >= 0, got -3"),
    (["evaluate", "{corrupt}", "--dataset", "digits"], "is corrupt or not an InfoVAEGAN"),
    # benchmark
    (BENCH + ["--epochs", "-1"], "'--epochs': must be >= 1, got -1"),
    (BENCH + ["--threads", "-1"], "'--threads': must be >= 0, got -1"),
    (BENCH + ["--seeds", "0,-1"], "--seeds must be >= 0"),
    (BENCH + ["--metric-scale", "-1"], "'--metric-scale': must be > 0"),
    (BENCH + ["--limit", "0"], "'--limit': must be >= 1, got 0"),
]


@pytest.mark.parametrize(("args", "message"), CASES,
                         ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_bad_input_exits_2_with_one_line_naming_it(files, tmp_path, args, message):
    names = {**files, "out": tmp_path / "out"}
    argv = [a.format(**names) for a in args]
    result = runner.invoke(app, argv)
    text = flat(result.output)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert message in text, text
    assert not list(tmp_path.rglob("InfoVAEGAN_training_*")), "a failed run left a folder"
    for written in ("codes.csv", "c.csv", "g.png", "t.png", "ev/evaluation.json"):
        assert not (tmp_path / "out" / written).exists()


def test_export_says_the_model_is_unreadable_before_anything_else(files, tmp_path):
    result = runner.invoke(app, ["export", str(files["corrupt"]), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    text = flat(result.output)
    assert "is corrupt" in text and "no real images" not in text
    assert "weights_only" not in text
    assert not (tmp_path / "o").exists()


NAMED = [
    (["export", "{huge_model}", "-o", "{out}/onnx"], "{huge_model}/model_config.json: invalid"),
    (["evaluate", "{huge_model}", "--dataset", "digits"], "{huge_model}/model_config.json: "),
    (["train", "--resume", "{huge_checkpoint}", "--epochs", "3"],
     "{huge_checkpoint}/model_config.json: invalid"),
    (["train", "--resume", "{batch_checkpoint}", "--epochs", "3"],
     "--resume: {batch_checkpoint}/training_config.json: per_device_train_batch_size"),
    (["encode", "{enc}", "{bomb_folder}", "-o", "{out}/c.csv"],
     "{bomb_folder}: no readable images"),
    (["encode", "{absurd_enc}", "{digits}", "-o", "{out}/c.csv"],
     "{absurd_enc}: metadata infovaegan.input_shape"),
]


@pytest.mark.parametrize(("args", "named"), NAMED, ids=[a[0] + " " + a[1] for a, _ in NAMED])
def test_hostile_files_are_named_in_full(files, tmp_path, args, named):
    names = {**files, "out": tmp_path / "out"}
    result = runner.invoke(app, [a.format(**names) for a in args])
    assert result.exit_code == 2, result.output
    unwrapped = "".join(result.output.split())  # the console wraps long paths mid-name
    assert "".join(named.format(**names).split()) in unwrapped, result.output


def test_encode_skips_a_decompression_bomb_in_a_folder_naming_it(files, tmp_path):
    from PIL import Image

    folder = tmp_path / "pictures"
    shutil.copytree(files["bomb_folder"], folder)
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(folder / "white.png")
    result = runner.invoke(app, ["encode", str(files["enc"]), str(folder), "-o",
                                 str(tmp_path / "codes.csv")])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert ("skipped bomb.png: too large: 576,000,000 pixels, above the limit of 67,108,864 "
            "(not decoded)") in text
    rows = (tmp_path / "codes.csv").read_text().splitlines()
    assert len(rows) == 2 and "white.png" in rows[1] and "bomb.png" not in "".join(rows)
