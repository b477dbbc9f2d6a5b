"""dSprites (Matthey et al., 2017), rendered procedurally from its documented factor grid.

The factor grid, its order and its index arithmetic follow the original
``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``, so factor-based metrics written against the
original file work unchanged. The pixels are our own rasterisation (the original sprites are
not redistributable with the package and weigh 3 GB uncompressed as uint8): any requested
subset is rendered on demand, never the full 737,280-image set.

Geometry (pixel units, x to the right, rows downwards, pixel (r, c) covering [c, c+1) x [r, r+1)):

* centre ``x = 16 + 32 * posX`` and ``row = 16 + 32 * posY`` (posY = 0 at the top), so the
  centre travels over the middle 32 pixels and the largest, rotated shape stays inside;
* size: the unit length is ``10 * scale`` pixels. The shapes are fitted to DeepMind's own frames
  (the 320 of the dataset's ``dsprites.gif``, every one matched with IoU >= 0.96; see
  ``docs/ARCHITECTURE.md``, "dSprites"): square = half side 0.96 (side 19.2 px at scale 1),
  ellipse = semi-axes 1.275 x 0.7225, heart = a rhombus (half-diagonals 0.745 across, 0.735
  up/down, centred 0.1 below the centre) under two elliptical lobes (semi-axes 0.48 x 0.54,
  centres (+-0.48, 0.395));
* orientation rotates the shape counter-clockwise on screen by ``orientation`` radians (as in
  the original grid, classes 0 and 39 are 0 and 2*pi: the same picture);
* a pixel is on when its centre falls inside the shape, as in the original (binary images);
  ``supersample > 1`` instead samples ``supersample x supersample`` points per pixel and keeps
  the pixels at least half covered.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .base import DataError, ImageData, validate_images

latents_names: tuple[str, ...] = ("color", "shape", "scale", "orientation", "posX", "posY")
latents_sizes: tuple[int, ...] = (1, 3, 6, 40, 32, 32)
#: Row ``i`` of the original file has classes ``index_to_classes(i)``: posY varies fastest.
latents_bases: np.ndarray = np.concatenate(
    [np.cumprod(latents_sizes[::-1])[::-1][1:], [1]]
).astype(np.int64)
DSPRITES_N_IMAGES: int = int(np.prod(latents_sizes))
SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "heart")
IMAGE_SIZE: int = 64
#: Images rendered by :func:`load_dsprites` when neither ``n`` nor ``factors`` is given.
DSPRITES_DEFAULT_N: int = 10_000

latents_possible_values: dict[str, np.ndarray] = {
    "color": np.array([1.0]),
    "shape": np.array([1.0, 2.0, 3.0]),
    "scale": np.linspace(0.5, 1.0, 6),
    "orientation": np.linspace(0.0, 2.0 * np.pi, 40),
    "posX": np.linspace(0.0, 1.0, 32),
    "posY": np.linspace(0.0, 1.0, 32),
}
for _v in (latents_bases, *latents_possible_values.values()):
    _v.setflags(write=False)

_MARGIN_PX = 16.0
_TRAVEL_PX = 32.0
_UNIT_PX = 10.0
_WINDOW = 32  # every shape fits in a 32x32 window around its centre (max radius ~13.6 px)
_CHUNK = 256  # images per vectorised batch: bounds the temporary arrays to a few MB


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 0.96


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u / 1.275) ** 2 + (v / 0.7225) ** 2 <= 1.0


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A rhombus, its bottom corner the tip, under two lobes that meet in the notch."""
    rhombus = np.abs(u) / 0.745 + np.abs(v + 0.1) / 0.735 <= 1.0
    lobes = ((np.abs(u) - 0.48) / 0.48) ** 2 + ((v - 0.395) / 0.54) ** 2 <= 1.0
    return rhombus | lobes


_SHAPE_TESTS: tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], ...] = (
    _square,
    _ellipse,
    _heart,
)


