"""Summaries of a comparison: mean +/- std over seeds, a markdown table, the paper's targets,
one bar chart per metric, and the hardware the numbers were measured on."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_text
from .charts import bar_chart
from .evaluate import METRICS

SUMMARY_FILE = "summary.json"
TABLE_FILE = "comparison.md"
#: Display names in tables and charts.
DISPLAY = {
    "infovaegan": "InfoVAEGAN",
    "infogan": "InfoGAN",
    "ali": "ALI",
    "beta_vae": "beta-VAE",
    "factor_vae": "FactorVAE",
    "beta_tc_vae": "beta-TCVAE",
    "vaegan": "VAEGAN",
}
#: Column headers where width is scarce (terminal tables).
SHORT = {
    "accuracy": "acc",
    "nmi": "NMI",
    "ari": "ARI",
    "recon_mse": "MSE",
    "recon_bce": "BCE",
    "cfd": "CFD",
    "beta_vae": "bVAE",
    "factor_vae": "FVAE",
    "mig": "MIG",
    "dci": "DCI",
}
#: The paper's MNIST clustering-accuracy target.
MNIST_ACCURACY_TARGET = 0.95


def hardware_info(device: str = "cpu") -> dict[str, Any]:
    """What the wall times were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
    }
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _stats(values: Sequence[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "n": int(arr.size),
        "values": [float(v) for v in arr],
    }


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model (in first-seen order): metric statistics over seeds, times, figure paths."""
    models: dict[str, dict[str, Any]] = {}
    for result in results:
        entry = models.setdefault(result["model"], {"runs": []})
        entry["runs"].append(result)
    summary: dict[str, dict[str, Any]] = {}
    for name, entry in models.items():
        runs = sorted(entry["runs"], key=lambda r: r["seed"])
        keys = [k for k in METRICS if all(k in r["metrics"] for r in runs)]
        summary[name] = {
            "seeds": [r["seed"] for r in runs],
            "metrics": {k: _stats([r["metrics"][k] for r in runs]) for k in keys},
            "train_time_s": _stats([r["train_time_s"] for r in runs]),
            "eval_time_s": _stats([r["eval_time_s"] for r in runs]),
            "clustering_method": runs[0].get("clustering_method"),
            "architecture": runs[0].get("architecture", {}),
            "traversal": f"{name}/seed{runs[0]['seed']}/{runs[0]['grids']['traversal']}",
        }
        by_factor = _by_factor_means([r.get("details", {}).get("by_factor") for r in runs])
        if by_factor:
            summary[name]["by_factor"] = by_factor
    return summary


def factor_means(per_run: Sequence[dict[str, float | None] | None]) -> dict[str, float]:
    """Each factor's mean over the runs, for the factors every run has a value for (``{}``
    when a run has no breakdown: a mean of some runs is not the model's)."""
    if not per_run or any(not r for r in per_run):
        return {}
    return {n: float(np.mean([r[n] for r in per_run])) for n in per_run[0]
            if all(r.get(n) is not None for r in per_run)}


def _by_factor_means(per_run: list[dict[str, Any] | None]) -> dict[str, dict[str, float]]:
    """Per metric (FactorVAE accuracy, MIG gap), :func:`factor_means` over the runs: where a
    model's scores are lost (``{}`` when a run has no breakdown)."""
    means = {metric: factor_means([(r or {}).get(metric) for r in per_run])
             for metric in ("factor_vae", "mig")}
    return {metric: m for metric, m in means.items() if m}


def by_factor_rows(by_factor: dict[str, Any]) -> dict[str, str]:
    """One line per factor of a model's ``scores_by_factor``: the FactorVAE metric's accuracy,
    MIG's gap and the code dimensions that stand for the factor (a table's rows)."""
    dims = by_factor.get("factor_vae_dim_factor", [])
    names = dict.fromkeys([*by_factor.get("factor_vae", {}), *by_factor.get("mig", {})])

    def value(metric: str, name: str) -> str:
        v = by_factor.get(metric, {}).get(name)
        return "-" if v is None else f"{v:.4f}"

    return {name: f"FactorVAE {value('factor_vae', name)}, MIG {value('mig', name)}, code dims "
                  + (", ".join(str(j) for j, f in enumerate(dims) if f == name) or "-")
            for name in names}


def by_factor_markdown(summary: dict[str, Any]) -> str:
    """Models as rows, factors as columns: FactorVAE accuracy / MIG gap, means over seeds."""
    rows = {m: s["by_factor"] for m, s in summary.items() if s.get("by_factor")}
    if not rows:
        return ""
    names = list(dict.fromkeys(n for by in rows.values() for metric in by.values()
                               for n in metric))
    lines = ["| model | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for model, by in rows.items():
        cells = [" / ".join(f"{by[m][n]:.3f}" if n in by.get(m, {}) else "-"
                            for m in ("factor_vae", "mig")) for n in names]
        lines.append(f"| {DISPLAY.get(model, model)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean(summary: dict[str, Any], model: str, metric: str) -> float | None:
    stats = summary.get(model, {}).get("metrics", {}).get(metric)
    return None if stats is None else stats["mean"]


def check_targets(dataset: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The paper's claims checked against these numbers: ``met`` is True, False, or None
    when a model the claim needs was not run."""
    ours = "infovaegan"
    targets: list[dict[str, Any]] = []

    def add(text: str, met: bool | None, detail: str) -> None:
        targets.append({"target": text, "met": met, "detail": detail})

    if dataset == "mnist":
        acc = _mean(summary, ours, "accuracy")
        add(f"InfoVAEGAN clustering accuracy >= {MNIST_ACCURACY_TARGET:.0%}",
            None if acc is None else acc >= MNIST_ACCURACY_TARGET,
            "not run" if acc is None else f"InfoVAEGAN {acc:.4f}")
        others = {m: _mean(summary, m, "accuracy") for m in summary if m != ours}
        others = {m: v for m, v in others.items() if v is not None}
        best = max(others.items(), key=lambda kv: kv[1]) if others else None
        add("InfoVAEGAN accuracy is the best of the compared models",
            None if acc is None or best is None else acc >= best[1],
            "not run" if acc is None or best is None
            else f"InfoVAEGAN {acc:.4f}, best other {DISPLAY.get(best[0], best[0])} {best[1]:.4f}")
        mse = _mean(summary, ours, "recon_mse")
        for rival in ("infogan", "ali"):
            other = _mean(summary, rival, "recon_mse")
            add(f"InfoVAEGAN reconstruction MSE below {DISPLAY[rival]}'s",
                None if mse is None or other is None else mse < other,
                "not run" if mse is None or other is None
                else f"InfoVAEGAN {mse:.4f}, {DISPLAY[rival]} {other:.4f}")
    elif dataset == "dsprites":
        for metric in ("beta_vae", "factor_vae", "mig", "dci"):
            ours_v, theirs = _mean(summary, ours, metric), _mean(summary, "beta_vae", metric)
            add(f"InfoVAEGAN {METRICS[metric][0]} >= beta-VAE's",
                None if ours_v is None or theirs is None else ours_v >= theirs,
                "not run" if ours_v is None or theirs is None
                else f"InfoVAEGAN {ours_v:.4f}, beta-VAE {theirs:.4f}")
    return targets


def _cell(stats: dict[str, Any], bold: bool) -> str:
    text = f"{stats['mean']:.4f}"
    if stats["n"] > 1:
        text += f" ± {stats['std']:.4f}"
    return f"**{text}**" if bold else text


def markdown_table(summary: dict[str, Any]) -> str:
    """Models as rows, metrics as columns (best mean in bold; arrows give the direction)."""
    metrics = [k for k in METRICS if any(k in s["metrics"] for s in summary.values())]
    best: dict[str, float] = {}
    for k in metrics:
        values = [s["metrics"][k]["mean"] for s in summary.values() if k in s["metrics"]]
        best[k] = max(values) if METRICS[k][1] else min(values)
    arrows = [f"{k} {'↑' if METRICS[k][1] else '↓'}" for k in metrics]
    header = ["model", *arrows, "train s", "eval s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, s in summary.items():
        cells = [DISPLAY.get(name, name)]
        for k in metrics:
            stats = s["metrics"].get(k)
            bold = stats is not None and math.isclose(stats["mean"], best[k])
            cells.append("n/a" if stats is None else _cell(stats, bold))
        cells += [f"{s['train_time_s']['mean']:.0f}", f"{s['eval_time_s']['mean']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_markdown(targets: list[dict[str, Any]]) -> str:
    if not targets:
        return "No paper targets for this data set."
    word = {True: "met", False: "**missed**", None: "not checked"}
    return "\n".join(f"- {t['target']}: {word[t['met']]} ({t['detail']})" for t in targets)


def write_charts(summary: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """One PNG per metric; returns metric -> path."""
    paths = {}
    for key, (label, higher) in METRICS.items():
        names = [m for m in summary if key in summary[m]["metrics"]]
        if not names:
            continue
        stats = [summary[m]["metrics"][key] for m in names]
        path = bar_chart(
            Path(out_dir) / f"{key}.png",
            f"{label} ({'higher' if higher else 'lower'} is better)",
            [DISPLAY.get(m, m) for m in names],
            [s["mean"] for s in stats],
            [s["std"] for s in stats],
            highlight=DISPLAY["infovaegan"],
        )
        paths[key] = str(path)
    return paths


def classifier_record(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The held-out accuracy of the one classifier behind every CFD of a comparison, and its
    refusal when it was too weak (``{}`` when no run computed a CFD)."""
    cfd = next((r["details"]["cfd"] for r in results if "cfd" in r.get("details", {})), None)
    if cfd is None:
        return {}
    record = {"classifier_held_out_accuracy": cfd.get("classifier_held_out_accuracy")}
    if "refused" in cfd:
        record["cfd_refused"] = cfd["refused"]
    return record


def _classifier_sentence(payload: dict[str, Any]) -> str:
    if payload.get("cfd_refused"):
        return f" {payload['cfd_refused']}"
    accuracy = payload.get("classifier_held_out_accuracy")
    if accuracy is None:
        return ""
    return f" The CFD's dataset classifier has held-out accuracy {accuracy:.4f}."


def write_report(settings, results: list[dict[str, Any]]) -> dict[str, Any]:
    """summary.json, comparison.md and charts/ in the data set's folder; returns the summary."""
    out = settings.dataset_dir
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    targets = check_targets(settings.dataset, summary)
    charts = write_charts(summary, out / "charts")
    wall = sum(r["train_time_s"] + r["eval_time_s"] for r in results)
    payload = {
        "dataset": settings.dataset,
        "settings": settings.as_dict(),
        "fingerprint": settings.fingerprint(),
        "hardware": hardware_info(settings.device),
        "total_wall_time_s": wall,
        "models": summary,
        "targets": targets,
        "charts": {k: os.path.relpath(v, out) for k, v in charts.items()},
        **classifier_record(results),
    }
    write_text(out / SUMMARY_FILE, json.dumps(payload, indent=2))
    write_text(out / TABLE_FILE, report_markdown(payload))
    return payload


def report_markdown(payload: dict[str, Any]) -> str:
    """The comparison page: settings, table, targets, charts and traversal grids."""
    s, hw = payload["settings"], payload["hardware"]
    lines = [
        f"# {payload['dataset']}: InfoVAEGAN and compared models",
        "",
        f"Epochs {s['epochs']}, batch size {s['batch_size']}, seeds {s['seeds']}, "
        f"metric scale {s['metric_scale']}, {s['n_samples']} generated images for the "
        f"classifier Frechet distance. Total wall time {payload['total_wall_time_s']:.0f} s on "
        f"{hw['cpu']} ({hw['nproc']} CPUs, {hw['torch_threads']} torch threads, {hw['device']})."
        + _classifier_sentence(payload),
        "",
        markdown_table(payload["models"]),
        "",
        *_by_factor_section(payload["models"]),
        "## Paper targets",
        "",
        targets_markdown(payload["targets"]),
        "",
        "## Charts",
        "",
        *[f"![{k}]({v})" for k, v in payload["charts"].items()],
        "",
        "## Traversals",
        "",
        *[f"- {DISPLAY.get(m, m)}: ![{m}]({v['traversal']})" for m, v in payload["models"].items()],
        "",
    ]
    return "\n".join(lines)


def _by_factor_section(summary: dict[str, Any]) -> list[str]:
    table = by_factor_markdown(summary)
    if not table:
        return []
    return ["## By factor", "",
            "Where the disentanglement scores are lost: per ground-truth factor, the FactorVAE "
            "metric's accuracy (the share of the factor's votes read as that factor; chance "
            "1 / factors) / MIG's gap, means over seeds.", "", table, ""]
