"""Frozen-feature read-outs of a pre-trained encoder, the standard evaluation of
self-supervised learning: no fine-tuning, so they measure what the pre-training put into
the features.

- features: the pre-training encoder run on the whole clip (nothing masked), its normalised
  output tokens (the tokens the pre-training shaped; a fine-tuned classifier instead pools
  region tokens of a last block that pre-training never trains) pooled to a coarse map
  (:class:`EncoderFeatures`), averaged over the test protocol's views, no augmentation;
- k-NN: each test clip takes the similarity-weighted vote of its k nearest training clips
  (cosine similarity of standardised features);
- linear probe: a multinomial logistic regression on standardised features, fitted by
  L-BFGS to convergence (deterministic, no learning rate to tune).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.catalog import dataset_info
from ..inference.loading import load_pretraining_model
from ..registry import create_model
from ..settings import EvaluateSettings
from ..visualize.embedding import clip_features
from .evaluate import eval_dataset
from .metrics import classification_metrics

KNN_K = 10
PROBE_WEIGHT_DECAY = 1e-3


class EncoderFeatures(nn.Module):
    """A pre-training model's encoder as a clip feature extractor: the whole clip (nothing
    masked) goes through it, its normalised output tokens are put back on the token grid,
    averaged over time and pooled to a ``grid`` x ``grid`` map. Where things are matters for
    expressions: a global mean over all tokens left the probe of a pre-trained tiny encoder
    at chance (15.8 % UAR) where the 5x5 map gave 25.0 % (random weights: 15.3 and 16.8)."""

    def __init__(self, mae: nn.Module, grid: int = 5) -> None:
        super().__init__()
        self.encoder, self.grid = mae.encoder, grid
        self.token_grid = tuple(mae.encoder.grid)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        t, h, w = self.token_grid
        keep_all = torch.zeros(x.shape[0], t * h * w, dtype=torch.bool, device=x.device)
        tokens, order = self.encoder(x, keep_all)
        b, n, c = tokens.shape
        raster = torch.empty_like(tokens).scatter_(1, order.unsqueeze(-1).expand(-1, -1, c), tokens)
        frame = raster.view(b, t, h, w, c).mean(dim=1).permute(0, 3, 1, 2)
        return F.adaptive_avg_pool2d(frame, self.grid).flatten(1)


def encoder_features(
    config: EvaluateSettings,
    checkpoint: str | Path | None,
    annotations: list[str],
    model: str = "mae_dfer_tiny",
    workers: int = 0,
    device: torch.device | str = "cpu",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, labels) per annotation file, from the encoder of a pre-training
    ``checkpoint`` (None: a randomly initialised ``model``, seeded by ``config.seed``).
    ``config`` (a fine-tuning config) says how clips are sampled and tested."""
    torch.manual_seed(config.seed)
    mae = load_pretraining_model(checkpoint)[0] if checkpoint else create_model(model).eval()
    extractor = EncoderFeatures(mae).eval().to(device)
    _, frames, size, _ = mae.encoder.input_shape
    config = dataclasses.replace(config, num_frames=frames, input_size=size)  # clips as the encoder takes them
    return [
        clip_features(extractor, eval_dataset(config, a), batch_size=config.batch_size, workers=workers)
        for a in annotations
    ]


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return torch.from_numpy((train - mean) / std).float(), torch.from_numpy((test - mean) / std).float()


def knn_predict(
    train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, num_classes: int, k: int = KNN_K
) -> np.ndarray:
    """Labels of ``test`` by a vote of the k most cosine-similar training clips, each
    weighted by its similarity (ties of the vote go to the nearest neighbour's class)."""
    a, b = _standardise(train, test)
    sim = F.normalize(b, dim=1) @ F.normalize(a, dim=1).T
    top, idx = sim.topk(min(k, len(a)), dim=1)
    votes = torch.zeros(len(b), num_classes).scatter_add_(1, torch.from_numpy(train_labels)[idx], top.clamp(min=0))
    votes[torch.arange(len(b)), torch.from_numpy(train_labels)[idx[:, 0]]] += 1e-6
    return votes.argmax(1).numpy()


def linear_probe_predict(
    train: np.ndarray,
    train_labels: np.ndarray,
    test: np.ndarray,
    num_classes: int,
    weight_decay: float = PROBE_WEIGHT_DECAY,
) -> np.ndarray:
    """Labels of ``test`` by an L2-regularised logistic regression fitted on ``train``."""
    a, b = _standardise(train, test)
    y = torch.from_numpy(train_labels).long()
    layer = torch.nn.Linear(a.shape[1], num_classes)
    torch.nn.init.zeros_(layer.weight), torch.nn.init.zeros_(layer.bias)  # convex: start anywhere, same optimum
    opt = torch.optim.LBFGS(
        layer.parameters(), lr=1, max_iter=500, history_size=20, tolerance_grad=1e-6, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(layer(a), y) + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return layer(b).argmax(1).numpy()


def probe(
    config: EvaluateSettings,
    checkpoint: str | Path | None,
    train: str,
    test: str,
    model: str = "mae_dfer_tiny",
    workers: int = 0,
    device: torch.device | str = "cpu",
) -> dict:
    """k-NN and linear-probe UAR/WAR on ``test`` of frozen encoder features fitted on
    ``train`` (see :func:`encoder_features`), with the test clips' ``labels`` and each probe's
    ``{name}_predictions`` (lists, in the annotation file's order: what a bootstrap over the
    test clips needs)."""
    num_classes = dataset_info(config.dataset).num_classes
    (xa, ya), (xb, yb) = encoder_features(config, checkpoint, [train, test], model, workers, device)
    out: dict = {}
    for name, predict in (("knn", knn_predict), ("linear", linear_probe_predict)):
        predicted = predict(xa, ya, xb, num_classes)
        m = classification_metrics(yb, predicted, num_classes)
        out[f"{name}_uar"], out[f"{name}_war"] = m["uar"], m["war"]
        out[f"{name}_predictions"] = predicted.tolist()
    out["labels"] = yb.tolist()
    return out
