"""A built-in synthetic face-expression video dataset: procedurally rendered, deterministic
from a seed, no downloads.

Each clip shows one face identity (skin tone, face shape, placement of eyes, brows, mouth,
hair) whose expression unfolds over time in the DFEW class order (happy, sad, neutral,
angry, surprise, disgust, fear): an intensity curve rises from an onset to an apex and
falls at an offset, at random times and strengths, and drives brows, eyes and mouth.

Two pairs of classes share the same apex face and differ only in how they move, so one
frame cannot tell them apart:
- surprise (abrupt onset, short apex) vs fear (slow onset, trembling intensity);
- angry (one sustained contraction) vs disgust (repeated short twitches).

Every class shares the nuisance motion: talking mouth, blinks, head translation, rotation
and scale, lighting drift, sensor noise and background clutter.

``generate(out, ...)`` writes it exactly like a real dataset: labelled frame folders
(``frames/<id>/00001.jpg ...``) with annotation files in the original format, split by
identity (``train.csv``/``test.csv``, or ``splitNN/`` folds), an unlabelled mp4 pool
(``pool/*.mp4``, ``pretrain.csv``) for pre-training, ``classes.txt`` and a contact sheet.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from ..errors import MaedferError
from ..files import output_dir, refuse_existing
from .annotations import write_annotations
from .catalog import dataset_info
from .synth_faces import make_identity3, render_clip3, segment_distance
from .transforms import Normalize
from .writers import write_frames, write_video

CLASSES = dataset_info("dfew").classes
# 2: 1.5x larger expressions, stronger shading, head shake/nod, less sensor noise;
# 3 (synth_faces): one expression drives brows, eyes, cheeks and mouth, a distinct apex face per
# class, textured skin and background, little noise, lighting drift and head motion.
SYNTH_VERSION = 3
VERSIONS = (2, 3)

# Apex change of each facial parameter per class (intensity 1). Surprise/fear and
# angry/disgust share their apex on purpose: only their dynamics differ.
# Version 2 made every change 1.5x larger: at 80x80 pixels the version-1 expressions moved
# brows and mouth corners by about a pixel between sampled frames, less than the head.
_SURPRISE_FACE = dict(brow_raise=0.21, eye_open=1.5, mouth_open=0.3, mouth_width=-0.12)
_ANGRY_FACE = dict(brow_raise=-0.135, brow_tilt=-1.05, eye_open=0.3, mouth_width=-0.15, lip=0.045)
APEX: dict[str, dict[str, float]] = {
    "happy": dict(mouth_curve=0.255, mouth_width=0.135, eye_open=-0.75),
    "sad": dict(mouth_curve=-0.21, brow_tilt=0.825, brow_raise=0.045, eye_open=-0.45),
    "neutral": {},
    "angry": _ANGRY_FACE,
    "surprise": _SURPRISE_FACE,
    "disgust": _ANGRY_FACE,
    "fear": _SURPRISE_FACE,
}


@dataclass(frozen=True)
class Identity:
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    face_w: float
    face_h: float
    eye_x: float
    eye_y: float
    mouth_y: float
    mouth_w: float
    brow_thick: float
    hairline: float


def make_identity(rng: np.random.Generator) -> Identity:
    tone = rng.uniform(0.25, 1.0)
    skin = tuple(np.clip(np.array([0.95, 0.75, 0.62]) * tone + rng.normal(0, 0.03, 3), 0.05, 1))
    hair = tuple(np.clip(rng.uniform(0.05, 0.6) * np.array([1.0, 0.8, 0.6]) + rng.normal(0, 0.05, 3), 0, 1))
    return Identity(
        skin,
        hair,
        face_w=rng.uniform(0.5, 0.62),
        face_h=rng.uniform(0.68, 0.8),
        eye_x=rng.uniform(0.19, 0.27),
        eye_y=rng.uniform(-0.22, -0.1),
        mouth_y=rng.uniform(0.33, 0.45),
        mouth_w=rng.uniform(0.16, 0.24),
        brow_thick=rng.uniform(0.03, 0.045),
        hairline=rng.uniform(-0.62, -0.45),
    )


def intensity_curve(label: str, frames: int, rng: np.random.Generator) -> np.ndarray:
    """Expression intensity per frame (0 = neutral face): onset -> apex -> offset."""
    t = np.arange(frames, dtype=np.float64)
    if label == "neutral":
        return np.zeros(frames)
    peak = rng.uniform(0.6, 1.0)
    if label == "surprise":  # abrupt: 1-2 frame rise, short apex, quick fall
        on = rng.uniform(0.1, 0.45) * frames
        rise, hold, fall = rng.uniform(1, 2.5), rng.uniform(0.15, 0.3) * frames, rng.uniform(2, 4)
    elif label == "fear":  # slow rise, long trembling apex
        on = rng.uniform(0.0, 0.25) * frames
        rise, hold, fall = rng.uniform(0.3, 0.45) * frames, rng.uniform(0.3, 0.5) * frames, rng.uniform(4, 8)
    elif label == "disgust":  # repeated twitches
        period = rng.uniform(5, 8)
        phase = rng.uniform(0, period)
        twitch = np.clip(np.cos(2 * np.pi * (t - phase) / period), 0, None) ** 3
        return peak * twitch
    else:  # one smooth contraction
        on = rng.uniform(0.0, 0.35) * frames
        rise, hold, fall = rng.uniform(3, 8), rng.uniform(0.3, 0.6) * frames, rng.uniform(3, 8)
    curve = np.clip((t - on) / rise, 0, 1) * np.clip(1 - (t - on - rise - hold) / fall, 0, 1)
    if label == "fear":
        curve = curve * (1 + 0.35 * np.sin(2 * np.pi * t / rng.uniform(2.5, 4) + rng.uniform(0, 6)))
    return peak * curve


def _smooth_path(rng: np.random.Generator, frames: int, amplitude: float) -> np.ndarray:
    """A slow random trajectory: two sinusoids of random period and phase."""
    t = np.arange(frames)
    out = np.zeros(frames)
    for _ in range(2):
        out += np.sin(2 * np.pi * t / rng.uniform(frames * 0.6, frames * 3) + rng.uniform(0, 6.3))
    return amplitude * rng.uniform(0.2, 1.0) * out / 2


def render_clip(label: int, identity: Identity, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Render one clip: (frames, size, size, 3) uint8 RGB."""
    name = CLASSES[label]
    T = frames
    k = intensity_curve(name, T, rng)[:, None, None]  # (T, 1, 1)
    apex = APEX[name]
    par = {
        p: apex.get(p, 0.0) * k
        for p in ("brow_raise", "brow_tilt", "eye_open", "mouth_open", "mouth_width", "mouth_curve", "lip")
    }

    # nuisance motion shared by all classes
    talk = rng.uniform(0, 0.05) if rng.random() < 0.7 else 0.0
    talk_wave = talk * (1 + np.sin(2 * np.pi * np.arange(T) / rng.uniform(3, 7) + rng.uniform(0, 6)))[:, None, None] / 2
    blink = np.ones(T)
    for start in rng.choice(T, size=rng.integers(0, 3), replace=False):
        for j, f in enumerate((0.5, 0.08, 0.5)):
            if start + j < T:
                blink[start + j] = min(blink[start + j], f)
    blink = blink[:, None, None]
    # Face-cropped like the DFER datasets: the face fills most of the frame.
    # slow wandering plus a head shake / nod, which moves the whole face by 1-3 pixels between
    # sampled frames: motion that the rest of the clip predicts, as in talking-head videos
    t = np.arange(T)
    bob = [rng.uniform(0.0, 0.06) * np.sin(2 * np.pi * t / rng.uniform(10, 24) + rng.uniform(0, 6.3)) for _ in (0, 1)]
    cx = (_smooth_path(rng, T, 0.06) + bob[0])[:, None, None] + rng.normal(0, 0.03)
    cy = (_smooth_path(rng, T, 0.05) + bob[1])[:, None, None] + 0.08 + rng.normal(0, 0.03)
    angle = (_smooth_path(rng, T, 0.15) + rng.normal(0, 0.05))[:, None, None]
    scale = (rng.uniform(1.35, 1.55) * (1 + _smooth_path(rng, T, 0.05)))[:, None, None]

    ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    x, y = xs[None], ys[None]
    # face coordinates: undo head translation, rotation and scale
    dx, dy = (x - cx) / scale, (y - cy) / scale
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy

    # background: a colour gradient plus static clutter, drifting slowly
    img = np.empty((T, size, size, 3))
    base = rng.uniform(0.1, 0.9, 3)
    tilt = rng.normal(0, 0.4, 3)
    for c in range(3):
        img[..., c] = base[c] + tilt[c] * (x * rng.normal() + y * rng.normal())
    drift = np.arange(T)[:, None, None] * rng.normal(0, 0.01, 2)[:, None, None, None]
    for _ in range(rng.integers(3, 8)):
        px, py, r = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.08, 0.35)
        colour = rng.uniform(0, 1, 3)
        if rng.random() < 0.5:
            shape = (np.abs(x - px - drift[0]) < r) & (np.abs(y - py - drift[1]) < r * rng.uniform(0.3, 1.5))
        else:
            shape = np.hypot(x - px - drift[0], y - py - drift[1]) < r
        img[shape] = colour

    iden = identity
    face = (u / iden.face_w) ** 2 + (v / iden.face_h) ** 2 < 1
    shading = 1 - 0.5 * ((u / iden.face_w) ** 2 + (v / iden.face_h) ** 2)
    skin = np.array(iden.skin)
    img[face] = skin[None] * shading[face][:, None]
    hair = face & (v < iden.hairline + 0.08 * np.cos(u * 6))
    img[hair] = np.array(iden.hair)
    img[(face & (np.abs(u) < 0.035) & (v > 0.0) & (v < 0.18))] = skin * 0.7  # nose ridge

    for side in (-1, 1):
        ex, ey = side * iden.eye_x, iden.eye_y
        open_ = 0.055 * np.clip(1 + par["eye_open"], 0.2, 2.5) * blink
        eye = ((u - ex) / 0.1) ** 2 + ((v - ey) / open_) ** 2 < 1
        img[eye] = (0.95, 0.95, 0.92)
        pupil = eye & (np.hypot(u - ex, v - ey) < 0.038)
        img[pupil] = (0.08, 0.06, 0.05)
        # brow: inner end (towards the nose) moves with brow_tilt
        by = ey - 0.11 - par["brow_raise"]
        inner_y, outer_y = by - par["brow_tilt"] * 0.12, by + par["brow_tilt"] * 0.03
        brow = segment_distance(u, v, side * (iden.eye_x - 0.1), inner_y, side * (iden.eye_x + 0.11), outer_y)
        img[face & (brow < iden.brow_thick)] = np.array(iden.hair) * 0.8

    # mouth: centre line bends up at the corners when smiling, opening is a lens shape
    mw = iden.mouth_w * (1 + par["mouth_width"] / 0.2)
    rel = np.clip(u / mw, -1.5, 1.5)
    centre = iden.mouth_y - par["mouth_curve"] * (rel**2 - 0.3)
    opening = np.clip(0.012 + par["mouth_open"] + talk_wave, 0, None) * np.clip(1 - rel**2, 0, None)
    lip = 0.022 + par["lip"]
    inside = np.abs(u) < mw
    img[face & inside & (np.abs(v - centre) < opening / 2 + lip)] = skin * np.array([0.75, 0.35, 0.35])
    img[face & inside & (np.abs(v - centre) < opening / 2)] = (0.25, 0.05, 0.06)

    # lighting drift and a moving light direction, then sensor noise
    light = (
        1
        + _smooth_path(rng, T, 0.25)[:, None, None]
        + 0.25 * (x * np.cos(np.linspace(0, rng.uniform(-1, 1), T))[:, None, None] * rng.uniform(0, 1))
    )
    img = img * light[..., None] + rng.normal(0, rng.uniform(0.0, 0.004), img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def brightness_step_clips(images: torch.Tensor, frames: int, step: float, generator: torch.Generator) -> torch.Tensor:
    """Clips (N, 3, frames, H, W), normalised as model input, whose motion is predictable
    from any visible token: still ``images`` (N, 3, H, W, values in [0, 1]) that brighten or
    darken by the factor ``1 +- step`` between the 2 frames of every tubelet, the sign drawn
    per clip. The MAE-DFER motion target of a hidden tubelet is then its (normalised)
    brightness change, whose sign every visible tubelet shows: a check that the motion path
    learns when motion can be predicted (``bench/motion_target.py`` and the tests)."""
    if frames % 2:
        raise ValueError(f"frames must be even (tubelets of 2 frames), got {frames}")
    sign = torch.randint(0, 2, (len(images), 1, 1, 1, 1), generator=generator).float() * 2 - 1
    still = images.float().unsqueeze(2)
    pair = torch.cat([still, (still * (1 + step * sign)).clamp(0, 1)], dim=2).repeat(1, 1, frames // 2, 1, 1)
    return Normalize()(pair.transpose(1, 2) * 255).transpose(1, 2)  # the pipeline's normalisation, per frame


@dataclass(frozen=True)
class SynthConfig:
    clips_per_class: int = 40
    pool_size: int = 200
    frames: int = 32
    pool_frames: int = 64
    size: int = 112
    identities: int = 40
    test_fraction: float = 0.3
    folds: int = 0
    seed: int = 0
    heldout_size: int = 0  # unlabelled videos of other new people, never trained on (heldout.csv)
    version: int = SYNTH_VERSION  # the renderer: 2 (render_clip) or 3 (synth_faces.render_clip3)

    @property
    def used_identities(self) -> int:
        """Identity k shows clips k*7 .. k*7+6 (one per class) in each round, so only as many
        identities as clips per class ever appear."""
        return min(self.identities, self.clips_per_class)


def _clip_rng(seed: int, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, kind, index])  # independent of generation order


def _identity(cfg: SynthConfig, rng: np.random.Generator):
    return make_identity3(rng) if cfg.version == 3 else make_identity(rng)


def _identities(cfg: SynthConfig) -> list:
    return [_identity(cfg, _clip_rng(cfg.seed, 0, i)) for i in range(cfg.identities)]


def render(cfg: SynthConfig, label: int, identity, frames: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of ``cfg``'s version: (frames, size, size, 3) uint8."""
    if cfg.version == 3:
        name = CLASSES[label]
        return render_clip3(name, identity, intensity_curve(name, frames, rng), cfg.size, rng)
    return render_clip(label, identity, frames, cfg.size, rng)


def labelled_clip(cfg: SynthConfig, index: int) -> np.ndarray:
    """Labelled clip ``index``: class ``index % 7`` shown by identity ``index // 7`` (modulo
    the identities in use), ``cfg.frames`` frames."""
    rng = _clip_rng(cfg.seed, 1, index)
    label, identity = index % len(CLASSES), _identities(cfg)[(index // len(CLASSES)) % cfg.used_identities]
    return render(cfg, label, identity, cfg.frames, rng)


POOL, HELDOUT = 2, 5  # random streams of the unlabelled videos (and, + 1, of their people)


def unlabelled_clip(cfg: SynthConfig, index: int, kind: int = POOL) -> np.ndarray:
    """Unlabelled video ``index`` of the pool (``kind`` POOL) or of the held-out videos
    (HELDOUT): a random class shown by a new person, ``cfg.pool_frames`` frames."""
    rng = _clip_rng(cfg.seed, kind, index)
    label = int(rng.integers(len(CLASSES)))
    identity = _identity(cfg, _clip_rng(cfg.seed, kind + 1, index))
    return render(cfg, label, identity, cfg.pool_frames, rng)


def _labelled_job(args: tuple[SynthConfig, int, str]) -> None:
    cfg, index, folder = args
    write_frames(folder, labelled_clip(cfg, index), ext="jpg", quality=92)


def _pool_job(args: tuple[SynthConfig, int, str]) -> None:
    cfg, index, path = args
    write_video(path, unlabelled_clip(cfg, index, POOL))


def _heldout_job(args: tuple[SynthConfig, int, str]) -> None:
    cfg, index, path = args
    write_video(path, unlabelled_clip(cfg, index, HELDOUT))


def _render_job(args: tuple[SynthConfig, str, int]) -> np.ndarray:
    cfg, kind, index = args
    if kind == "labelled":
        return labelled_clip(cfg, index)
    return unlabelled_clip(cfg, index, POOL if kind == "pool" else HELDOUT)


def render_arrays(cfg: SynthConfig, workers: int = 0) -> dict[str, np.ndarray]:
    """The dataset of ``cfg`` rendered straight into memory, no files (so no JPEG or video
    coding): uint8 arrays (N, T, size, size, 3) ``pool``, ``heldout`` and ``labelled``, and
    per labelled clip its ``labels`` and ``train`` (True: in the train split of
    :func:`identity_splits`, with folds the first fold's). For benches that train in memory."""
    items = labelled_items(cfg, Path("frames"))
    train = {p for p, _ in identity_splits(cfg, items)["train" if not cfg.folds else "split01/train"]}
    jobs = {
        "pool": [(cfg, "pool", i) for i in range(cfg.pool_size)],
        "heldout": [(cfg, "heldout", i) for i in range(cfg.heldout_size)],
        "labelled": [(cfg, "labelled", i) for i in range(len(items))],
    }
    empty = np.zeros((0, cfg.pool_frames, cfg.size, cfg.size, 3), np.uint8)
    out: dict[str, np.ndarray] = {}
    with get_context("spawn").Pool(workers) if workers > 0 else contextlib.nullcontext() as pool:
        for name, args in jobs.items():
            clips = pool.map(_render_job, args, chunksize=4) if pool else [_render_job(a) for a in args]
            out[name] = np.stack(clips) if clips else empty
    out["labels"] = np.array([y for _, y, _ in items])
    out["train"] = np.array([p in train for p, _, _ in items])
    return out


def labelled_items(cfg: SynthConfig, root: Path) -> list[tuple[str, int, int]]:
    """(clip folder, label, identity) of every labelled clip."""
    n = cfg.clips_per_class * len(CLASSES)
    return [
        (str(root / "frames" / f"{i:05d}"), i % len(CLASSES), (i // len(CLASSES)) % cfg.used_identities)
        for i in range(n)
    ]


def identity_splits(cfg: SynthConfig, items: list[tuple[str, int, int]]) -> dict[str, list[tuple[str, int]]]:
    """Identity-disjoint splits: train/test, or ``folds`` folds."""
    ids = np.random.default_rng([cfg.seed, 4]).permutation(cfg.used_identities)
    if cfg.folds:
        groups = np.array_split(ids, cfg.folds)
    else:
        n_test = max(1, round(cfg.used_identities * cfg.test_fraction))
        groups = [ids[:n_test]]
    splits = {}
    for k, group in enumerate(groups, 1):
        test_ids = set(group.tolist())
        prefix = f"split{k:02d}/" if cfg.folds else ""
        splits[prefix + "train"] = [(p, y) for p, y, i in items if i not in test_ids]
        splits[prefix + "test"] = [(p, y) for p, y, i in items if i in test_ids]
    return splits


def contact_sheet(cfg: SynthConfig, path: Path, columns: int = 8) -> Path:
    """One row per class (one clip each), ``columns`` frames spread over time."""
    from PIL import Image, ImageDraw

    identities = _identities(cfg)
    rows = []
    for label in range(len(CLASSES)):
        clip = render(cfg, label, identities[label % len(identities)], cfg.frames, _clip_rng(cfg.seed, 1, label))
        picks = np.linspace(0, cfg.frames - 1, columns).round().astype(int)
        rows.append(np.concatenate(list(clip[picks]), axis=1))
    sheet = np.concatenate(rows, axis=0)
    label_w = 70
    canvas = Image.new("RGB", (sheet.shape[1] + label_w, sheet.shape[0]), "white")
    canvas.paste(Image.fromarray(sheet), (label_w, 0))
    draw = ImageDraw.Draw(canvas)
    for label, name in enumerate(CLASSES):
        draw.text((4, label * cfg.size + cfg.size // 2 - 5), name, fill="black")
    canvas.save(path)
    return path


def generate(
    out: str | Path, cfg: SynthConfig = SynthConfig(), workers: int = 0, progress: bool = False, overwrite: bool = False
) -> dict:
    """Write the dataset under ``out``; returns a summary (counts per split). A dataset
    already there (its ``synth.json``) is replaced only with ``overwrite``."""
    from tqdm import tqdm

    if cfg.version not in VERSIONS:
        raise ValueError(f"synth version must be one of {', '.join(map(str, VERSIONS))}, got {cfg.version}")
    if cfg.used_identities < 2:
        raise ValueError("synth needs at least 2 identities and 2 clips per class for identity-disjoint splits")
    if cfg.folds == 1 or cfg.folds > cfg.used_identities:
        raise ValueError(
            f"synth folds must be 0 (train/test) or 2..{cfg.used_identities} "
            "(the identities in use: min(identities, clips per class))"
        )
    out = output_dir(out, "dataset folder")
    refuse_existing(out / "synth.json", overwrite, "synthetic dataset")
    items = labelled_items(cfg, out)
    pool = [str(out / "pool" / f"{i:05d}.mp4") for i in range(cfg.pool_size)]
    heldout = [str(out / "heldout" / f"{i:05d}.mp4") for i in range(cfg.heldout_size)]
    jobs = [(_labelled_job, (cfg, i, p)) for i, (p, _, _) in enumerate(items)]
    jobs += [(_pool_job, (cfg, i, p)) for i, p in enumerate(pool)]
    jobs += [(_heldout_job, (cfg, i, p)) for i, p in enumerate(heldout)]
    bar = tqdm(total=len(jobs), desc="rendering clips", unit="clip", disable=None if progress else True)
    if workers > 0:
        with get_context("spawn").Pool(workers) as p:
            for fn in (_labelled_job, _pool_job, _heldout_job):
                for _ in p.imap_unordered(fn, [a for f, a in jobs if f is fn], chunksize=4):
                    bar.update()
    else:
        for fn, a in jobs:
            fn(a)
            bar.update()
    bar.close()

    splits = identity_splits(cfg, items)
    for name, split in splits.items():
        write_annotations(out / f"{name}.csv", split)
    if pool:
        write_annotations(out / "pretrain.csv", [(p, 0) for p in pool])
    if heldout:
        write_annotations(out / "heldout.csv", [(p, 0) for p in heldout])
    (out / "classes.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    contact_sheet(cfg, out / "contact_sheet.png")
    summary = {
        "version": cfg.version,
        "config": asdict(cfg),
        "splits": {name: len(split) for name, split in splits.items()},
        "pool": len(pool),
        "heldout": len(heldout),
    }
    (out / "synth.json").write_text(json.dumps(summary, indent=2))
    return summary


def ensure_generated(out: str | Path, cfg: SynthConfig, workers: int = 0, progress: bool = False) -> bool:
    """Generate the dataset under ``out`` unless it is already there with this very ``cfg``
    (what the demo and the benches share between runs). A dataset of another configuration,
    or a damaged ``synth.json``, is refused rather than mixed in. Returns whether it was there."""
    made = Path(out) / "synth.json"
    if not made.is_file():
        generate(out, cfg, workers=workers, progress=progress, overwrite=True)
        return False
    try:
        there = json.loads(made.read_text())
        version, same = there.get("version"), there.get("config") == asdict(cfg)
    except (ValueError, AttributeError):
        version, same = None, False
    if version is not None and version != cfg.version:
        raise MaedferError(
            f"{out}: holds synthetic data of version {version}, made by an earlier maedfer; this run renders "
            f"version {cfg.version}: give another folder or delete it (its annotation files still train and test)"
        )
    if not same:
        raise MaedferError(
            f"{out}: holds another synthetic dataset (other settings, or a damaged synth.json); "
            "give another folder or delete it"
        )
    return True
