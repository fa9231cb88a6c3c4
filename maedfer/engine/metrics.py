"""Classification metrics of the DFER literature (as the original computes them with scikit-learn): per-class accuracy
(recall), UAR = their unweighted mean, WAR = overall accuracy, over merged per-video
predictions; plus macro/weighted F1 and the confusion matrix."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def classification_metrics(y_true, y_pred, num_classes: int) -> dict:
    """UAR and WAR (in %), per-class accuracy, macro/weighted F1 and the confusion matrix.

    Like the original (sklearn over the union of seen labels), classes that occur in
    neither labels nor predictions are left out of UAR and macro F1.
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    support, predicted, hits = cm.sum(1), cm.sum(0), np.diag(cm)
    present = (support + predicted) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, hits / support, 0.0)
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    total = cm.sum()
    return {  # plain Python floats: they go into checkpoints and JSON
        "uar": float(100.0 * recall[present].mean()),
        "war": float(100.0 * hits.sum() / total),
        "macro_f1": float(100.0 * f1[present].mean()),
        "weighted_f1": float(100.0 * (f1 * support).sum() / total),
        "per_class_accuracy": (100.0 * recall).tolist(),
        "confusion": cm,
    }


def merge_views(probs: torch.Tensor, video_ids: torch.Tensor, view_ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Average softmax probabilities over each video's views (duplicate (video, view)
    pairs, e.g. from a distributed sampler's padding, count once).
    Returns (video ids, mean probabilities (V, C)) sorted by video id."""
    seen: dict[int, dict[int, torch.Tensor]] = defaultdict(dict)
    for p, v, w in zip(probs, video_ids.tolist(), view_ids.tolist()):
        seen[v].setdefault(w, p)
    videos = sorted(seen)
    mean = torch.stack([torch.stack(list(seen[v].values())).mean(0) for v in videos])
    return np.array(videos), mean.numpy()
