"""Run a real Triton Inference Server on an export: the ``tritonserver`` binary and Python
backend that the ``nvidia-pytriton`` wheel bundles (``pip install "infovaegan-plugin[serve]"``).

:class:`TritonServer` writes the serving repository into a private workspace, checks the ports,
starts the server with an environment that works out of the box, waits until both models have
answered their warm-up request, and shuts it down gracefully (SIGTERM: Triton stops taking new
requests and finishes the ones in flight). :func:`serve_forever` is the blocking loop behind
``infovaegan serve``.

The one environment fix that must not be left to users: the backend's stub links
``libpython3.X.so.1.0`` dynamically while it imports the running interpreter's standard
library. Where the system's libpython differs from the interpreter (one built from source, a
pyenv or conda Python beside the distribution's), the model fails to start with errors such as
``'_thread.RLock' object has no attribute '_recursion_count'``; the running interpreter's own
library directory (``sysconfig``'s ``LIBDIR``) is therefore put first on ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from infovaegan_plugin.deploy.serving_repository import (
    MODEL_NAMES,
    ServingModels,
    write_serving_repository,
)

__all__ = [
    "PortInUseError",
    "ServeDependencyError",
    "ServerStartError",
    "ServerOptions",
    "TritonServer",
    "bundled_triton",
    "serve_forever",
]

INSTALL_HINT = 'pip install "infovaegan-plugin[serve]"'


class ServeDependencyError(RuntimeError):
    """The optional serving dependency (nvidia-pytriton's bundled server) is not installed."""


class PortInUseError(RuntimeError):
    """A port the server needs is taken."""


class ServerStartError(RuntimeError):
    """Triton exited or did not become ready; the message carries its first error lines."""


@dataclass(frozen=True)
class BundledTriton:
    """Files of the server the ``nvidia-pytriton`` wheel ships."""

    binary: Path
    libraries: Path
    python_backend: Path
    stub: Path


def bundled_triton(python_version: str | None = None) -> BundledTriton:
    """Locate ``tritonserver``, its libraries and the Python backend stub for this
    interpreter, without importing pytriton (its client pulls in more than the server needs)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ServeDependencyError(
            f"serving needs Triton from the nvidia-pytriton package, which is not installed: "
            f"{INSTALL_HINT}")
    root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
    version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    found = BundledTriton(
        binary=root / "bin" / "tritonserver",
        libraries=root.parent.parent / "nvidia_pytriton.libs",
        python_backend=root / "backends" / "python",
        stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
    )
    if not found.binary.is_file():
        raise ServeDependencyError(f"nvidia-pytriton is installed but {found.binary} is "
                                   f"missing; reinstall it: {INSTALL_HINT}")
    if not found.stub.is_file():
        raise ServeDependencyError(f"nvidia-pytriton has no Python backend stub for Python "
                                   f"{version} ({found.stub}); use Python 3.8-3.13.")
    return found


@dataclass(frozen=True)
class ServerOptions:
    """Where the server listens and how it stops."""

    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    address: str = "0.0.0.0"
    exit_timeout_s: int = 5
    ready_timeout_s: float = 120.0
    models: ServingModels = field(default_factory=ServingModels)

    @property
    def ports(self) -> dict[str, int]:
        return {"http": self.http_port, "grpc": self.grpc_port, "metrics": self.metrics_port}

    @property
    def local_host(self) -> str:
        """Where this machine reaches the server (a wildcard address is reached on loopback)."""
        return "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address

    @property
    def urls(self) -> dict[str, str]:
        host = self.local_host
        return {"http": f"http://{host}:{self.http_port}", "grpc": f"{host}:{self.grpc_port}",
                "metrics": f"http://{host}:{self.metrics_port}/metrics"}


def check_ports(options: ServerOptions) -> None:
    """Refuse ports given twice or already taken, before anything starts."""
    seen: dict[int, str] = {}
    for name, port in options.ports.items():
        if not 0 < port < 65536:
            raise PortInUseError(f"--{name}-port must be in 1..65535, got {port}.")
        if port in seen:
            raise PortInUseError(f"--{name}-port {port} is also the --{seen[port]}-port; "
                                 "give each endpoint its own port.")
        seen[port] = name
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the server binds: connections of an earlier run in TIME_WAIT do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((options.address, port))
            except OSError as exc:
                raise PortInUseError(
                    f"{name} port {port} on {options.address} is in use ({exc.strerror}); "
                    f"choose another with --{name}-port.") from None


def server_environment(bundle: BundledTriton) -> dict[str, str]:
    """The server's environment: this interpreter's libpython first (see the module
    docstring), the bundled libraries, and this interpreter first on PATH so the stub finds
    the same site-packages (the installed infovaegan-plugin, numpy, onnxruntime)."""
    env = dict(os.environ)
    libdir = sysconfig.get_config_var("LIBDIR")
    libraries = [p for p in (libdir, str(bundle.libraries), env.get("LD_LIBRARY_PATH")) if p]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libraries)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(
        [p for p in sys.path if p and Path(p).is_dir()] + [env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return env


def _backend_directory(bundle: BundledTriton, workspace: Path) -> Path:
    """``backends/python`` with the stub of this interpreter's Python version."""
    python = workspace / "backends" / "python"
    python.mkdir(parents=True, exist_ok=True)
    for source in (*bundle.python_backend.iterdir(), bundle.stub):
        if source.is_file():
            link = python / source.name
            if not link.exists():
                link.symlink_to(source)
    return python.parent


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


class TritonServer:
    """A tritonserver process serving one export; a context manager that stops it on exit."""

    def __init__(self, export_dir: str | os.PathLike[str],
                 options: ServerOptions = ServerOptions(),
                 workspace: str | os.PathLike[str] | None = None) -> None:
        self.export_dir = Path(export_dir)
        self.options = options
        self._own_workspace = workspace is None
        self.workspace = Path(workspace or tempfile.mkdtemp(prefix="infovaegan-serve-"))
        self.log_path = self.workspace / "tritonserver.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def urls(self) -> dict[str, str]:
        return self.options.urls

    def start(self) -> None:
        """Check everything that can be checked, then launch and wait until ready."""
        bundle = bundled_triton()
        check_ports(self.options)
        repo = write_serving_repository(self.export_dir, self.workspace / "models",
                                        self.options.models)
        backends = _backend_directory(bundle, self.workspace)
        o = self.options
        command = [
            str(bundle.binary), f"--model-repository={repo}", f"--backend-directory={backends}",
            f"--http-port={o.http_port}", f"--grpc-port={o.grpc_port}",
            f"--metrics-port={o.metrics_port}", f"--http-address={o.address}",
            f"--grpc-address={o.address}", f"--metrics-address={o.address}",
            "--allow-gpu-metrics=false", f"--exit-timeout-secs={o.exit_timeout_s}",
            "--strict-readiness=true", "--log-verbose=0", "--log-info=false",
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=server_environment(bundle), start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.options.ready_timeout_s
        base = self.urls["http"]
        checks = [f"{base}/v2/health/ready"] + [f"{base}/v2/models/{n}/ready"
                                                for n in MODEL_NAMES.values()]
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerStartError(f"Triton exited with code {self.process.returncode} "
                                       f"while starting: {self.first_errors()}")
            if all(_get(url) == 200 for url in checks):
                return
            time.sleep(0.2)
        reason = self.first_errors()
        self.stop()
        raise ServerStartError(f"Triton was not ready after {self.options.ready_timeout_s:.0f} s: "
                               f"{reason}")

    def first_errors(self, limit: int = 3) -> str:
        """The server log's first error lines (the cause), with where the full log is."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        errors = [line.strip() for line in lines if line.startswith("E") or "error" in line.lower()]
        errors = [e for e in errors if "NVML" not in e and "DCGM" not in e]
        return " | ".join(errors[:limit]) or f"see {self.log_path}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace_s: float | None = None) -> int | None:
        """SIGTERM (in-flight requests finish), then SIGKILL after the grace period."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            grace = self.options.exit_timeout_s + 5 if grace_s is None else grace_s
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        if self._own_workspace:
            import shutil

            shutil.rmtree(self.workspace, ignore_errors=True)
        return code

    def model_config(self, name: str) -> dict:
        """Triton's view of a served model's configuration (JSON)."""
        with urllib.request.urlopen(f"{self.urls['http']}/v2/models/{name}/config",
                                    timeout=5) as response:
            return json.loads(response.read())

    def __enter__(self) -> TritonServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set an event instead of raising, for the serving loop."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_forever(export_dir: str | os.PathLike[str], options: ServerOptions,
                  on_ready: Callable[[TritonServer], None] | None = None) -> int | None:
    """Serve until SIGINT/SIGTERM (then shut down gracefully) or until the server dies;
    returns the server's exit code (0 after a clean shutdown)."""
    with _stop_signals() as stop:
        server = TritonServer(export_dir, options)
        with server:
            if on_ready is not None:
                on_ready(server)
            while not stop.wait(0.5):
                if not server.alive():
                    raise ServerStartError(f"Triton stopped unexpectedly (code "
                                           f"{server.process.returncode}): {server.first_errors()}")
        return server.process.returncode if server.process else None
