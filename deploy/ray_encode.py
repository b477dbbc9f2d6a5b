"""Batch encoding beyond one machine: :func:`encode_with_ray` runs an exported ``encoder.onnx``
over an input with Ray Data, on a local Ray instance or on a cluster.

The driver only plans (:mod:`~infovaegan_plugin.deploy.encode_units`: the input's metadata is
read, no image) and collects one short summary per work unit; it never holds the corpus. The
units become a Ray Dataset of small JSON rows that ``map_batches`` hands to a pool of actors
(``workers`` of them, ``threads`` CPUs each), each holding one ``OnnxEncoder``
(:class:`~infovaegan_plugin.deploy.encode_units.UnitEncoder`). An actor reads its units' rows
from storage it can see, encodes them with the local ``encode``'s rules and writes each unit
as a Parquet part file into a hidden folder next to the output; once every unit is written,
the folder is renamed into place, so a failed or interrupted run leaves no partial output
(and an earlier one intact). Ray is imported only when called: it is the optional
``infovaegan-plugin[ray]`` extra.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infovaegan_plugin.deploy.encode_units import (
    DEFAULT_COLUMN,
    PARQUET_SUFFIX,
    UnitEncoder,
    default_rows_per_unit,
    plan_input,
)

__all__ = ["INSTALL_HINT", "RayEncodeError", "RayEncodeResult", "encode_with_ray"]

INSTALL_HINT = 'pip install "infovaegan-plugin[ray]"'
_PART = re.compile(r"part-\d+\.parquet")
_CONNECT_TIMEOUT_S = 5.0


class RayEncodeError(RuntimeError):
    """Ray is not installed, cannot be reached, or a worker failed; ``str()`` is one line."""


@dataclass(frozen=True)
class RayEncodeResult:
    """What :func:`encode_with_ray` did."""

    path: Path
    rows: int
    files: int  # Parquet part files written
    workers: int
    row_order: str
    named_rows: bool  # a ``file`` column names each row (image folders)
    skipped: tuple[tuple[str, str], ...]  # (file, or "file row k" of Parquet, reason)
    seconds: float  # the whole call
    startup_seconds: float  # starting (or joining) Ray

    @property
    def images_per_second(self) -> float:
        """Rows per second of the run after Ray was up (actors starting included)."""
        run = self.seconds - self.startup_seconds
        return self.rows / run if run > 0 else float("nan")


def encode_with_ray(encoder_path: str | os.PathLike[str], source: str | os.PathLike[str],
                    output_dir: str | os.PathLike[str], *, workers: int | None = None,
                    address: str | None = None, batch_size: int = 256,
                    threads: int | None = 1, providers: str = "auto",
                    column: str = DEFAULT_COLUMN, rows_per_unit: int | None = None,
                    overwrite: bool = False,
                    on_progress: Callable[[int, int, int], None] | None = None,
                    ) -> RayEncodeResult:
    """Encode ``source`` (an ``.npy``, a folder of images, a Parquet file or a folder of them,
    ``column`` holding encoded pictures or pixel arrays) into the folder ``output_dir`` of
    Parquet files: ``row``, ``file`` (folders) and the local ``encode``'s ``.csv`` columns.

    ``address=None`` starts a local Ray instance with ``workers * threads`` CPUs (all of the
    machine's when ``workers`` is ``None``) and stops it after; ``"auto"``, ``HOST:PORT`` or
    ``ray://HOST:PORT`` joins a cluster, whose nodes must see every path given here and have
    the package installed. A driver already connected (``ray.is_initialized()``) is used as
    it is. ``workers=None`` runs one actor per ``threads`` CPUs of the cluster, and never
    more actors than work units start (``rows_per_unit``: about four units per worker by
    default, 1 to 64 batches each). An existing
    ``output_dir`` must be empty, or hold only part files of an earlier run and
    ``overwrite=True``. ``on_progress(units_done, units, rows_done)`` after each unit.

    Raises ``DataError`` / ``InvalidInputError`` (the input), ``InvalidModelError`` /
    ``FileNotFoundError`` (the encoder), ``NotWritableError`` (the output) and
    :class:`RayEncodeError` (Ray missing or unreachable, a worker failed)."""
    started = time.perf_counter()
    threads = max(1, int(threads or 1))
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}.")
    output = Path(output_dir).absolute()
    _check_output(output, overwrite)
    ray = _import_ray()
    from infovaegan_plugin.deploy.encoder_runtime import OnnxEncoder

    encoder = OnnxEncoder(encoder_path, providers=providers, batch_size=batch_size,
                          intra_op_num_threads=1)  # the model and input checked here, once
    plan = plan_input(source, encoder.input_shape, column)
    encoder_file = str(Path(encoder.path).absolute())  # the actors open it by this path
    del encoder
    connecting = time.perf_counter()
    owned = _connect(ray, address, workers, threads)
    startup = time.perf_counter() - connecting
    try:
        workers = int(workers or _cluster_workers(ray, threads))
        units = plan.units(rows_per_unit or default_rows_per_unit(plan.total, workers,
                                                                   batch_size))
        workers = min(workers, len(units))  # an actor per unit at most
        parts = output.parent / f".{output.name}.{uuid.uuid4().hex[:12]}.partial"
        from infovaegan_plugin.atomic import write_errors

        with write_errors(output):
            parts.mkdir(parents=True)
        try:
            summaries = _run(ray, units, workers, threads, on_progress, UnitEncoder,
                             {"encoder_path": encoder_file, "parts": str(parts),
                              "batch_size": batch_size, "threads": threads,
                              "providers": providers})
            rows = sum(s["rows"] for s in summaries)
            skipped = tuple((name, why) for s in summaries for name, why in s["skipped"])
            if rows == 0:
                _nothing_readable(plan.source, skipped)
            with write_errors(output):
                _publish(parts, output)
        finally:
            shutil.rmtree(parts, ignore_errors=True)
    finally:
        if owned:
            ray.shutdown()
            _restore_signals(owned)
    files = sum(1 for s in summaries if s["rows"])
    return RayEncodeResult(output, rows, files, workers, plan.row_order, plan.named_rows,
                           skipped, time.perf_counter() - started, startup)


# --------------------------------------------------------------------------- Ray


def _import_ray() -> Any:
    """``ray`` with Ray Data, or one line saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (needs pyarrow and pandas)
    except ModuleNotFoundError as exc:
        raise RayEncodeError(f"the Ray engine needs Ray Data ({exc.name or 'ray'} is not "
                             f"installed); install it with: {INSTALL_HINT}") from None
    except ImportError as exc:  # installed but broken, e.g. pyarrow built for another numpy
        raise RayEncodeError(f"the Ray engine cannot import Ray Data: "
                             f"{_first_line(str(exc))}") from None
    return ray


def _restore_signals(previous: dict[int, Any]) -> None:
    """Put back the SIGINT/SIGTERM handlers ``ray.init`` replaced in this process, so a
    library caller's own handlers (a trainer's interrupt handling, a server's) work after."""
    for number, handler in previous.items():
        if handler is not None:
            signal.signal(number, handler)


def _connect(ray: Any, address: str | None, workers: int | None, threads: int
             ) -> dict[int, Any]:
    """Start or join Ray unless this process already is connected. Returns the signal
    handlers to restore when this call connected (and so disconnects after), else ``{}``."""
    if ray.is_initialized():
        return {}
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address in (None, "local"):
        ray.init(num_cpus=workers * threads if workers else None, include_dashboard=False,
                 **quiet)
    else:
        _probe(address)
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayEncodeError(f"cannot connect to Ray at {address}: "
                                 f"{_first_line(str(exc))}") from None
    return handlers


def _probe(address: str) -> None:
    """Fail in seconds when nothing listens at ``HOST:PORT`` (Ray itself retries for
    minutes)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayEncodeError(f"cannot connect to Ray at {address!r}: expected auto, "
                             "HOST:PORT (e.g. head:6379) or ray://HOST:PORT (e.g. head:10001)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), _CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayEncodeError(f"cannot connect to Ray at {address}: "
                             f"{exc.strerror or exc}") from None


def _cluster_workers(ray: Any, threads: int) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1) // threads))


def _run(ray: Any, units: list[dict[str, Any]], workers: int, threads: int,
         on_progress: Callable[[int, int, int], None] | None, actor: type,
         actor_kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the units through the actor pool; their summaries in unit order."""
    context = ray.data.DataContext.get_current()
    progress_bars = context.enable_progress_bars
    context.enable_progress_bars = False  # the caller shows progress (on_progress)
    data_logger = logging.getLogger("ray.data")  # its plans and notices, not its errors
    log_level = data_logger.level
    data_logger.setLevel(logging.ERROR)
    summaries: dict[int, dict[str, Any]] = {}
    rows = 0
    try:
        dataset = ray.data.from_items([{"spec": json.dumps(u)} for u in units],
                                      override_num_blocks=len(units))
        dataset = dataset.map_batches(actor, fn_constructor_kwargs=actor_kwargs, batch_size=1,
                                      compute=ray.data.ActorPoolStrategy(size=workers),
                                      num_cpus=threads)
        for summary in dataset.iter_rows():
            if summary["error"]:
                _raise_worker_error(str(summary["error"]))
            unit = int(summary["unit"])
            summaries[unit] = {"rows": int(summary["rows"]),
                               "skipped": json.loads(str(summary["skipped"]))}
            rows += summaries[unit]["rows"]
            if on_progress is not None:
                on_progress(len(summaries), len(units), rows)
    except ray.exceptions.RayError as exc:
        line = _first_error_line(str(exc))
        hint = (" (is infovaegan-plugin[ray] installed on every node?)"
                if "ModuleNotFoundError" in line else "")
        raise RayEncodeError(f"the Ray job failed: {line}{hint}") from None
    finally:
        context.enable_progress_bars = progress_bars
        data_logger.setLevel(log_level)
    if len(summaries) != len(units):
        raise RayEncodeError(f"the Ray job returned {len(summaries)} of {len(units)} units")
    return [summaries[u] for u in sorted(summaries)]


def _raise_worker_error(error: str) -> None:
    """A worker's error summary (``kind: message``) as the library's exception."""
    kind, _, message = error.partition(": ")
    if kind == "data":
        from infovaegan_plugin.data import DataError

        raise DataError(message)
    if kind == "input":
        from infovaegan_plugin.inputs import InvalidInputError

        raise InvalidInputError(message)
    raise RayEncodeError(message)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def _first_error_line(text: str) -> str:
    """The original exception's line in a Ray error's text (its traceback), else the first."""
    found = re.findall(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception): .+)$", text, re.MULTILINE)
    ours = [line for line in found if not line.lstrip().startswith("ray.")]
    return (ours or found or [_first_line(text)])[0].strip()


