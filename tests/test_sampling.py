import numpy as np
import pytest

from maedfer.data.sampling import eval_views, pretrain_indices, train_indices


def test_pretrain_sampling_is_16_frames_stride_4_from_a_uniform_start():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(2000):
        idx = pretrain_indices(100, rng)
        assert len(idx) == 16 and np.all(np.diff(idx) == 4)
        starts.add(idx[0])
    assert starts == set(range(0, 100 - 64 + 1))  # every start in [0, N - 64]


def test_pretrain_sampling_of_short_videos_repeats_the_last_reachable_frame():
    rng = np.random.default_rng(0)
    assert pretrain_indices(30, rng) == [0, 4, 8, 12, 16, 20, 24, 28] + [28] * 8
    assert pretrain_indices(64, rng) == list(range(0, 64, 4))
    assert pretrain_indices(1, rng) == [0] * 16


def test_train_sampling_of_long_clips_follows_the_original():
    rng = np.random.default_rng(0)
    for _ in range(500):
        n = int(rng.integers(65, 300))
        idx = np.array(train_indices(n, rng))
        end = idx[0] + 64  # start = end - L
        expected = np.clip(np.linspace(end - 64, end, 16), end - 64, end - 1).astype(np.int64)
        assert np.array_equal(idx, expected) and 64 <= end < n
    ends = {train_indices(70, rng)[0] + 64 for _ in range(500)}
    assert ends == set(range(64, 70))


def test_train_sampling_of_short_clips_pads_with_the_last_frame():
    rng = np.random.default_rng(0)
    # N = 30, rate 4: linspace(0, 30, 7) then 9 copies of 30, clipped to 29, truncated
    assert train_indices(30, rng) == [0, 5, 10, 15, 20, 25, 29] + [29] * 9
    assert train_indices(64, rng) == np.clip(np.linspace(0, 64, 16), 0, 63).astype(int).tolist()
    assert train_indices(3, rng) == [2] * 16


def test_eval_views_two_clips_two_crops():
    views = eval_views(100, num_frames=16, sampling_rate=4, num_clips=2, num_crops=2)
    sampled = list(range(0, 100, 4))  # 25 frames
    assert [v.view_id for v in views] == [0, 1, 2, 3] and [v.crop for v in views] == [0, 1, 0, 1]
    assert views[0].indices == tuple(sampled[:16]) == views[1].indices
    assert views[2].indices == tuple(sampled[9:25])  # start int(1 * (25 - 16))


def test_eval_views_of_short_clips_and_rate_one():
    views = eval_views(20, sampling_rate=4)
    assert views[0].indices == (0, 4, 8, 12, 16) + (16,) * 11 == views[2].indices
    three = eval_views(50, sampling_rate=1, num_clips=3, num_crops=1)
    assert [v.indices[0] for v in three] == [0, 17, 34]
    assert len(eval_views(10, num_clips=1, num_crops=1)) == 1


@pytest.mark.parametrize("n", [1, 15, 16, 63, 64, 65, 1000])
def test_indices_are_always_in_range(n):
    rng = np.random.default_rng(n)
    for idx in (pretrain_indices(n, rng), train_indices(n, rng), *[v.indices for v in eval_views(n)]):
        assert len(idx) == 16 and min(idx) >= 0 and max(idx) < n
