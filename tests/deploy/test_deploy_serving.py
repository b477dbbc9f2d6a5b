"""``infovaegan serve``: a real Triton server on loopback, queried with Triton's own clients.

One server (module scope) serves the 8x8 test export; the tests check the codes against the
in-process runtime, the configs against the repository ``export --triton`` writes, errors for
bad requests while good requests keep succeeding, metrics, and a graceful shutdown.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytriton", reason="needs the [serve] extra")
httpclient = pytest.importorskip("tritonclient.http")
grpcclient = pytest.importorskip("tritonclient.grpc")
from tritonclient.utils import InferenceServerException  # noqa: E402

from infovaegan_plugin.deploy import serving_server  # noqa: E402
from infovaegan_plugin.deploy.runtime import OnnxEncoder, OnnxGenerator  # noqa: E402
from infovaegan_plugin.deploy.serving_repository import (  # noqa: E402
    ServingModels,
    write_serving_repository,
)
from infovaegan_plugin.deploy.serving_server import (  # noqa: E402
    PortInUseError,
    ServeDependencyError,
    ServerOptions,
    TritonServer,
    check_ports,
)
from infovaegan_plugin.deploy.triton import write_triton_repository  # noqa: E402

MAX_BATCH = 16
WIDE = {**os.environ, "COLUMNS": "400"}  # one error line stays one line
ENCODER, GENERATOR = "infovaegan_encoder", "infovaegan_generator"


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def options(**models) -> ServerOptions:
    http, grpc, metrics = free_ports(3)
    return ServerOptions(http_port=http, grpc_port=grpc, metrics_port=metrics,
                         address="127.0.0.1", exit_timeout_s=3,
                         models=ServingModels(max_batch_size=MAX_BATCH, providers="cpu",
                                              **models))


@pytest.fixture(scope="module")
def export_dir(digits_onnx) -> Path:
    return digits_onnx.output_dir


@pytest.fixture(scope="module")
def server(export_dir):
    with TritonServer(export_dir, options()) as running:
        yield running


@pytest.fixture(scope="module")
def http(server):
    return httpclient.InferenceServerClient(server.urls["http"].removeprefix("http://"))


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 8, 8), dtype=np.float32)


def http_encode(client, batch: np.ndarray, name: str = "images", datatype: str = "FP32",
                model: str = ENCODER):
    request = httpclient.InferInput(name, list(batch.shape), datatype)
    request.set_data_from_numpy(batch)
    return client.infer(model, [request])


# --------------------------------------------------------------------------- repository


def tensor_sections(text: str) -> list[str]:
    """The input/output blocks of a config.pbtxt, which clients depend on."""
    start, end = text.index("input ["), text.index("\n]", text.index("output [")) + 2
    return [text[start:end]]


def test_served_repository_has_the_tensors_and_parameters_of_export_triton(export_dir, tmp_path):
    served = write_serving_repository(export_dir, tmp_path / "served",
                                      ServingModels(max_batch_size=MAX_BATCH, instances=2))
    onnx_backend = write_triton_repository(export_dir / "encoder.onnx",
                                           export_dir / "generator.onnx", tmp_path / "ort",
                                           max_batch_size=MAX_BATCH)
    for name in (ENCODER, GENERATOR):
        ours = (served / name / "config.pbtxt").read_text()
        theirs = (onnx_backend / name / "config.pbtxt").read_text()
        assert tensor_sections(ours) == tensor_sections(theirs)
        assert 'backend: "python"' in ours and 'platform: "onnxruntime_onnx"' in theirs
        assert "count: 2 kind: KIND_CPU" in ours and "model_warmup" in ours
        for key in ("infovaegan.latent_layout", "infovaegan.format_version",
                    "infovaegan.plugin_version", "infovaegan.kind"):
            assert f'key: "{key}"' in ours and f'key: "{key}"' in theirs
        assert (served / name / "1" / "model.onnx").read_bytes() == \
            (onnx_backend / name / "1" / "model.onnx").read_bytes()
        assert "serving_backend import TritonPythonModel" in (served / name / "1" /
                                                              "model.py").read_text()


def test_a_missing_variant_names_the_export_flag(export_dir, tmp_path):
    partial = tmp_path / "fp32_only"
    partial.mkdir()
    for name in ("encoder.onnx", "generator.onnx"):
        (partial / name).write_bytes((export_dir / name).read_bytes())
    with pytest.raises(FileNotFoundError, match=r"encoder\.int8\.onnx.*--quantize int8"):
        write_serving_repository(partial, tmp_path / "repo", ServingModels(precision="int8"))


def test_libpython_of_the_running_interpreter_comes_first(monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", "/elsewhere")
    bundle = serving_server.bundled_triton()
    env = serving_server.server_environment(bundle)
    parts = env["LD_LIBRARY_PATH"].split(os.pathsep)
    assert parts[0] == sysconfig.get_config_var("LIBDIR")
    assert str(bundle.libraries) in parts and parts[-1] == "/elsewhere"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_missing_dependency_names_the_extra(monkeypatch):
    monkeypatch.setattr(serving_server.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ServeDependencyError, match=r'pip install "infovaegan-plugin\[serve\]"'):
        serving_server.bundled_triton()


def test_ports_in_use_or_repeated_are_refused_before_starting():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = ServerOptions(http_port=port, grpc_port=free_ports(1)[0],
                             metrics_port=free_ports(1)[0], address="127.0.0.1")
        with pytest.raises(PortInUseError, match=rf"http port {port} on 127\.0\.0\.1 is in use"):
            check_ports(busy)
    with pytest.raises(PortInUseError, match="also the --http-port"):
        check_ports(ServerOptions(http_port=9100, grpc_port=9100, metrics_port=9102))


# --------------------------------------------------------------------------- a real server


def test_http_and_grpc_codes_equal_the_runtime(server, http, export_dir):
    batch = images(5)
    expected = OnnxEncoder(export_dir, providers="cpu").encode(batch)
    over_http = http_encode(http, batch)
    grpc = grpcclient.InferenceServerClient(server.urls["grpc"])
    request = grpcclient.InferInput("images", list(batch.shape), "FP32")
    request.set_data_from_numpy(batch)
    over_grpc = grpc.infer(ENCODER, [request])
    for name, values in expected.items():
        np.testing.assert_allclose(over_http.as_numpy(name), values, atol=1e-6, rtol=0)
        np.testing.assert_allclose(over_grpc.as_numpy(name), values, atol=1e-6, rtol=0)


def test_generator_images_equal_the_runtime(http, export_dir):
    generator = OnnxGenerator(export_dir, providers="cpu")
    codes = generator.sample_codes(4, seed=3)
    requests = []
    for name in generator.input_names:
        request = httpclient.InferInput(name, list(codes[name].shape), "FP32")
        request.set_data_from_numpy(codes[name].astype(np.float32))
        requests.append(request)
    served = http.infer(GENERATOR, requests).as_numpy("images")
    np.testing.assert_allclose(served, generator.decode(codes), atol=1e-6, rtol=0)


def test_configs_carry_the_latent_layout_and_export_version(http, export_dir):
    sidecar = json.loads((export_dir / "export_metadata.json").read_text())
    metadata = sidecar["models"]["encoder.onnx"]
    config = http.get_model_config(ENCODER)
    parameters = {k: v["string_value"] for k, v in config["parameters"].items()}
    assert json.loads(parameters["infovaegan.latent_layout"]) == metadata["infovaegan.latent_layout"]
    assert json.loads(parameters["infovaegan.format_version"]) == metadata["infovaegan.format_version"]
    assert parameters["infovaegan.kind"] == "encoder"
    assert config["dynamic_batching"] is not None and config["max_batch_size"] == MAX_BATCH


BAD_REQUESTS = {
    "wrong shape": lambda c: http_encode(c, np.zeros((2, 1, 9, 9), np.float32)),
    "wrong dtype": lambda c: http_encode(c, np.zeros((2, 1, 8, 8), np.float64), datatype="FP64"),
    "batch over the maximum": lambda c: http_encode(c, images(MAX_BATCH + 1)),
    "NaN pixels": lambda c: http_encode(c, np.full((2, 1, 8, 8), np.nan, np.float32)),
    "pixels out of range": lambda c: http_encode(c, images(2) * 255),
    "unknown model": lambda c: http_encode(c, images(1), model="nope"),
    "unknown input": lambda c: http_encode(c, images(1), name="pixels"),
}


def test_bad_requests_get_errors_while_good_requests_succeed(server, http, export_dir):
    encoder = OnnxEncoder(export_dir, providers="cpu")
    url = server.urls["http"].removeprefix("http://")
    stop, failures, served = threading.Event(), [], []

    def good_client(seed: int) -> None:
        client = httpclient.InferenceServerClient(url)
        batch = images(1 + seed % 3, seed)
        expected = encoder.encode(batch)["features"]
        while not stop.is_set():
            try:
                got = http_encode(client, batch).as_numpy("features")
                if not np.allclose(got, expected, atol=1e-6):
                    failures.append("wrong codes")
                served.append(1)
            except Exception as exc:  # every good request must succeed
                failures.append(str(exc))

    threads = [threading.Thread(target=good_client, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    try:
        answers = {}
        for _ in range(3):  # repeated, so bad requests land in batches with good ones
            for what, send in BAD_REQUESTS.items():
                with pytest.raises(InferenceServerException) as error:
                    send(http)
                answers[what] = (error.value.status(), error.value.message())
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == [] and len(served) > 20
    assert {what: status for what, (status, _) in answers.items()} == {
        what: "404" if what == "unknown model" else "400" for what in BAD_REQUESTS}
    assert "NaN" in answers["NaN pixels"][1] and answers["NaN pixels"][0] == "400"
    assert "[0, 1]" in answers["pixels out of range"][1]
    assert "max_batch_size" in answers["batch over the maximum"][1] or \
        "batch-size" in answers["batch over the maximum"][1]
    assert "nope" in answers["unknown model"][1]
    assert "pixels" in answers["unknown input"][1]
    assert "FP64" in answers["wrong dtype"][1]
    assert "shape" in answers["wrong shape"][1]
    assert http.is_server_ready() and http.is_model_ready(ENCODER)


def test_prometheus_metrics_count_requests(server, http):
    http_encode(http, images(2))
    text = urllib.request.urlopen(server.urls["metrics"], timeout=5).read().decode()
    counts = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(f'nv_inference_request_success{{model="{ENCODER}"')]
    assert counts and counts[0] >= 1


# --------------------------------------------------------------------------- the command


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infovaegan_plugin.cli.app", "serve", *args],
                          capture_output=True, text=True, timeout=timeout, env=WIDE)


def test_cli_refuses_a_missing_or_foreign_export(tmp_path, export_dir):
    missing = run_cli(str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "export folder not found" in missing.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    for name in ("encoder.onnx", "generator.onnx"):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, str(foreign / name))
    result = run_cli(str(foreign), *ports_args())
    assert result.returncode == 2 and "not an InfoVAEGAN export" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def ports_args() -> list[str]:
    http, grpc, metrics = free_ports(3)
    return ["--address", "127.0.0.1", "--http-port", str(http), "--grpc-port", str(grpc),
            "--metrics-port", str(metrics)]


def test_cli_port_in_use_is_one_line(export_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        args = ports_args()
        args[args.index("--grpc-port") + 1] = str(taken.getsockname()[1])
        result = run_cli(str(export_dir), *args)
    assert result.returncode == 2 and "grpc port" in result.stderr and "in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_finishes_the_request_in_flight_and_exits_cleanly(export_dir):
    args = ports_args()
    http_port = args[args.index("--http-port") + 1]
    # A long batching delay keeps the request queued in the server when SIGTERM arrives.
    process = subprocess.Popen(
        [sys.executable, "-m", "infovaegan_plugin.cli.app", "serve", str(export_dir), *args,
         "--max-queue-delay-us", "1500000", "--providers", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=WIDE)
    try:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{http_port}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if client.is_server_ready():
                    break
            except Exception:
                pass
            time.sleep(0.2)
        outcome: dict = {}

        def send() -> None:
            try:  # tritonclient.http's connections belong to the thread that made them
                own = httpclient.InferenceServerClient(f"127.0.0.1:{http_port}")
                outcome["features"] = http_encode(own, images(3)).as_numpy("features")
            except Exception as exc:
                outcome["error"] = str(exc)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.5)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        sender.join(timeout=30)
        stdout, stderr = process.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    assert "error" not in outcome and outcome["features"].shape[0] == 3
    assert process.returncode == 0 and "Traceback" not in stderr
    assert "ready" in stdout and "stopped" in stdout
    assert took < 15