def _check_classes(classes) -> np.ndarray:
    cls = np.asarray(classes)
    if cls.ndim == 1:
        cls = cls[None, :]
    if cls.ndim != 2 or cls.shape[1] != len(latents_sizes):
        raise DataError(
            f"dSprites factor classes must have shape (N, 6) (columns {', '.join(latents_names)}), "
            f"got {cls.shape}"
        )
    if cls.size and not np.issubdtype(cls.dtype, np.integer):
        raise DataError(f"dSprites factor classes must be integers, got {cls.dtype}")
    cls = cls.astype(np.int64)
    sizes = np.asarray(latents_sizes)
    bad = (cls < 0) | (cls >= sizes)
    if bad.any():
        col = int(np.nonzero(bad.any(axis=0))[0][0])
        raise DataError(
            f"dSprites factor {latents_names[col]!r} out of range: classes must be in "
            f"[0, {sizes[col] - 1}], found {int(cls[bad[:, col], col][0])}"
        )
    return cls


def index_to_classes(index) -> np.ndarray:
    """Factor classes of row ``index`` of the original file: (6,) for an int, (N, 6) for arrays."""
    idx = np.asarray(index)
    if not np.issubdtype(idx.dtype, np.integer):
        raise DataError(f"dSprites indices must be integers, got {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= DSPRITES_N_IMAGES):
        raise DataError(f"dSprites index out of range [0, {DSPRITES_N_IMAGES - 1}]")
    idx = idx.astype(np.int64)
    return (idx[..., None] // latents_bases) % np.asarray(latents_sizes, dtype=np.int64)


def classes_to_index(classes) -> int | np.ndarray:
    """Inverse of :func:`index_to_classes`: an int for one (6,) row, an (N,) array otherwise."""
    single = np.asarray(classes).ndim == 1
    idx = _check_classes(classes) @ latents_bases
    return int(idx[0]) if single else idx


def classes_to_values(classes) -> np.ndarray:
    """The ``latents_values`` rows of the original file (shape coded 1, 2, 3; radians; [0, 1])."""
    cls = _check_classes(classes)
    return np.stack(
        [latents_possible_values[n][cls[:, j]] for j, n in enumerate(latents_names)], axis=1
    )


def sample_factors(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``n`` factor-class rows drawn independently and uniformly (with replacement)."""
    if n < 0:
        raise DataError(f"number of samples must be >= 0, got {n}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return np.stack([gen.integers(0, s, size=n) for s in latents_sizes], axis=1).astype(np.int64)


def _render_chunk(cls: np.ndarray, canvas: np.ndarray, ss: int) -> None:
    m = len(cls)
    unit = (latents_possible_values["scale"][cls[:, 2]] * _UNIT_PX).astype(np.float32)
    theta = latents_possible_values["orientation"][cls[:, 3]]
    cx = _MARGIN_PX + _TRAVEL_PX * latents_possible_values["posX"][cls[:, 4]]
    cy = _MARGIN_PX + _TRAVEL_PX * latents_possible_values["posY"][cls[:, 5]]
    ox = np.clip(np.floor(cx).astype(np.int64) - _WINDOW // 2, 0, IMAGE_SIZE - _WINDOW)
    oy = np.clip(np.floor(cy).astype(np.int64) - _WINDOW // 2, 0, IMAGE_SIZE - _WINDOW)
    sub = ((np.arange(_WINDOW * ss) + 0.5) / ss).astype(np.float32)
    dx = (ox[:, None] - cx[:, None] + sub).astype(np.float32) / unit[:, None]
    dy = (cy[:, None] - oy[:, None] - sub).astype(np.float32) / unit[:, None]  # y points up
    cos = np.cos(theta).astype(np.float32)[:, None, None]
    sin = np.sin(theta).astype(np.float32)[:, None, None]
    # Rotating the sample points by -theta is rotating the shape by +theta.
    u = cos * dx[:, None, :] + sin * dy[:, :, None]
    v = cos * dy[:, :, None] - sin * dx[:, None, :]
    inside = np.empty(u.shape, dtype=bool)
    for k, test in enumerate(_SHAPE_TESTS):
        sel = cls[:, 1] == k
        if sel.any():
            inside[sel] = test(u[sel], v[sel])
    hits = inside.reshape(m, _WINDOW, ss, _WINDOW, ss).sum(axis=(2, 4))
    pixels = 2 * hits >= ss * ss
    rows = oy[:, None, None] + np.arange(_WINDOW)[None, :, None]
    cols = ox[:, None, None] + np.arange(_WINDOW)[None, None, :]
    canvas[np.arange(m)[:, None, None], rows, cols] = pixels


def render(classes, dtype=np.float32, supersample: int = 1) -> np.ndarray:
    """Binary sprites ``(N, 1, 64, 64)`` for factor-class rows ``classes`` (N, 6).

    Values are 0/1 in ``dtype`` (pass ``np.uint8`` for the original file's storage; mind that
    :func:`validate_images` reads uint8 as 0..255). Deterministic: same classes, same pixels.
    """
    if supersample < 1:
        raise DataError(f"supersample must be >= 1, got {supersample}")
    cls = _check_classes(classes)
    out = np.zeros((len(cls), 1, IMAGE_SIZE, IMAGE_SIZE), dtype=dtype)
    for start in range(0, len(cls), _CHUNK):
        _render_chunk(cls[start : start + _CHUNK], out[start : start + _CHUNK, 0], supersample)
    return out


def _dsprites_data(images: np.ndarray, classes: np.ndarray, name: str) -> ImageData:
    return ImageData(
        images=images,
        labels=classes[:, 1].copy(),
        factors=classes,
        factor_names=latents_names,
        name=name,
        class_names=SHAPE_NAMES,
    )


def load_dsprites(
    n: int | None = None, seed: int = 0, factors: np.ndarray | None = None
) -> ImageData:
    """Render ``n`` distinct grid points drawn at random (or exactly the rows of ``factors``).

    Labels are the shape class (0 square, 1 ellipse, 2 heart); ``factors`` holds all six classes.
    ``n`` defaults to DSPRITES_DEFAULT_N: the whole grid would take 12 GB as float32.
    """
    if factors is not None:
        if n is not None:
            raise DataError("load_dsprites: give either n or factors, not both")
        classes = _check_classes(factors)
    else:
        n = DSPRITES_DEFAULT_N if n is None else int(n)
        if not 1 <= n <= DSPRITES_N_IMAGES:
            raise DataError(f"load_dsprites: n must be in [1, {DSPRITES_N_IMAGES}], got {n}")
        rng = np.random.default_rng(seed)
        classes = index_to_classes(rng.choice(DSPRITES_N_IMAGES, size=n, replace=False))
    if len(classes) == 0:
        raise DataError("load_dsprites: no factor rows to render")
    return _dsprites_data(render(classes), classes, "dsprites")


_NPZ_KEYS = ("imgs", "latents_values", "latents_classes")


def load_dsprites_npz(
    path: str | Path, n: int | None = None, seed: int = 0
) -> ImageData:
    """The original dSprites npz (keys imgs, latents_values, latents_classes).

    ``n`` keeps a seeded random subset before the float32 conversion, which for the full file
    would need 12 GB.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: corrupt or unreadable npz file ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not an npz archive (a single array); expected keys {_NPZ_KEYS}")
    with archive:
        missing = [k for k in _NPZ_KEYS if k not in archive.files]
        if missing:
            raise DataError(
                f"{path}: missing key(s) {missing}; keys present: {sorted(archive.files)}"
            )
        try:
            imgs, values, classes = (archive[k] for k in _NPZ_KEYS)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: corrupt npz member ({exc})") from exc
    k = len(latents_sizes)
    if imgs.ndim != 3 or classes.shape != (len(imgs), k) or values.shape != (len(imgs), k):
        raise DataError(
            f"{path}: expected imgs (N, 64, 64), latents_classes and latents_values (N, {k}); "
            f"got {imgs.shape}, {classes.shape}, {values.shape}"
        )
    classes = _check_classes(classes)
    if n is not None:
        if not 1 <= n <= len(imgs):
            raise DataError(f"{path}: n must be in [1, {len(imgs)}], got {n}")
        rows = np.sort(np.random.default_rng(seed).choice(len(imgs), size=n, replace=False))
        imgs, classes = imgs[rows], classes[rows]
    if np.issubdtype(imgs.dtype, np.integer) and imgs.size and imgs.max() <= 1:
        imgs = imgs.astype(np.float32)  # stored as 0/1, not 0/255
    images = validate_images(imgs, expected_shape=(1, IMAGE_SIZE, IMAGE_SIZE), name=str(path))
    return _dsprites_data(images, classes, "dsprites")
