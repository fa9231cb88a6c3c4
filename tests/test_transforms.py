import pytest
import torch

from maedfer.data.transforms import (
    INCREASING_OPS,
    OFFICIAL_RANDAUGMENT,
    FramesToTensor,
    Mixup,
    MultiScaleCrop,
    Normalize,
    RandAugment,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
    TopCenterCrop,
    eval_transform,
    pretrain_transform,
    smooth_one_hot,
    train_transform,
)
from maedfer.data.transforms import randaugment as ra


def _image(h=96, w=128, seed=0):
    """A structured image (gradients + blocks) in 0..255, (3, H, W)."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([x * 255, y * 255, (x * y) * 255])
    blocks = torch.rand(3, h // 16, w // 16, generator=g).repeat_interleave(16, 1).repeat_interleave(16, 2) * 60
    return (base * 0.7 + blocks).round().clamp(0, 255)


def _static_clip(t=8, **kw):
    return _image(**kw).expand(t, -1, -1, -1).clone()  # (T, 3, H, W), all frames equal


def _frames_equal(clip):
    return all(torch.equal(clip[0], clip[i]) for i in range(1, clip.shape[0]))


RANDOM_TRANSFORMS = [
    RandomResizedCrop(64),
    RandomHorizontalFlip(1.0),
    MultiScaleCrop(64),
    RandomErasing(p=1.0),
    RandAugment.from_policy("rand-m9-n6-mstd0.5-inc1-p1.0"),
]


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_random_transforms_treat_every_frame_alike(transform):
    for seed in range(10):
        torch.manual_seed(seed)
        out = transform(_static_clip())
        if isinstance(transform, RandomErasing):  # same box, fresh noise per frame
            changed = (out != _static_clip()).any(dim=1)
            assert changed.any() and all(torch.equal(changed[0], changed[i]) for i in range(8))
        else:
            assert _frames_equal(out)


@pytest.mark.parametrize("name", sorted(INCREASING_OPS))
def test_every_randaugment_op_keeps_shape_range_and_frames(name):
    clip = _static_clip().permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)  # non-contiguous, as in pipelines
    for level in (0.0, 5.0, 10.0):
        torch.manual_seed(1)
        out = INCREASING_OPS[name](clip.clone(), level)
        assert out.shape == clip.shape and out.dtype == torch.float32
        assert out.min() >= 0 and out.max() <= 255 and torch.equal(out, out.round())
        assert _frames_equal(out)


def test_randaugment_ops_do_what_they_say():
    clip = _static_clip()
    assert torch.equal(ra.invert(clip, 5), 255 - clip)
    assert torch.equal(ra.solarize_increasing(clip, 0), clip)  # threshold 256: nothing flips
    assert torch.equal(ra.posterize_increasing(clip, 10), torch.zeros_like(clip))  # 0 bits kept
    assert torch.equal(ra.posterize_increasing(clip, 5), (clip.to(torch.uint8) >> 6 << 6).float())  # 2 bits
    torch.manual_seed(0)
    assert torch.equal(ra.rotate(clip, 0), clip) and torch.equal(ra.translate_x_rel(clip, 0), clip)
    shifted = ra.translate_x_rel(clip, 10)  # 0.45 * 128 = 57.6 px, filled with 128
    assert 56 <= (shifted == 128).all(dim=(0, 1, 2)).sum() <= 58  # the 57th column is an edge blend
    eq = ra.equalize(clip, 0)
    hist = torch.bincount(eq[0, 0].long().flatten(), minlength=256)
    assert hist.nonzero().numel() > 1 and eq[0, 0].max() == 255
    ac = ra.auto_contrast(clip * 0.5 + 20, 0)
    assert ac.amin(dim=(2, 3)).eq(0).all() and ac.amax(dim=(2, 3)).eq(255).all()
    gray = ra.color_increasing(clip, 0)  # factor 1: unchanged
    assert torch.equal(gray, clip)


def test_randaugment_policy_parsing():
    r = RandAugment.from_policy(OFFICIAL_RANDAUGMENT)
    assert (r.num_ops, r.magnitude, r.magnitude_std, r.p) == (4, 7.0, 0.5, 0.5)
    assert len(r.ops) == 15
    torch.manual_seed(0)
    draws = [r.sample() for _ in range(2000)]
    counts = [len(d) for d in draws]
    assert abs(sum(counts) / len(counts) - 2.0) < 0.1  # 4 ops kept with p 0.5
    levels = torch.tensor([lvl for d in draws for _, lvl in d])
    assert abs(levels.mean().item() - 7) < 0.05 and abs(levels.std().item() - 0.5) < 0.05
    for bad, msg in [
        ("augmix-m3", "must start with 'rand'"),
        ("rand-m7-q3", "cannot parse 'q3'"),
        ("rand-m7-inc0", "only the increasing op set"),
    ]:
        with pytest.raises(ValueError, match=msg):
            RandAugment.from_policy(bad)


def test_random_resized_crop_areas_and_fallback():
    rrc = RandomResizedCrop(64, scale=(0.08, 1.0))
    torch.manual_seed(0)
    fractions = []
    for _ in range(300):
        top, left, ch, cw = rrc.params(160, 160)
        assert 0 <= top <= 160 - ch and 0 <= left <= 160 - cw
        fractions.append(ch * cw / 160**2)
    assert min(fractions) < 0.15 and max(fractions) > 0.8
    narrow = RandomResizedCrop(64, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert narrow.params(100, 300) == (0, 100, 100, 100)  # impossible in 10 tries: centre fallback
    assert rrc(_static_clip()).shape == (8, 3, 64, 64)


def test_multiscale_crop_sides_and_voxceleb_crop():
    msc = MultiScaleCrop(160)
    torch.manual_seed(0)
    sides = {msc.params(160, 160)[2:] for _ in range(500)}
    allowed = [160, 140, 120, 105]
    assert sides == {(a, b) for i, a in enumerate(allowed) for j, b in enumerate(allowed) if abs(i - j) <= 1}
    vox = torch.arange(224.0).view(1, 1, 1, 224).expand(2, 3, 224, 224)
    cropped = TopCenterCrop(160)(vox)
    assert cropped.shape == (2, 3, 160, 160) and cropped[0, 0, 0, 0] == 32 and cropped[0, 0, 0, -1] == 191


def test_presets_give_model_ready_clips():
    frames = torch.randint(0, 256, (16, 120, 140, 3), dtype=torch.uint8)
    torch.manual_seed(0)
    for transform in (train_transform(80), eval_transform(80)):
        out = transform(frames)
        assert out.shape == (3, 16, 80, 80) and out.dtype == torch.float32
        assert -2.2 < out.min() and out.max() < 2.7 or isinstance(transform.transforms[-2], RandomErasing)
    vox = pretrain_transform(160)(torch.randint(0, 256, (16, 224, 224, 3), dtype=torch.uint8))
    assert vox.shape == (3, 16, 160, 160)
    norm = Normalize()(torch.full((1, 3, 2, 2), 255.0))
    torch.testing.assert_close(
        norm[0, :, 0, 0], (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    )
    with pytest.raises(ValueError, match=r"frames of shape \(T, H, W, 3\)"):
        FramesToTensor()(torch.zeros(16, 3, 8, 8, dtype=torch.uint8))
    assert Resize(32)(_static_clip()).shape == (8, 3, 32, 32)


def test_mixup_label_mass_and_mixing():
    torch.manual_seed(0)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    clips = torch.arange(6.0).view(6, 1, 1, 1, 1).expand(6, 3, 4, 8, 8).contiguous()
    mix = Mixup(num_classes=7)
    saw_cutmix = saw_mixup = False
    for _ in range(50):
        mixed, targets = mix(clips, labels)
        assert targets.shape == (6, 7) and torch.allclose(targets.sum(1), torch.ones(6))
        lam = (targets[0, 0] - 0.1 / 7) / 0.9  # weight of the clip's own label
        own = (mixed[0] == 0).float().mean()  # clip 0 holds 0s, its partner (clip 5) holds 5s
        if set(mixed[0].unique().tolist()) <= {0.0, 5.0}:  # CutMix: lambda = share of own pixels
            saw_cutmix = True
            assert abs(own.item() - lam.item()) < 1e-5
            assert all(torch.equal(mixed[0, :, 0] == 0, mixed[0, :, t] == 0) for t in range(4))  # same box per frame
        else:
            saw_mixup = True
            assert torch.allclose(mixed[0], torch.full_like(mixed[0], 5 * (1 - lam.item())), atol=1e-5)
    assert saw_cutmix and saw_mixup
    assert torch.allclose(smooth_one_hot(torch.tensor([2]), 4, 0.1), torch.tensor([[0.025, 0.025, 0.925, 0.025]]))
    with pytest.raises(ValueError, match="even batch size"):
        mix(clips[:5], labels[:5])
    with pytest.raises(ValueError, match=r"labels must lie in 0..6"):
        mix(clips, torch.tensor([0, 1, 2, 3, 4, 9]))
