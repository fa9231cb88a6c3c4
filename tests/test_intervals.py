"""The demo's noise figures: t intervals over seeds, the paired bootstrap over test clips, verdicts."""

import math

import numpy as np
import pytest

from maedfer.engine import intervals
from maedfer.engine.metrics import classification_metrics


def test_t_quantiles():
    assert intervals.t975(1) == 12.706 and intervals.t975(2) == 4.303 and intervals.t975(30) == 2.042
    assert intervals.t975(200) == 1.96
    with pytest.raises(ValueError, match="at least 2 seeds"):
        intervals.t975(0)


def test_uar_batch_is_the_metrics_uar():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 7, size=(50, 40))
    predictions = np.where(rng.random((50, 40)) < 0.4, labels, rng.integers(0, 7, size=(50, 40)))
    predictions[0] = 0  # one row predicts a single class, another misses classes entirely
    labels[1] = rng.integers(0, 3, size=40)
    expected = [classification_metrics(y, p, 7)["uar"] for y, p in zip(labels, predictions)]
    np.testing.assert_allclose(intervals.uar_batch(labels, predictions, 7), expected, rtol=0, atol=1e-9)


def test_claim_interval_and_verdicts():
    c = intervals.claim([1.0, 2.0, 3.0])  # mean 2, sd 1, 3 seeds
    half = 4.303 / math.sqrt(3)
    assert c["mean"] == 2.0 and c["seeds_interval"] == pytest.approx([2 - half, 2 + half])
    assert c["interval"] == pytest.approx(c["seeds_interval"]) and c["verdict"] == "within noise"
    # evaluation noise widens the interval: sqrt(s^2/n + b^2)
    wide = intervals.claim([1.0, 2.0, 3.0], evaluation_sd=1.0)
    assert wide["interval"][1] - 2 == pytest.approx(4.303 * math.sqrt(1 / 3 + 1))
    assert intervals.claim([5.0, 6.0, 7.0])["verdict"] == "shown"
    assert intervals.claim([-5.0, -6.0, -7.0])["verdict"] == "not shown"
    # against a threshold, and below one
    assert intervals.claim([5.0, 6.0, 7.0], threshold=10.0)["verdict"] == "not shown"
    assert intervals.claim([0.8, 0.81, 0.82], threshold=1.0, above=False)["verdict"] == "shown"
    assert intervals.claim([0.8, 1.2, 1.0], threshold=1.0, above=False)["verdict"] == "within noise"
    with pytest.raises(ValueError, match="at least 2 seeds"):
        intervals.claim([1.0])


def test_paired_bootstrap_over_test_clips():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 200)
    good = np.where(rng.random(200) < 0.6, labels, rng.integers(0, 7, 200))
    bad = np.where(rng.random(200) < 0.2, labels, rng.integers(0, 7, 200))
    figure = intervals.uar_difference(labels, good, bad, 7)
    exact = classification_metrics(labels, good, 7)["uar"] - classification_metrics(labels, bad, 7)["uar"]
    assert figure(np.arange(200)[None])[0] == pytest.approx(exact)
    noise = intervals.bootstrap([figure, figure], 200, rounds=500)
    (low, high), again = noise["per_seed"][0], noise["per_seed"][1]
    assert low < exact < high and [low, high] == again  # the same resamples for every seed
    # a paired difference of ~40 points on 200 clips: a binomial-sized spread, a few points
    assert 2 < noise["sd_of_mean"] < 8 and noise == intervals.bootstrap([figure, figure], 200, rounds=500)
    # identical predictions have no evaluation noise at all
    assert intervals.bootstrap([intervals.uar_difference(labels, good, good, 7)], 200, rounds=50)["sd_of_mean"] == 0
