"""``infovaegan serve``: an export's encoder and generator behind Triton Inference Server.

Serves ``infovaegan_encoder`` and ``infovaegan_generator`` over HTTP/REST and gRPC (KServe v2
protocol) with dynamic batching, Prometheus metrics on the metrics port, until Ctrl-C or
SIGTERM (in-flight requests finish first). The library call is
:func:`infovaegan_plugin.deploy.serving_server.serve_forever`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from infovaegan_plugin.cli.common import at_least, check_providers, console, fail, user_errors


def serve(
    export_dir: Path = typer.Argument(..., help="Export folder (infovaegan export --onnx)."),
    http_port: int = typer.Option(8000, help="HTTP/REST port."),
    grpc_port: int = typer.Option(8001, help="gRPC port."),
    metrics_port: int = typer.Option(8002, help="Prometheus metrics port."),
    address: str = typer.Option("0.0.0.0", help="Address to listen on (127.0.0.1: this "
                                "machine only)."),
    max_batch_size: int = typer.Option(256, callback=at_least(1),
                                       help="Largest batch a request or the batcher may form."),
    max_queue_delay_us: int = typer.Option(100, callback=at_least(0), help="How long the "
                                           "dynamic batcher waits to fill a batch (µs)."),
    instances: int = typer.Option(1, callback=at_least(1), help="Model instances (processes) "
                                  "per model."),
    threads: int = typer.Option(1, callback=at_least(1),
                                help="ONNX Runtime intra-op threads per instance."),
    precision: str = typer.Option("fp32", help="Which files to serve: fp32, fp16 or int8."),
    providers: str = typer.Option("auto", help="auto (CUDA when present), cpu or cuda."),
) -> None:
    """Serve an export through Triton (pip install "infovaegan-plugin[serve]")."""
    from infovaegan_plugin.deploy.serving_repository import ServingModels
    from infovaegan_plugin.deploy.serving_server import (
        PortInUseError,
        ServeDependencyError,
        ServerOptions,
        ServerStartError,
        serve_forever,
    )
    from infovaegan_plugin.deploy.session import InvalidModelError

    check_providers(providers)
    if precision not in ("fp32", "fp16", "int8"):
        fail(f"--precision must be fp32, fp16 or int8, got {precision!r}.")
    options = ServerOptions(
        http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port, address=address,
        models=ServingModels(precision=precision, max_batch_size=max_batch_size,
                             max_queue_delay_us=max_queue_delay_us, instances=instances,
                             threads=threads, providers=providers.lower()))

    def ready(server) -> None:
        urls = server.urls
        console.print(f"serving {escape(str(export_dir))} ({precision}) as infovaegan_encoder "
                      f"and infovaegan_generator")
        console.print(f"HTTP {urls['http']}  gRPC {urls['grpc']}  metrics {urls['metrics']}")
        console.print("ready; Ctrl-C or SIGTERM stops (in-flight requests finish first)")

    with user_errors(FileNotFoundError, InvalidModelError, PortInUseError, ServeDependencyError):
        try:
            serve_forever(export_dir, options, on_ready=ready)
        except ServerStartError as exc:
            fail(str(exc), code=1)
    console.print("stopped")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
