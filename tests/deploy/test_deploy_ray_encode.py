"""Encoding on Ray Data (``encode_with_ray``, ``infovaegan encode --engine ray``): the same codes,
column names and order as the local ``encode``'s ``.csv``, stable row ids, skipped pictures
named with the local reasons, any number of workers giving the same table.

One local Ray instance (2 CPUs) serves the module; tests that need none (planning, reading a
unit in process, errors found before Ray starts) do not ask for it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")
import pyarrow as pa  # noqa: E402  (the [ray] extra brings it)
import pyarrow.parquet as pq  # noqa: E402

from infovaegan_plugin.data import DataError  # noqa: E402
from infovaegan_plugin.deploy.codes_files import encode_file  # noqa: E402
from infovaegan_plugin.deploy.encode_units import UnitEncoder, plan_input  # noqa: E402
from infovaegan_plugin.deploy.ray_encode import RayEncodeError, encode_with_ray  # noqa: E402
from infovaegan_plugin.deploy.runtime import OnnxEncoder  # noqa: E402
from infovaegan_plugin.writable import NotWritableError  # noqa: E402

N, BATCH = 40, 8
PICTURES = 10  # img_00.png ... img_09.png, then sub/img_10.png


@pytest.fixture(scope="module")
def ray_session():
    import ray

    handlers = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
             log_to_driver=False)
    yield
    ray.shutdown()
    for number, handler in handlers.items():  # ray.init installs its own; later tests expect ours
        signal.signal(number, handler)


@pytest.fixture(scope="module")
def encoder_path(digits_export) -> Path:
    return digits_export[0]


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (N, 1, 8, 8), dtype=np.uint8)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image[0]).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, pixels) -> Path:
    """x.npy (uint8); pics/ (a broken file first in sorted order, ten PNGs, one in a
    sub-folder); pq/ (two Parquet files: PNG bytes with a null and a junk cell, and the
    pixels as nested uint8 lists; row groups of 4)."""
    root = tmp_path_factory.mktemp("ray_inputs")
    np.save(root / "x.npy", pixels)
    pics = root / "pics"
    (pics / "sub").mkdir(parents=True)
    (pics / "a_broken.png").write_bytes(b"not a png")
    for i in range(PICTURES + 1):
        name = f"img_{i:02d}.png" if i < PICTURES else f"sub/img_{i:02d}.png"
        (pics / name).write_bytes(png(pixels[i]))
    cells = [png(pixels[i]) for i in range(12)]
    cells[2], cells[9] = None, b"junk"
    lists = pa.array([p[0].tolist() for p in pixels[:12]], pa.list_(pa.list_(pa.uint8())))
    table = pa.table({"image": pa.array(cells, pa.binary()), "pixels": lists})
    (root / "pq").mkdir()
    pq.write_table(table.slice(0, 7), root / "pq" / "part-a.parquet", row_group_size=4)
    pq.write_table(table.slice(7), root / "pq" / "part-b.parquet", row_group_size=4)
    return root


def local_csv(encoder_path: Path, source: Path, output: Path):
    """The local encode's ``.csv``: (result, header, rows as strings)."""
    encoder = OnnxEncoder(encoder_path, providers="cpu", intra_op_num_threads=1)
    result = encode_file(encoder, source, output, batch_size=BATCH)
    with open(output, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return result, rows[0], rows[1:]


def code_values(table: pa.Table, columns: list[str]) -> np.ndarray:
    return np.column_stack([table.column(c).to_numpy().astype(np.float64) for c in columns])


def assert_codes_equal(table: pa.Table, header: list[str], rows: list[list[str]]) -> None:
    expected = np.array([[float(v) for v in row[1:]] for row in rows])
    np.testing.assert_allclose(code_values(table, header[1:]), expected, rtol=0, atol=1e-6)


def ray_encode(encoder_path: Path, source: Path, output: Path, **options):
    options = {"workers": 1, "batch_size": BATCH, "providers": "cpu", **options}
    return encode_with_ray(encoder_path, source, output, **options)


# --------------------------------------------------------------------------- on Ray


@pytest.fixture(scope="module")
def npy_one_worker(ray_session, encoder_path, inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("npy1") / "codes"
    return ray_encode(encoder_path, inputs / "x.npy", out, rows_per_unit=16), out


def test_npy_codes_order_and_columns_are_the_local_csvs(npy_one_worker, encoder_path, inputs,
                                                        tmp_path):
    result, out = npy_one_worker
    _, header, rows = local_csv(encoder_path, inputs / "x.npy", tmp_path / "local.csv")
    table = pq.read_table(out)  # part files in name order
    assert table.column_names == ["row", *header[1:]]  # header[0] is the csv's "row"
    assert table.column("row").to_pylist() == [int(r[0]) for r in rows] == list(range(N))
    assert_codes_equal(table, header, rows)
    assert table.schema.field("categorical_0_argmax").type == pa.int64()
    assert table.schema.field("categorical_probs_0").type == pa.float32()
    assert (result.rows, result.files, result.workers, result.skipped) == (N, 3, 1, ())
    assert sorted(p.name for p in out.iterdir()) == [f"part-00000{i}.parquet" for i in range(3)]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_two_workers_write_the_table_of_one(npy_one_worker, encoder_path, inputs, tmp_path):
    _, one = npy_one_worker
    result = ray_encode(encoder_path, inputs / "x.npy", tmp_path / "codes.parquet",
                        workers=2, rows_per_unit=8)
    assert (result.workers, result.files) == (2, 5)
    assert pq.read_table(tmp_path / "codes.parquet").equals(pq.read_table(one))
    for part in sorted((tmp_path / "codes.parquet").iterdir()):  # each part: rows in order
        ids = pq.read_table(part).column("row").to_pylist()
        assert ids == list(range(ids[0], ids[0] + 8))


def test_folder_rows_follow_the_local_order_and_skip_by_name(ray_session, encoder_path, inputs,
                                                             tmp_path):
    local, header, rows = local_csv(encoder_path, inputs / "pics", tmp_path / "local.csv")
    result = ray_encode(encoder_path, inputs / "pics", tmp_path / "codes", workers=2,
                        rows_per_unit=4)
    table = pq.read_table(tmp_path / "codes")
    assert header[0] == "file" and table.column_names == ["row", "file", *header[1:]]
    assert table.column("file").to_pylist() == [r[0] for r in rows]
    # the position in the sorted listing: a_broken.png is 0 and keeps its id unused
    assert table.column("row").to_pylist() == list(range(1, PICTURES + 2))
    assert_codes_equal(table, header, rows)
    assert result.skipped == local.skipped
    assert [name for name, _ in result.skipped] == ["a_broken.png"]
    assert result.skipped[0][1].startswith("unreadable image")
    assert result.named_rows and result.rows == PICTURES + 1


def test_parquet_pictures_rows_are_ordinal_and_codes_the_local(ray_session, encoder_path,
                                                               inputs, pixels, tmp_path):
    result = ray_encode(encoder_path, inputs / "pq", tmp_path / "codes", workers=2,
                        rows_per_unit=4)
    table = pq.read_table(tmp_path / "codes")
    kept = [i for i in range(12) if i not in (2, 9)]
    assert table.column("row").to_pylist() == kept  # ordinal rows over both files
    np.save(tmp_path / "kept.npy", pixels[kept])  # the same pixels, encoded locally
    _, header, rows = local_csv(encoder_path, tmp_path / "kept.npy", tmp_path / "local.csv")
    assert table.column_names == ["row", *header[1:]]
    assert_codes_equal(table, header, rows)
    assert [name for name, _ in result.skipped] == ["part-a.parquet row 2",
                                                    "part-b.parquet row 2"]
    assert result.skipped[0][1] == "no image (null)"
    assert result.skipped[1][1].startswith("unreadable image") and "BytesIO" not in str(
        result.skipped)
    assert result.files == 4  # a unit per row group here: 4 and 3 rows, then 4 and 1


def test_cli_engine_ray_end_to_end(ray_session, npy_one_worker, encoder_path, inputs, tmp_path,
                                   monkeypatch):
    from typer.testing import CliRunner

    from infovaegan_plugin.cli.app import app

    monkeypatch.delenv("RAY_BACKEND_LOG_LEVEL", raising=False)  # the command sets it

    out = tmp_path / "codes"
    out.mkdir()  # an earlier run's output, replaced whole (as the local engine's file is)
    (out / "part-000099.parquet").write_bytes(b"stale")
    args = ["encode", str(encoder_path), str(inputs / "x.npy"), "--output", str(out),
            "--engine", "ray", "--workers", "2", "--threads", "1", "--batch-size", "8",
            "--providers", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"encoded {N} image(s) with 2 Ray worker(s)" in text
    assert f"wrote {out}: 5 Parquet file(s), {N} rows, id column(s) row" in text
    assert not (out / "part-000099.parquet").exists()
    assert pq.read_table(out).equals(pq.read_table(npy_one_worker[1]))


# --------------------------------------------------------------------------- without Ray


def test_pixel_arrays_in_parquet_read_as_the_npy(encoder_path, inputs, tmp_path):
    """A unit read and encoded in this process, as an actor does."""
    encoder = OnnxEncoder(encoder_path, providers="cpu", intra_op_num_threads=1)
    plan = plan_input(inputs / "pq", encoder.input_shape, column="pixels")
    assert (plan.kind, plan.total, plan.picture_column) == ("parquet", 12, False)
    units = plan.units(4)
    assert [(u["file"], u["row_groups"], u["start"]) for u in units] == [
        ("part-a.parquet", [0], 0), ("part-a.parquet", [1], 4), ("part-b.parquet", [0], 7),
        ("part-b.parquet", [1], 11)]
    (tmp_path / "parts").mkdir()
    actor = UnitEncoder(str(encoder_path), str(tmp_path / "parts"), batch_size=3, threads=1,
                        providers="cpu")
    summary = actor({"spec": np.array([json.dumps(u) for u in units], dtype=object)})
    assert summary["rows"].tolist() == [4, 3, 4, 1] and not any(summary["error"])
    table = pq.read_table(tmp_path / "parts")
    _, header, rows = local_csv(encoder_path, inputs / "x.npy", tmp_path / "x.csv")
    assert table.column("row").to_pylist() == list(range(12))
    assert_codes_equal(table, header, rows[:12])


def test_worker_errors_come_back_as_data(encoder_path, tmp_path):
    """Ray loses an exception's type; the actor returns the error and its kind instead."""
    np.save(tmp_path / "bad.npy", np.full((3, 1, 8, 8), 7.0, np.float32))
    encoder = OnnxEncoder(encoder_path, providers="cpu", intra_op_num_threads=1)
    units = plan_input(tmp_path / "bad.npy", encoder.input_shape).units(8)
    actor = UnitEncoder(str(encoder_path), str(tmp_path), batch_size=8, providers="cpu")
    error = actor({"spec": [json.dumps(units[0])]})["error"][0]
    assert error.startswith("data: ") and "values out of [0, 1]" in error
    assert not list(tmp_path.glob("part-*"))


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.npy", "no such file or directory"),
    (lambda d: (d / "x.csv").write_text("1") and d / "x.csv", "the Ray engine reads"),
    (lambda d: np.save(d / "w.npy", np.zeros((2, 1, 9, 9), np.uint8)) or d / "w.npy",
     "expected images of shape"),
    (lambda d: pq.write_table(pa.table({"x": [1]}), d / "t.parquet") or d / "t.parquet",
     "no column 'image' (columns: x)"),
])
def test_bad_inputs_fail_before_ray_starts(encoder_path, tmp_path, make, message):
    import ray

    was_running = ray.is_initialized()
    with pytest.raises(ValueError, match=None) as caught:
        ray_encode(encoder_path, make(tmp_path), tmp_path / "codes")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert ray.is_initialized() == was_running and not (tmp_path / "codes").exists()


def test_output_must_be_a_parquet_folder_not_another_folder(encoder_path, inputs, tmp_path):
    with pytest.raises(NotWritableError, match="name it without a suffix or with .parquet"):
        ray_encode(encoder_path, inputs / "x.npy", tmp_path / "codes.csv")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(NotWritableError, match="holds files other than"):
        ray_encode(encoder_path, inputs / "x.npy", tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_missing_ray_is_one_line_with_the_install_command(encoder_path, inputs, tmp_path,
                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(RayEncodeError) as caught:
        ray_encode(encoder_path, inputs / "x.npy", tmp_path / "codes")
    assert str(caught.value) == ('the Ray engine needs Ray Data (ray is not installed); '
                                 'install it with: pip install "infovaegan-plugin[ray]"')


def test_empty_folder_is_refused(encoder_path, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no files to encode"):
        ray_encode(encoder_path, tmp_path / "empty", tmp_path / "codes")


def test_a_ray_started_here_gives_back_the_signal_handlers_it_replaced():
    from infovaegan_plugin.deploy import ray_encode

    class FakeRay:  # ray.init installs its own SIGTERM handler in the driver, as Ray does
        def is_initialized(self) -> bool:
            return False

        def init(self, **_: object) -> None:
            signal.signal(signal.SIGTERM, lambda *a: None)

    mine = lambda *a: None  # noqa: E731
    previous = signal.signal(signal.SIGTERM, mine)
    try:
        handlers = ray_encode._connect(FakeRay(), None, 1, 1)
        assert signal.getsignal(signal.SIGTERM) is not mine
        ray_encode._restore_signals(handlers)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
