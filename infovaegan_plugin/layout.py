"""The structured latent space of InfoVAEGAN, in one torch-free place.

The generator takes ``[noise, categorical_0, ..., categorical_k, continuous]``; the encoder
answers categorical logits, continuous Gaussian parameters and (optionally) the noise's. Every
rule about that space lives here: block sizes and priors, where each block sits in the
generator input, the per-code split of categorical logits, argmax and one-hot, prior sampling,
the traversal range of a continuous code, the encoder's output widths, and the form the layout
takes in exported files' metadata. The torch model, the ONNX runtime, quantization checks, the
command line and the pictures all read it from here, so they cannot disagree.

numpy and the standard library only: a serving machine without torch imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "DEFAULT_TRAVERSAL_VALUES",
    "GENERATOR_INPUTS",
    "LATENT_SIZE_LIMITS",
    "MAX_LATENT_DIM",
    "TRAVERSAL_LIMITS",
    "LatentBlock",
    "LatentLayout",
    "validate_blocks",
]

#: The generator's input blocks, in the order they are concatenated (and the ONNX input names).
GENERATOR_INPUTS = ("noise", "categorical", "continuous")
#: The prior each kind of block may have.
ALLOWED_PRIORS = {
    "noise": {"normal"},
    "categorical": {"categorical"},
    "continuous": {"normal", "uniform"},
}
#: Largest size of one block, by kind: far above any real use (InfoGAN's 62 noise dimensions,
#: a 10-way digit code, a few continuous codes; 1000 ImageNet classes) yet small enough that a
#: corrupt or hostile config or exported file cannot make prior sampling or the networks'
#: input layers ask for terabytes. The whole generator input is at most
#: :data:`MAX_LATENT_DIM` wide (a batch of 256 codes: 64 MiB as float32).
LATENT_SIZE_LIMITS = {"noise": 10_000, "categorical": 10_000, "continuous": 1_000}
MAX_LATENT_DIM = 65_536
#: Half-width of a continuous code's traversal, by prior: all of U[-1, 1]; two standard
#: deviations of N(0, 1) (a [-1, 1] traversal of a normal code hides most of what it does).
TRAVERSAL_LIMITS = {"uniform": 1.0, "normal": 2.0}
#: Default number of values in a traversal made by the ONNX runtime.
DEFAULT_TRAVERSAL_VALUES = 7

T = TypeVar("T")


@dataclass(frozen=True)
class LatentBlock:
    """One block of the generator input: its name, kind, width and prior (``std`` scales a
    normal prior; only the noise's is ever not 1)."""

    name: str
    kind: str  # "noise", "categorical" or "continuous"
    size: int
    prior: str  # "normal", "categorical" or "uniform"
    std: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """The block as the ``infovaegan.latent_layout`` metadata writes it (``std`` only
        when it is not 1, so files of models with a unit prior read as before)."""
        entry: dict[str, Any] = {"name": self.name, "kind": self.kind, "size": self.size,
                                 "prior": self.prior}
        if self.std != 1.0:
            entry["std"] = self.std
        return entry


@dataclass(frozen=True)
class LatentLayout:
    """The latent blocks in generator-input order, and every rule derived from them."""

    blocks: tuple[LatentBlock, ...]

    def __post_init__(self) -> None:
        order = [GENERATOR_INPUTS.index(b.kind) for b in self.blocks]
        if order != sorted(order):
            raise ValueError(
                "latent blocks must come in generator order noise, categorical..., continuous; "
                f"got {[b.kind for b in self.blocks]}."
            )
        for kind in ("noise", "continuous"):
            if sum(b.kind == kind for b in self.blocks) > 1:
                raise ValueError(f"a latent layout has at most one {kind} block.")

    # ----- construction ------------------------------------------------------------------

    @classmethod
    def from_sizes(
        cls,
        noise_dim: int,
        categorical_sizes: Sequence[int],
        continuous_dim: int,
        continuous_prior: str = "uniform",
        noise_std: float = 1.0,
    ) -> LatentLayout:
        """The layout of a model with these sizes (the same blocks every export writes)."""
        return cls.from_blocks(
            [{"name": "noise", "kind": "noise", "size": noise_dim, "prior": "normal",
              "std": noise_std}]
            + [{"name": f"categorical_{i}", "kind": "categorical", "size": size,
                "prior": "categorical"} for i, size in enumerate(categorical_sizes)]
            + [{"name": "continuous", "kind": "continuous", "size": continuous_dim,
                "prior": continuous_prior}]
        )

    @classmethod
    def from_config(cls, config: Any) -> LatentLayout:
        """The layout an :class:`InfoVAEGANConfig` describes (read by attribute, no torch)."""
        return cls.from_sizes(config.noise_dim, config.categorical_dims, config.continuous_dim,
                              config.continuous_prior, config.noise_std)

    @classmethod
    def from_blocks(cls, blocks: Any) -> LatentLayout:
        """A layout from ``{name, kind, size, prior[, std]}`` dicts, checked (ValueError)."""
        clean = validate_blocks(blocks)
        return cls(tuple(LatentBlock(b["name"], b["kind"], b["size"], b["prior"],
                                     float(b.get("std", 1.0))) for b in clean))

    def to_blocks(self) -> list[dict[str, Any]]:
        """One dict per block, generator order: ``model.latent_layout()``'s documented form."""
        return [b.to_dict() for b in self.blocks]

    # ----- sizes -------------------------------------------------------------------------

    def _of_kind(self, kind: str) -> list[LatentBlock]:
        return [b for b in self.blocks if b.kind == kind]

    @property
    def noise_dim(self) -> int:
        return sum(b.size for b in self._of_kind("noise"))

    @property
    def noise_std(self) -> float:
        return next((b.std for b in self._of_kind("noise")), 1.0)

    @property
    def categorical_sizes(self) -> tuple[int, ...]:
        return tuple(b.size for b in self._of_kind("categorical"))

    @property
    def n_codes(self) -> int:
        """Number of categorical codes."""
        return len(self.categorical_sizes)

    @property
    def categorical_total(self) -> int:
        return sum(self.categorical_sizes)

    @property
    def continuous_dim(self) -> int:
        return sum(b.size for b in self._of_kind("continuous"))

    @property
    def continuous_prior(self) -> str:
        return next((b.prior for b in self._of_kind("continuous")), "uniform")

    @property
    def widths(self) -> dict[str, int]:
        """Width of each generator input, in generator order."""
        return {"noise": self.noise_dim, "categorical": self.categorical_total,
                "continuous": self.continuous_dim}

    @property
    def generator_input_dim(self) -> int:
        return sum(self.widths.values())

    # ----- positions ---------------------------------------------------------------------

    @property
    def generator_slices(self) -> dict[str, slice]:
        """Where each generator input and each block sits in the concatenated generator input
        (keys: the inputs ``noise``/``categorical``/``continuous`` and every block's name)."""
        slices: dict[str, slice] = {}
        start = 0
        for name, width in self.widths.items():
            slices[name] = slice(start, start + width)
            start += width
        for block, code_slice in zip(self._of_kind("categorical"), self.categorical_slices):
            offset = slices["categorical"].start
            slices[block.name] = slice(offset + code_slice.start, offset + code_slice.stop)
        return slices

    @property
    def categorical_slices(self) -> tuple[slice, ...]:
        """Each categorical code's columns in the categorical block (logits, probabilities,
        one-hot rows)."""
        bounds = np.cumsum([0, *self.categorical_sizes]).tolist()
        return tuple(slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]))

    @staticmethod
    def ordered_inputs(parts: Mapping[str, T]) -> list[T]:
        """``parts`` (keyed by generator input) in the generator's order, for concatenation
        by numpy or torch alike."""
        missing = [name for name in GENERATOR_INPUTS if name not in parts]
        if missing:
            raise ValueError(f"generator inputs lack {missing}.")
        return [parts[name] for name in GENERATOR_INPUTS]

    def split_categorical(self, rows: T) -> list[T]:
        """Per-code column blocks of categorical rows (numpy or torch: only slicing is used)."""
        return [rows[:, s] for s in self.categorical_slices]

    # ----- categorical codes -------------------------------------------------------------

    def argmax(self, logits: np.ndarray) -> np.ndarray:
        """Most likely class of each categorical code, int64 ``(N, n_codes)``."""
        logits = np.asarray(logits)
        self._check_width("categorical logits", logits, self.categorical_total)
        columns = [block.argmax(axis=1) for block in self.split_categorical(logits)]
        if not columns:
            return np.zeros((len(logits), 0), dtype=np.int64)
        return np.stack(columns, axis=1).astype(np.int64)

    def one_hot(self, index: np.ndarray) -> np.ndarray:
        """Class indices ``(N, n_codes)`` -> float32 one-hot rows ``(N, categorical_total)``."""
        index = np.asarray(index)
        self._check_width("categorical indices", index, self.n_codes)
        rows = np.zeros((len(index), self.categorical_total), dtype=np.float32)
        for code, (size, columns) in enumerate(zip(self.categorical_sizes,
                                                   self.categorical_slices)):
            column = index[:, code].astype(np.int64)
            if column.size and (column.min() < 0 or column.max() >= size):
                raise ValueError(f"categorical code {code} has {size} classes (0..{size - 1}), "
                                 f"got indices from {column.min()} to {column.max()}.")
            rows[np.arange(len(column)), columns.start + column] = 1.0
        return rows

    def with_classes(self, index: np.ndarray, classes: Mapping[int, int]) -> np.ndarray:
        """Class indices ``(N, n_codes)`` with categorical code ``c`` set to ``classes[c]`` in
        every row (the other codes as they were)."""
        index = np.array(index, dtype=np.int64)
        for code, value in classes.items():
            if not self.n_codes:
                raise ValueError("this model has no categorical code to fix.")
            size = self.check_categorical_code(int(code))
            if not 0 <= int(value) < size:
                raise ValueError(
                    f"categorical code {code} has classes 0..{size - 1}, got {value}.")
            index[:, int(code)] = int(value)
        return index

    @staticmethod
    def _check_width(name: str, array: np.ndarray, width: int) -> None:
        if array.ndim != 2 or array.shape[1] != width:
            raise ValueError(f"{name} must have shape (N, {width}), got {array.shape}.")

    # ----- prior sampling (numpy; the torch model samples with torch's generator) ----------

    @staticmethod
    def prior_streams(seed: int | None = 0) -> dict[str, np.random.Generator]:
        """One independent random stream per generator input, from ``seed``: fixing one block
        leaves the draws of the others unchanged."""
        children = np.random.SeedSequence(seed).spawn(len(GENERATOR_INPUTS))
        return {name: np.random.default_rng(s) for name, s in zip(GENERATOR_INPUTS, children)}

    def sample_noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, noise_dim)`` float32 draws of N(0, noise_std^2 I)."""
        return (rng.standard_normal((n, self.noise_dim)) * self.noise_std).astype(np.float32)

    def sample_categorical(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, n_codes)`` int64 class indices, each code uniform over its classes."""
        if not self.categorical_sizes:
            return np.zeros((n, 0), dtype=np.int64)
        return np.stack([rng.integers(0, k, size=n) for k in self.categorical_sizes], axis=1)

    def sample_continuous(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, continuous_dim)`` float32 draws of U[-1, 1] or N(0, 1), as the prior says."""
        shape = (n, self.continuous_dim)
        if self.continuous_prior == "uniform":
            return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        return rng.standard_normal(shape).astype(np.float32)

    def sample_prior(self, n: int, seed: int | None = 0) -> dict[str, np.ndarray]:
        """``n`` generator inputs (categorical one-hot) drawn with :meth:`prior_streams`."""
        streams = self.prior_streams(seed)
        return {
            "noise": self.sample_noise(n, streams["noise"]),
            "categorical": self.one_hot(self.sample_categorical(n, streams["categorical"])),
            "continuous": self.sample_continuous(n, streams["continuous"]),
        }

    # ----- traversals --------------------------------------------------------------------

    @property
    def traversal_limit(self) -> float:
        """Half-width of a continuous code's traversal under this layout's prior."""
        return TRAVERSAL_LIMITS[self.continuous_prior]

    def traversal_values(self, num_values: int, span: float | None = None) -> np.ndarray:
        """``num_values`` evenly spaced values over ``[-span, span]`` (default: the prior's
        :attr:`traversal_limit`)."""
        if int(num_values) < 1:
            raise ValueError(f"a traversal needs at least one value, got {num_values}.")
        span = self.traversal_limit if span is None else float(span)
        if not (np.isfinite(span) and span > 0):
            raise ValueError(f"the traversal span must be a positive number, got {span}.")
        return np.linspace(-span, span, int(num_values))

    def continuous_index(self, code: str | int) -> int:
        """The continuous dimension ``code`` names: an int or its digits, or
        ``"continuous:<i>"`` (also ``continuous_<i>``, ``continuous<i>``, ``c<i>``, and
        ``"continuous"`` for a single code)."""
        if self.continuous_dim == 0:
            raise ValueError("this model has no continuous code to traverse.")
        index: int | None = None
        if isinstance(code, (int, np.integer)) and not isinstance(code, bool):
            index = int(code)
        elif isinstance(code, str):
            name = code.strip()
            for prefix in ("continuous:", "continuous_", "continuous", "c", ""):
                tail = name[len(prefix):].strip()
                if name.startswith(prefix) and tail.isdigit():
                    index = int(tail)
                    break
            if name == "continuous" and self.continuous_dim == 1:
                index = 0
        if index is None or not 0 <= index < self.continuous_dim:
            raise ValueError(
                f"code must be a continuous dimension 0..{self.continuous_dim - 1} (an int or "
                f"'continuous:<i>'), got {code!r}."
            )
        return index

    def check_categorical_code(self, code: int) -> int:
        """Rows of a grid over categorical code ``code``: its number of classes (1 without
        categorical codes)."""
        if not self.categorical_sizes:
            return 1
        if not 0 <= code < self.n_codes:
            raise ValueError(f"categorical_code must be 0..{self.n_codes - 1} (the model has "
                             f"{self.n_codes} categorical code(s)), got {code}.")
        return self.categorical_sizes[code]

    def traversal_grid(
        self,
        dimension: int,
        values: np.ndarray,
        noise: np.ndarray,
        categorical_code: int = 0,
        categorical: np.ndarray | None = None,
        continuous: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Generator inputs of a traversal grid, row-major: rows are the classes of
        ``categorical_code``, columns the ``values`` of continuous ``dimension``; ``noise``
        ``(noise_dim,)``, ``categorical`` (class per code, default 0) and ``continuous``
        (default 0) are held fixed. Returns ``noise``, ``categorical_index`` and
        ``continuous`` with ``rows * len(values)`` rows."""
        if not 0 <= dimension < self.continuous_dim:
            raise ValueError(
                f"dimension must be in [0, {self.continuous_dim}), got {dimension}.")
        n_rows = self.check_categorical_code(categorical_code)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        total = n_rows * len(values)
        base_cat = np.zeros(self.n_codes, np.int64) if categorical is None else categorical
        base_cont = np.zeros(self.continuous_dim) if continuous is None else continuous
        index = np.tile(np.asarray(base_cat, dtype=np.int64), (total, 1))
        if self.n_codes:
            index[:, categorical_code] = np.repeat(np.arange(n_rows), len(values))
        grid_continuous = np.tile(np.asarray(base_cont, dtype=np.float32), (total, 1))
        grid_continuous[:, dimension] = np.tile(values, n_rows)
        return {
            "noise": np.tile(np.asarray(noise, dtype=np.float32).reshape(1, -1), (total, 1)),
            "categorical_index": index,
            "continuous": grid_continuous,
        }

    # ----- the encoder -------------------------------------------------------------------

    def encoder_head_widths(self, infer_noise: bool) -> dict[str, int]:
        """Width of each part of the encoder network's flat output, in its order."""
        widths = {"categorical_logits": self.categorical_total,
                  "continuous_mean": self.continuous_dim,
                  "continuous_logvar": self.continuous_dim}
        if infer_noise:
            widths.update(noise_mean=self.noise_dim, noise_logvar=self.noise_dim)
        return widths

    @property
    def code_head_width(self) -> int:
        """The code head's output: categorical logits and the continuous mean and log-variance."""
        return self.categorical_total + 2 * self.continuous_dim

    @property
    def noise_head_width(self) -> int:
        """The noise head's output: the noise's mean and log-variance."""
        return 2 * self.noise_dim

    def feature_dim(self, infer_noise: bool) -> int:
        """Width of ``features``: categorical probabilities | continuous mean | noise mean."""
        return self.categorical_total + self.continuous_dim + (
            self.noise_dim if infer_noise else 0)

    def encoder_outputs(self, infer_noise: bool) -> dict[str, int]:
        """The exported encoder's outputs (graph order) and their widths."""
        heads = self.encoder_head_widths(infer_noise)
        widths = {"categorical_probs": self.categorical_total,
                  "categorical_logits": heads.pop("categorical_logits"),
                  "continuous_mean": heads.pop("continuous_mean"),
                  "continuous_logvar": heads.pop("continuous_logvar"),
                  "features": self.feature_dim(infer_noise)}
        return {**widths, **heads}


