"""Distributed training: two CPU processes (gloo) launched with torchrun stay in sync."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_gloo_training_keeps_ranks_identical(tmp_path: Path):
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        f"--master_port={free_port()}", "--master_addr=127.0.0.1", str(worker), str(tmp_path),
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = (tmp_path / "rank0.txt").read_text().split()
    rank1 = (tmp_path / "rank1.txt").read_text().split()
    assert rank0[0] == rank1[0]  # same weights after training: broadcast + gradient averaging
    assert rank0[1] == rank1[1] == "4"  # 256 images / 2 ranks / batch 32: each rank sees half
    assert rank0[2] == rank1[2]  # eval accuracy gathered over both shards
    assert len(list(tmp_path.glob("InfoVAEGAN_training_*/final_model/model.pt"))) == 1