# --------------------------------------------------------------------------- the output folder


def _check_output(output: Path, overwrite: bool) -> None:
    """Refuse, before any work, an output that is not a Parquet folder name, is a file, or
    holds something other than an earlier run's part files."""
    from infovaegan_plugin.writable import NotWritableError, check_writable

    if output.suffix.lower() not in ("", PARQUET_SUFFIX):
        raise NotWritableError(f"output {output}: the Ray engine writes a folder of Parquet "
                               f"files; name it without a suffix or with .parquet, not "
                               f"{output.suffix!r}")
    if output.is_dir() and any(output.iterdir()):
        foreign = [p.name for p in output.iterdir()
                   if not (p.is_file() and _PART.fullmatch(p.name))]
        if foreign:
            raise NotWritableError(f"output {output} holds files other than an earlier "
                                   f"encode's part files ({', '.join(sorted(foreign)[:3])}); "
                                   "choose a new folder")
        if not overwrite:
            raise NotWritableError(f"output {output} holds an earlier encode's part files; "
                                   "pass overwrite=True to replace them")
    check_writable(output, "output", folder=True)


def _publish(parts: Path, output: Path) -> None:
    """Put the finished ``parts`` folder in place of ``output`` (renames on one disk)."""
    if not output.exists():
        os.rename(parts, output)
        return
    old = output.parent / f".{output.name}.{uuid.uuid4().hex[:12]}.old"
    os.rename(output, old)
    os.rename(parts, output)
    shutil.rmtree(old, ignore_errors=True)


def _nothing_readable(source: str, skipped: tuple[tuple[str, str], ...]) -> None:
    from infovaegan_plugin.data import DataError

    detail = "; ".join(f"{Path(n).name}: {why}" for n, why in skipped[:3])
    raise DataError(f"{source}: no readable images ({len(skipped)} skipped"
                    + (f": {detail}" if detail else "") + ")")