def validate_blocks(blocks: Any) -> list[dict[str, Any]]:
    """Check ``{name, kind, size, prior[, std]}`` block dicts (the form exported files carry)
    and return a clean copy; every fault is a ``ValueError`` naming the block."""
    if not isinstance(blocks, (list, tuple)) or not blocks:
        raise ValueError(f"latent_layout must be a non-empty list of blocks, got {blocks!r}.")
    clean: list[dict[str, Any]] = []
    for block in blocks:
        if not isinstance(block, Mapping) or not {"name", "kind", "size", "prior"} <= set(block):
            raise ValueError(f"latent_layout block needs name, kind, size, prior; got {block!r}.")
        kind, prior, size = block["kind"], block["prior"], int(block["size"])
        if kind not in ALLOWED_PRIORS:
            raise ValueError(f"latent block {block['name']!r} has unknown kind {kind!r}.")
        if prior not in ALLOWED_PRIORS[kind]:
            raise ValueError(
                f"latent block {block['name']!r} ({kind}) has prior {prior!r}; "
                f"expected one of {sorted(ALLOWED_PRIORS[kind])}."
            )
        if size < 0 or (kind == "categorical" and size < 2):
            raise ValueError(f"latent block {block['name']!r} has invalid size {size}.")
        if size > LATENT_SIZE_LIMITS[kind]:
            raise ValueError(f"latent block {block['name']!r} has size {size}, above the "
                             f"limit of {LATENT_SIZE_LIMITS[kind]:,} for a {kind} block.")
        entry = {"name": str(block["name"]), "kind": kind, "size": size, "prior": prior}
        if "std" in block:  # a normal prior's scale; absent means 1
            std = float(block["std"])
            if not std > 0:
                raise ValueError(f"latent block {block['name']!r} has invalid std {std}.")
            entry["std"] = std
        clean.append(entry)
    total = sum(entry["size"] for entry in clean)
    if total > MAX_LATENT_DIM:
        raise ValueError(f"latent_layout is {total:,} wide in all, above the limit of "
                         f"{MAX_LATENT_DIM:,}.")
    return clean
