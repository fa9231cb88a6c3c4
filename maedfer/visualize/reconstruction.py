"""The paper's reconstruction figure: for each tubelet time step, the input frame, the
masked input, the reconstructed appearance and the reconstructed motion (frame difference)
next to the true one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.mae_dfer import MAEDFER
from .figures import pyplot, save_figure


@torch.no_grad()
def reconstruct(model: MAEDFER, clip: torch.Tensor, mask: torch.Tensor) -> dict[str, np.ndarray]:
    """Images (T', H, W, 3) in [0, 1] of one clip (C, T, H, W) and mask (N,): 'input',
    'masked', 'appearance' (masked tubelets replaced by the prediction, un-normalised with
    the tubelet's own statistics), 'motion' and 'motion_target' (per-pixel difference
    magnitude, predicted and true, hidden tubelets only)."""
    was_training = model.training
    model.eval()
    x, m = clip.unsqueeze(0), mask.unsqueeze(0)
    pred = model(x, m).float()[0]  # (N_masked, D)
    model.train(was_training)
    c, t, h, w = model.input_shape
    pt, p = model.encoder.tubelet_size, model.encoder.patch_size
    gt, gh, gw = model.encoder.grid
    pixels = x.float() * model.norm_std + model.norm_mean  # in [0, 1]
    tubes = model.tubelets(pixels)[0].reshape(-1, pt * p * p, c)
    mean, std = tubes.mean(1, keepdim=True), tubes.std(1, keepdim=True) + 1e-6
    first = tubes.view(-1, pt, p * p, c)[:, 0]  # the first frame of every tubelet (N, p*p, C)
    hidden = mask.nonzero().flatten()
    half = p * p * c
    appearance = first.clone()
    motion = first.new_zeros(first.shape[0], p * p)  # on the clip's device
    motion_target = torch.zeros_like(motion)
    if model.target == "pixel_motion":
        appearance[hidden] = pred[:, :half].view(-1, p * p, c) * std[hidden] + mean[hidden]
        motion[hidden] = pred[:, half:].view(-1, p * p, c).abs().mean(-1)
        target = model.targets(x, m)[0]
        motion_target[hidden] = target[:, half:].view(-1, p * p, c).abs().mean(-1)
    else:  # pixel target: every frame of the tubelet; show its first frame
        appearance[hidden] = pred.view(-1, pt, p * p, c)[:, 0] * std[hidden] + mean[hidden]
    masked = first.clone()
    masked[hidden] = 0.5

    def image(tokens: torch.Tensor, channels: int) -> np.ndarray:
        v = tokens.view(gt, gh, gw, p, p, channels).permute(0, 1, 3, 2, 4, 5).reshape(gt, gh * p, gw * p, channels)
        return v.clamp(0, 1).cpu().numpy()

    scale = max(float(motion_target.max()), 1e-6)
    return {
        "input": image(first, c),
        "masked": image(masked, c),
        "appearance": image(appearance, c),
        "motion": image(motion / scale, 1)[..., 0],
        "motion_target": image(motion_target / scale, 1)[..., 0],
    }


def save_reconstruction_figure(
    model: MAEDFER, clip: torch.Tensor, mask: torch.Tensor, path: str | Path, title: str = ""
) -> Path:
    plt = pyplot()

    images = reconstruct(model, clip, mask)
    rows = [("input", "input"), ("masked", "masked input"), ("appearance", "reconstructed appearance")]
    if model.target == "pixel_motion":
        rows += [("motion_target", "true motion"), ("motion", "reconstructed motion")]
    steps = images["input"].shape[0]
    fig, axes = plt.subplots(len(rows), steps, figsize=(1.3 * steps, 1.4 * len(rows)), squeeze=False)
    for r, (key, label) in enumerate(rows):
        for s in range(steps):
            ax = axes[r, s]
            ax.imshow(images[key][s], cmap="magma" if images[key].ndim == 3 else None, vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if s == 0:
                ax.set_ylabel(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi=90)
