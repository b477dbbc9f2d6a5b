"""Sample and traversal grids from the exported generator alone (ONNX Runtime, no torch).

Writes three kinds of PNG into `--output-dir`:

- `samples.png`: `--n` images from codes drawn from the priors stored in the file's metadata
  (`sample_codes`, then `decode`: keep the codes to know what made each image);
- `categories.png`: one row per category of the first categorical code, `--per-row` images
  each; the other codes and the noise are drawn from the prior, the same draws in every row;
- `traversal_continuous_<i>.png`: rows = categories, columns = continuous code `i` walked
  over its prior's range, everything else held fixed (`traverse`).

    python examples/generator_grids.py runs/digits/onnx --output-dir runs/digits/grids
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image

from infovaegan_plugin.deploy.runtime import InvalidModelError, OnnxGenerator


def save_png_grid(images: np.ndarray, path: Path, ncol: int, scale: int = 4, pad: int = 2) -> None:
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
    print(f"wrote {path}: {nrow} rows, {ncol} columns")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generator", nargs="?", default="runs/digits/onnx",
                        help="generator.onnx or the export folder holding it")
    parser.add_argument("--output-dir", default="grids")
    parser.add_argument("--n", type=int, default=64, help="images in samples.png")
    parser.add_argument("--per-row", type=int, default=10, help="images per category")
    parser.add_argument("--values", type=int, default=7, help="traversal columns")
    parser.add_argument("--scale", type=int, default=4, help="pixels per image pixel")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    try:
        generator = OnnxGenerator(args.generator)  # CUDA when it can load, else CPU
    except (FileNotFoundError, InvalidModelError) as exc:
        parser.error(f"{exc} (examples/README.md: how to train and export one)")
    layout = generator.layout  # block sizes and priors, read from the file's metadata
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    codes = generator.sample_codes(args.n, seed=args.seed)  # noise, categorical, continuous
    save_png_grid(generator.decode(codes), out / "samples.png",
                  ncol=math.ceil(math.sqrt(args.n)), scale=args.scale)

    if layout.categorical_sizes:
        # the same seed in every row: fixing code 0 leaves the other draws as they were,
        # so each column shows one style drawn in every category
        rows = [generator.generate(args.per_row, classes={0: k}, seed=args.seed)
                for k in range(layout.categorical_sizes[0])]
        save_png_grid(np.concatenate(rows), out / "categories.png", ncol=args.per_row,
                      scale=args.scale)

    values = layout.traversal_values(args.values)  # [-1, 1] uniform prior, [-2, 2] normal
    for dim in range(layout.continuous_dim):
        grid = generator.traverse(dim, values=values, seed=args.seed)  # (rows, values, C, H, W)
        save_png_grid(grid.reshape(-1, *grid.shape[2:]), out / f"traversal_continuous_{dim}.png",
                      ncol=len(values), scale=args.scale)


if __name__ == "__main__":
    main()
