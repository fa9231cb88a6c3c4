"""The paper's feature-space picture: clip features of a fine-tuned classifier (what its head
sees) projected to 2-D with t-SNE or PCA, coloured by the true label."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from torch import nn

from ..data.datasets import ClipDataset
from ..errors import MaedferError
from .figures import pyplot, save_figure

METHODS = ("tsne", "pca")


def clip_features(
    model: nn.Module, dataset: ClipDataset, batch_size: int = 8, workers: int = 0, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, C), labels (N,)) per video; views of a video are averaged (the
    evaluation loop of the multi-view protocol, with features instead of probabilities)."""
    from ..engine.evaluate import view_outputs

    device = next(model.parameters()).device
    _, features, labels = view_outputs(
        model, dataset, lambda m, x: m.forward_features(x), batch_size, workers, device, progress=progress
    )
    return features, labels


def project(features: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """2-D coordinates of ``features``: PCA (exact, by SVD) or t-SNE (scikit-learn, PCA-initialised,
    perplexity 30 or less for small sets)."""
    if method not in METHODS:
        raise ValueError(f"projection must be one of {', '.join(METHODS)}, got {method!r}")
    if len(features) < 3:
        raise ValueError(f"need at least 3 clips to project, got {len(features)}")
    x = features - features.mean(0)
    if method == "pca":
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        return x @ vt[:2].T
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise MaedferError("t-SNE needs scikit-learn: pip install 'maedfer[viz]' (or use --method pca)") from None
    perplexity = min(30.0, (len(x) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def save_embedding_figure(
    points: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], path: str | Path, title: str = ""
) -> Path:
    """The scatter plot (PNG) and its coordinates (same name, .csv)."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 5))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for k, name in enumerate(classes):
        sel = labels == k
        if sel.any():
            ax.scatter(points[sel, 0], points[sel, 1], s=12, color=cmap(k), label=f"{name} ({sel.sum()})")
    ax.set_xticks([]), ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=1.5)
    if title:
        ax.set_title(title, fontsize=9)
    path = save_figure(fig, path, dpi=110)
    with path.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "x", "y"])
        writer.writerows([classes[int(k)], f"{a:.5f}", f"{b:.5f}"] for k, (a, b) in zip(labels, points))
    return path
