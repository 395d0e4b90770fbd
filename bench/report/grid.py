"""Labelled image grids (rows x columns of PNGs), for demos and sweep reports."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402


def save_grid(cells: list[list[str | Path | Image.Image]], path: str | Path, row_labels: list[str], col_labels: list[str],
              title: str = "", cell_inches: float = 1.1) -> Path:
    n_rows, n_cols = len(cells), max(len(r) for r in cells)
    if len(row_labels) != n_rows or len(col_labels) != n_cols:
        raise ValueError(f"grid of {n_rows}x{n_cols} needs as many labels, got {len(row_labels)} rows, {len(col_labels)} columns")
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.6 + cell_inches * n_cols, 0.5 + cell_inches * n_rows), squeeze=False)
    for i, row in enumerate(cells):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row):
                img = row[j] if isinstance(row[j], Image.Image) else Image.open(row[j])
                ax.imshow(img.convert("RGB"), interpolation="nearest")
            if i == 0:
                ax.set_title(col_labels[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(row_labels[i], fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
