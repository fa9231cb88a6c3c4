"""Frozen-feature probes: the k-NN and linear read-outs, and the encoder features they read."""

import numpy as np
import pytest
import torch

import maedfer
from maedfer.engine.probe import EncoderFeatures, knn_predict, linear_probe_predict


def _clusters(n_per_class: int, classes: int, dim: int, spread: float, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (classes, dim)) * 3
    labels = np.repeat(np.arange(classes), n_per_class)
    return (centres[labels] + rng.normal(0, spread, (len(labels), dim))).astype(np.float32), labels


@pytest.mark.parametrize("predict", [knn_predict, linear_probe_predict])
def test_probes_read_separable_features_exactly_and_noise_at_chance(predict):
    xa, ya = _clusters(20, 4, 16, 0.5, 0)
    xb, yb = _clusters(10, 4, 16, 0.5, 0)  # same centres (same seed), fresh noise below
    xb = xb + np.random.default_rng(1).normal(0, 0.5, xb.shape).astype(np.float32)
    assert (predict(xa, ya, xb, 4) == yb).all()
    # labels unrelated to the features: about chance (25 %), far from perfect
    rng = np.random.default_rng(2)
    noise_a, noise_b = rng.normal(size=(400, 16)).astype(np.float32), rng.normal(size=(400, 16)).astype(np.float32)
    acc = (predict(noise_a, rng.integers(0, 4, 400), noise_b, 4) == rng.integers(0, 4, 400)).mean()
    assert 0.15 < acc < 0.35


def test_knn_votes_with_the_nearest_neighbours():
    train = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [-1, 0]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1, 2])
    test = np.array([[0.95, 0.05], [0.05, 0.95]], dtype=np.float32)
    assert knn_predict(train, labels, test, 3, k=2).tolist() == [0, 1]


@pytest.mark.parametrize("name", ["mae_dfer_tiny", "mae_dfer_vit_tiny"])
def test_encoder_features_are_a_time_averaged_map_of_the_encoder_tokens(name):
    torch.manual_seed(0)
    mae = maedfer.create_model(name).eval()
    extractor = EncoderFeatures(mae, grid=5)
    x = torch.randn(2, *mae.input_shape)
    with torch.no_grad():
        features = extractor.forward_features(x)
        tokens, order = mae.encoder(x, torch.zeros(2, 800, dtype=torch.bool))
    assert features.shape == (2, 25 * 128)
    # by hand: token at raster index 0 (frame 0, row 0, column 0) and its 2x2 cell over all 8 frames
    raster = torch.zeros_like(tokens)
    for b in range(2):
        raster[b, order[b]] = tokens[b]
    cell = raster.view(2, 8, 10, 10, 128)[:, :, :2, :2].mean(dim=(1, 2, 3))
    torch.testing.assert_close(features.view(2, 128, 25)[:, :, 0], cell)
    # the clip's second sample does not change the first one's features
    with torch.no_grad():
        alone = extractor.forward_features(x[:1])
    torch.testing.assert_close(alone, features[:1], atol=1e-5, rtol=1e-4)
