"""How much of a difference is noise: 95 % intervals over seeds, a bootstrap over test clips,
and the verdict a claim gets from them.

Two sources of noise move a claim such as "pre-trained above scratch":
- **training noise**: another seed trains other models. Each seed gives one paired difference
  (both arms trained with that seed); their mean gets Student's t interval over the seeds.
- **evaluation noise**: every seed is tested on the same clips, so whatever those clips favour
  is shared by all seeds and does not show in the spread over seeds. A paired bootstrap over
  the test clips (the same resample for every seed and both arms) measures it.

The verdict's interval adds the two variances, ``mean ± t(n-1) * sqrt(s²/n + b²)``, with ``s``
the standard deviation over seeds and ``b`` the bootstrap's standard deviation of the mean over
seeds. Part of the evaluation noise is already in ``s``, so this errs on the wide side: a claim
is called shown only when it is clear of both.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

# Student's t, two-sided 95 % (the 0.975 quantile), by degrees of freedom; 1.96 beyond 30.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131)
_T975 += (2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
BOOTSTRAP_ROUNDS = 2000
VERDICTS = ("shown", "not shown", "within noise")


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"an interval over seeds needs at least 2 seeds (df >= 1), got df {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def uar_batch(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """UAR in % of each row of ``predictions`` (R, N) against ``labels`` (R, N), as
    :func:`maedfer.engine.metrics.classification_metrics` computes it (classes in neither the
    labels nor the predictions are left out)."""
    rows = np.arange(labels.shape[0])[:, None] * num_classes
    size = labels.shape[0] * num_classes
    support = np.bincount((rows + labels).ravel(), minlength=size).reshape(-1, num_classes)
    predicted = np.bincount((rows + predictions).ravel(), minlength=size).reshape(-1, num_classes)
    hits = np.bincount((rows + labels).ravel(), weights=(labels == predictions).ravel(), minlength=size)
    hits = hits.reshape(-1, num_classes)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    present = (support + predicted) > 0
    return 100.0 * (recall * present).sum(1) / present.sum(1)


# A claim's figure for one seed, from the test clips chosen: (indices (R, N)) -> values (R,).
SeedFigure = Callable[[np.ndarray], np.ndarray]


def uar_difference(labels: np.ndarray, a: np.ndarray, b: np.ndarray | None, num_classes: int) -> SeedFigure:
    """The figure "UAR of predictions ``a`` minus UAR of ``b``" (``b`` None: UAR of ``a``) on
    the test clips an index array picks."""
    labels, a = np.asarray(labels), np.asarray(a)
    b = None if b is None else np.asarray(b)

    def figure(index: np.ndarray) -> np.ndarray:
        y = labels[index]
        value = uar_batch(y, a[index], num_classes)
        return value if b is None else value - uar_batch(y, b[index], num_classes)

    return figure


def bootstrap(figures: Sequence[SeedFigure], clips: int, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> dict:
    """Evaluation noise of per-seed ``figures`` on ``clips`` test clips: ``rounds`` resamples
    of the clips with replacement, the same for every seed. Returns per seed the 95 %
    percentile interval of its figure, and the standard deviation of the mean over seeds
    (``sd_of_mean``, the ``b`` of the module's docstring)."""
    index = np.random.default_rng(seed).integers(0, clips, size=(rounds, clips))
    values = np.stack([figure(index) for figure in figures])  # (seeds, rounds)
    return {
        "per_seed": [[float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for v in values],
        "sd_of_mean": float(values.mean(0).std(ddof=1)),
        "rounds": rounds,
    }


def verdict(low: float, high: float) -> str:
    """ "shown" where the interval lies above 0, "not shown" where it lies below, else
    "within noise"."""
    return "shown" if low > 0 else "not shown" if high < 0 else "within noise"


def claim(per_seed: Sequence[float], threshold: float = 0.0, evaluation_sd: float = 0.0, above: bool = True) -> dict:
    """A claim "the mean over seeds of ``per_seed`` lies above ``threshold``" (``above``
    False: below it): the mean, the t interval over seeds, the interval with the evaluation
    noise ``evaluation_sd`` added (the module's docstring), and its verdict."""
    values = np.asarray(per_seed, dtype=float)
    n = len(values)
    mean, sd = float(values.mean()), float(values.std(ddof=1)) if n > 1 else math.nan
    t = t975(n - 1)
    seeds_half = t * sd / math.sqrt(n)
    half = t * math.sqrt(sd**2 / n + evaluation_sd**2)
    low, high = mean - half, mean + half
    return {
        "per_seed": values.tolist(),
        "mean": mean,
        "threshold": threshold,
        "seeds_interval": [mean - seeds_half, mean + seeds_half],
        "evaluation_sd": evaluation_sd,
        "interval": [low, high],
        "above": above,
        "verdict": verdict(low - threshold, high - threshold) if above else verdict(threshold - high, threshold - low),
    }
