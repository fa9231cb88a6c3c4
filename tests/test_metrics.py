import numpy as np
import pytest
import torch

from maedfer.engine.metrics import classification_metrics, confusion_matrix, merge_views


def test_hand_computed_case():
    # class 0: 3 of 4 right; class 1: 1 of 2; class 2: 2 of 2  -> 8 videos
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 2, 2, 2]
    m = classification_metrics(y_true, y_pred, 3)
    assert m["confusion"].tolist() == [[3, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert m["per_class_accuracy"] == pytest.approx([75.0, 50.0, 100.0])
    assert m["uar"] == pytest.approx(75.0)  # (75 + 50 + 100) / 3
    assert m["war"] == pytest.approx(75.0)  # 6 / 8
    # F1: class 0 p=1 r=.75 -> .857; class 1 p=.5 r=.5 -> .5; class 2 p=2/3 r=1 -> .8
    assert m["macro_f1"] == pytest.approx(100 * (6 / 7 + 0.5 + 0.8) / 3)
    assert m["weighted_f1"] == pytest.approx(100 * (4 * 6 / 7 + 2 * 0.5 + 2 * 0.8) / 8)


def test_uar_differs_from_war_on_imbalanced_data():
    y_true = [0] * 9 + [1]
    m = classification_metrics(y_true, [0] * 10, 2)
    assert m["war"] == pytest.approx(90.0) and m["uar"] == pytest.approx(50.0)


def test_absent_classes_are_left_out_like_sklearn():
    m = classification_metrics([0, 1], [0, 1], 7)
    assert m["uar"] == 100.0 and m["confusion"].shape == (7, 7)
    with pytest.raises(ValueError, match="2 labels but 3 predictions"):
        confusion_matrix([0, 1], [0, 1, 1], 2)


def test_merge_views_averages_and_drops_duplicates():
    probs = torch.tensor([[0.8, 0.2], [0.4, 0.6], [0.1, 0.9], [0.4, 0.6], [0.9, 0.1]])
    video = torch.tensor([0, 0, 1, 0, 1])
    view = torch.tensor([0, 1, 0, 1, 1])  # row 3 repeats (video 0, view 1)
    ids, mean = merge_views(probs, video, view)
    assert ids.tolist() == [0, 1]
    np.testing.assert_allclose(mean, [[0.6, 0.4], [0.5, 0.5]], atol=1e-6)
