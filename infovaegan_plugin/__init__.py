"""infovaegan-plugin: InfoVAEGAN (Ye & Bors, 2021) for pythae, exported to ONNX.

After ``import infovaegan_plugin`` (see ``registry``), ``pythae.pipelines.TrainingPipeline``
trains InfoVAEGAN with :class:`InfoVAEGANTrainer` and ``pythae.models.AutoModel`` loads it,
whichever of the two packages is imported first.

A service that only runs exported models needs neither torch nor pythae:
``infovaegan_plugin.deploy.runtime`` imports with numpy and onnxruntime alone. The torch-side
names load on first use (or with pythae), and explain themselves when torch is absent.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("infovaegan-plugin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

#: Public names that live on the torch side, and the module that defines each.
_TORCH_SIDE = {
    "InfoVAEGAN": ".models",
    "InfoVAEGANConfig": ".models",
    "ModelLoadError": ".models",
    "InfoVAEGANTrainer": ".trainers",
    "InfoVAEGANTrainerConfig": ".trainers",
    "NonFiniteLossError": ".trainers",
    "StructuredPriorSampler": ".samplers",
    "StructuredPriorSamplerConfig": ".samplers",
}


def _load_torch_side() -> None:
    """Import the model, trainer and sampler (pythae's wrappers register them on first use)."""
    import importlib

    for name, module in _TORCH_SIDE.items():
        globals()[name] = getattr(importlib.import_module(module, __name__), name)


def __getattr__(name: str):
    if name not in _TORCH_SIDE:
        raise AttributeError(f"module 'infovaegan_plugin' has no attribute {name!r}")
    try:
        _load_torch_side()
    except ModuleNotFoundError as exc:  # torch-free deployment: only deploy.runtime is usable
        if (exc.name or "").split(".")[0] not in ("torch", "pythae"):
            raise
        raise ModuleNotFoundError(
            f"infovaegan_plugin.{name} needs torch and pythae ({exc}); without them "
            "only infovaegan_plugin.deploy.runtime (ONNX Runtime inference) is available."
        ) from exc
    return globals()[name]


def _install_into_pythae() -> None:
    from .registry import install

    install()


# pythae's entry points are wrapped now if pythae is imported already, else right after its
# first import by anyone (``from pythae.models import AutoModel`` must then load InfoVAEGAN),
# so that a process that only runs ONNX (``infovaegan encode``) never loads torch (~300 MB).
from ._after_import import call_after_import  # noqa: E402

call_after_import("pythae", _install_into_pythae)

__all__ = [*_TORCH_SIDE, "__version__"]
