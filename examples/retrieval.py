"""Image retrieval: the nearest neighbours of a digit among the encoder's features.

Encodes the scikit-learn digits with `encoder.onnx` on ONNX Runtime (no torch), indexes the
`features` output with scikit-learn's `NearestNeighbors` (cosine distance) and writes a PNG:
one row per query, the query in the first column and its `k` nearest other digits beside it,
closest first. Prints how many of the neighbours show the query's digit, over every digit
used as a query (labels are only used for this score, never for the features).

    python examples/retrieval.py runs/digits/onnx --output runs/digits/retrieval.png
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image
from sklearn.neighbors import NearestNeighbors

from infovaegan_plugin.data import load_digits_data
from infovaegan_plugin.deploy.runtime import InvalidModelError, OnnxEncoder


def save_png_grid(images: np.ndarray, path: str, ncol: int, scale: int = 4, pad: int = 2) -> None:
    """(N, C, H, W) images in [0, 1] as one PNG, ``ncol`` per row, each tile ``scale`` times
    larger (nearest neighbour) with ``pad`` white pixels between and around the tiles."""
    n, c, h, w = images.shape
    nrow, th, tw = -(-n // ncol), h * scale, w * scale
    canvas = np.full((pad + nrow * (th + pad), pad + ncol * (tw + pad), c), 255, np.uint8)
    tiles = (np.clip(images, 0, 1) * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    for i, tile in enumerate(tiles.repeat(scale, axis=1).repeat(scale, axis=2)):
        top, left = pad + (i // ncol) * (th + pad), pad + (i % ncol) * (tw + pad)
        canvas[top : top + th, left : left + tw] = tile
    Image.fromarray(canvas[..., 0] if c == 1 else canvas).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder", nargs="?", default="runs/digits/onnx",
                        help="encoder.onnx or the export folder holding it")
    parser.add_argument("--output", default="retrieval.png", help="the PNG grid to write")
    parser.add_argument("--queries", type=int, default=10, help="rows of the grid")
    parser.add_argument("--k", type=int, default=8, help="neighbours per query")
    parser.add_argument("--scale", type=int, default=4, help="pixels per image pixel")
    parser.add_argument("--limit", type=int, default=None, help="use the first N digits only")
    parser.add_argument("--seed", type=int, default=0, help="picks the queries shown")
    args = parser.parse_args()

    try:
        encoder = OnnxEncoder(args.encoder)  # CUDA when it can load, else CPU
    except (FileNotFoundError, InvalidModelError) as exc:
        parser.error(f"{exc} (examples/README.md: how to train and export one)")
    digits = load_digits_data()
    images, labels = digits.images[: args.limit], digits.labels[: args.limit]
    features = encoder.encode(images)["features"]
    index = NearestNeighbors(n_neighbors=args.k + 1, metric="cosine").fit(features)
    _, found = index.kneighbors(features)  # every digit as a query; usually itself comes first
    neighbours = np.array([[j for j in row if j != i][: args.k] for i, row in enumerate(found)])
    share = float((labels[neighbours] == labels[:, None]).mean())
    print(f"{args.k} nearest neighbours of each of {len(images)} digits (cosine distance on "
          f"{features.shape[1]} features): share with the query's label {share:.4f}")

    queries = np.random.default_rng(args.seed).choice(len(images), args.queries, replace=False)
    rows = np.concatenate([queries[:, None], neighbours[queries]], axis=1)  # (queries, 1 + k)
    save_png_grid(images[rows.reshape(-1)], args.output, ncol=args.k + 1, scale=args.scale)
    print(f"wrote {args.output}: {args.queries} rows (query, then its {args.k} nearest "
          f"neighbours), {args.k + 1} columns")


if __name__ == "__main__":
    main()
