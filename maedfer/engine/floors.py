"""Has pre-training learned anything? Each part of the reconstruction loss on held-out clips,
against two floors that need no learning.

- **zero**: predicting 0 everywhere, i.e. the mean squared target. The targets are normalised
  per tubelet, so a part at 1.0 × zero has learned nothing.
- **no input**: a predictor that sees nothing of the clip and outputs, at each token
  position, that position's average target: its expected loss is the targets' variance per
  position, estimated on the held-out clips without bias (ddof 1; with the clips' own mean
  and no correction, 32 clips would put the floor 3 % too low). For appearance it sits below
  zero (faces look alike where they are); for motion near 1.0, since a frame difference has
  no average position. A model has learned from what it sees only once it is below this floor.

The held-out clips go through the run's own crop, patch size and masking, with a fixed seed,
so every epoch is scored on the same clips and masks and runs that differ only in training
compare.
"""

from __future__ import annotations

import torch
from torch import nn

# The held-out clips' crops and masks, whatever the run's seed (small: a dataset multiplies it
# into a 64-bit seed).
HELDOUT_SEED = 2023


def position_mean_floor(targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The no-input floor per target value: the expected squared error, on the hidden tokens,
    of predicting each token position's average target. ``targets`` (B, N, D) hold every
    token's target (hidden or not) of B >= 2 clips, ``mask`` (B, N) the hidden ones. Returns
    (D,) means over the hidden tokens of the squared deviations from the clips' mean at each
    position, times B / (B - 1): the unbiased estimate of the per-position variance."""
    b = targets.shape[0]
    if b < 2:
        raise ValueError("the no-input floor needs at least 2 held-out clips")
    residual = targets - targets.mean(dim=0, keepdim=True)
    return residual[mask].pow(2).mean(dim=0) * (b / (b - 1))


@torch.no_grad()
def reconstruction_floors(model: nn.Module, clips: torch.Tensor, masks: torch.Tensor, batch_size: int) -> dict:
    """Per target part of ``model`` (an :class:`~maedfer.models.MAEDFER`), on ``clips`` with
    ``masks`` (every hidden token reconstructed): its loss ÷ zero (``{part}_ratio``), ÷ the
    no-input floor (``{part}_floor_ratio``), and the floor ÷ zero (``{part}_floor``)."""
    was_training = model.training
    model.eval()
    everything = torch.ones_like(masks)
    targets, errors = [], []
    for start in range(0, len(clips), batch_size):
        x, mask = clips[start : start + batch_size], masks[start : start + batch_size]
        full = model.targets(x, everything[start : start + batch_size]).view(len(x), mask.shape[1], -1)
        pred = model(x, mask).float()
        errors.append((pred - full[mask].view_as(pred)).pow(2).flatten(0, 1))
        targets.append(full)
    model.train(was_training)
    targets_all, error = torch.cat(targets), torch.cat(errors).mean(dim=0)
    zero = targets_all[masks].pow(2).mean(dim=0)
    floor = position_mean_floor(targets_all, masks)
    out = {}
    for part, where in model.target_parts().items():
        loss, z, f = float(error[where].mean()), float(zero[where].mean()), float(floor[where].mean())
        out[f"{part}_ratio"] = loss / max(z, 1e-12)
        out[f"{part}_floor_ratio"] = loss / max(f, 1e-12)
        out[f"{part}_floor"] = f / max(z, 1e-12)
    return out
