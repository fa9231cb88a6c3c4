"""The confusion matrix picture of an evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .figures import pyplot, save_figure


def plot_confusion(cm: np.ndarray, classes: tuple[str, ...], path: Path, title: str) -> Path:
    """Counts in the cells, colour by the share of each true class (row)."""
    plt = pyplot()

    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(classes), 1 + 0.6 * len(classes)))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{cm[i, j]}", ha="center", va="center", color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save_figure(fig, path)
