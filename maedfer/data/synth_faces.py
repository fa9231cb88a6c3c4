"""Version 3 of the synthetic faces: an expression that hidden parts can be predicted from.

What changed from version 2, and why (the evidence work, docs/results.md):

- **One expression drives brows, eyes, cheeks and mouth together**, with a distinct apex
  face for every class (FACS-like: surprise raises brows and opens eyes and mouth; fear
  raises the inner brows and stretches the mouth; disgust lowers the brows, narrows the eyes
  and raises the upper lip ...). A masked autoencoder that sees the brows can then predict
  the hidden mouth, which is the co-occurrence structure masked pre-training learns from.
- **Textured skin and background**: a fixed random texture in face coordinates (it moves
  with the head) and on the background. The motion target is normalised per tubelet; on a
  flat patch it amplifies sensor noise and 8-bit rounding into unit-variance noise that
  nothing visible predicts (47 % of version 2's motion energy inside flat tubelets).
- **Little sensor noise and lighting drift, small rigid head motion** (a pixel or two
  between sampled frames), so the motion of a hidden tubelet is the visible expression's and
  the head's, which the rest of the clip shows.

The intensity curve over time is version 2's (``synth.intensity_curve``): onset, apex,
offset at random times and strengths, surprise abrupt, fear slow and trembling, disgust
repeated twitches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Apex change of each facial parameter per class (intensity 1), every class its own face.
APEX3: dict[str, dict[str, float]] = {
    "happy": dict(mouth_curve=0.32, mouth_width=0.25, eye_open=-0.55, cheek=1.0, brow_raise=0.03),
    "sad": dict(mouth_curve=-0.26, brow_tilt=1.0, eye_open=-0.45, mouth_width=-0.1),
    "neutral": {},
    "angry": dict(brow_raise=-0.11, brow_tilt=-1.1, eye_open=0.25, mouth_width=-0.3, lip=-0.012, cheek=0.3),
    "surprise": dict(brow_raise=0.2, eye_open=1.3, mouth_open=0.3, mouth_width=-0.3),
    "disgust": dict(brow_raise=-0.06, brow_tilt=-0.5, eye_open=-0.6, mouth_curve=-0.18, upper_lip=0.07, nose=1.0),
    "fear": dict(brow_raise=0.12, brow_tilt=0.9, eye_open=0.9, mouth_width=0.35, mouth_open=0.1),
}
PARAMETERS = (
    "brow_raise",
    "brow_tilt",
    "eye_open",
    "mouth_open",
    "mouth_width",
    "mouth_curve",
    "lip",
    "upper_lip",
    "cheek",
    "nose",
)


@dataclass(frozen=True)
class Identity3:
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
    texture: int  # seed of the skin's texture


def make_identity3(rng: np.random.Generator) -> Identity3:
    tone = rng.uniform(0.35, 1.0)
    skin = tuple(np.clip(np.array([0.95, 0.75, 0.62]) * tone + rng.normal(0, 0.03, 3), 0.05, 1))
    hair = tuple(np.clip(rng.uniform(0.05, 0.5) * np.array([1.0, 0.8, 0.6]) + rng.normal(0, 0.04, 3), 0, 1))
    return Identity3(
        skin,
        hair,
        face_w=rng.uniform(0.54, 0.62),
        face_h=rng.uniform(0.72, 0.8),
        eye_x=rng.uniform(0.2, 0.25),
        eye_y=rng.uniform(-0.2, -0.12),
        mouth_y=rng.uniform(0.36, 0.44),
        mouth_w=rng.uniform(0.18, 0.23),
        brow_thick=rng.uniform(0.035, 0.045),
        hairline=rng.uniform(-0.62, -0.5),
        texture=int(rng.integers(2**31)),
    )


def _texture(u: np.ndarray, v: np.ndarray, seed: int, strength: float, waves: int = 6) -> np.ndarray:
    """A fixed random texture at coordinates (u, v): a sum of plane waves of random
    frequency, direction and phase, values around 1 (multiplies a colour)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(np.broadcast_shapes(u.shape, v.shape))
    for _ in range(waves):
        f, a, p = rng.uniform(3, 9), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        out += np.sin(f * (np.cos(a) * u + np.sin(a) * v) + p)
    return 1 + strength * out / np.sqrt(waves / 2)


def segment_distance(u, v, x0, y0, x1, y1):
    """Distance of points (u, v) from the segment (x0, y0)-(x1, y1): how brows are drawn
    (both versions)."""
    dx, dy = x1 - x0, y1 - y0
    s = np.clip(((u - x0) * dx + (v - y0) * dy) / (dx * dx + dy * dy + 1e-9), 0, 1)
    return np.hypot(u - (x0 + s * dx), v - (y0 + s * dy))


def _drift(rng: np.random.Generator, frames: int, amplitude: float) -> np.ndarray:
    """A slow random path (one sinusoid of random period and phase), about ``amplitude``."""
    t = np.arange(frames)
    return amplitude * np.sin(2 * np.pi * t / rng.uniform(frames * 0.8, frames * 3) + rng.uniform(0, 6.3))


def render_clip3(
    name: str, identity: Identity3, intensity: np.ndarray, size: int, rng: np.random.Generator, ideal: bool = False
) -> np.ndarray:
    """One clip of class ``name`` whose expression follows ``intensity`` (one value per
    frame): (frames, size, size, 3) uint8 RGB. ``ideal``: the same clip (the same random
    draws) without sensor noise, lighting drift and 8-bit rounding, float32 in 0..255, to
    measure how much of a target those make (bench/target_ceilings.py)."""
    T = len(intensity)
    k = intensity[:, None, None]
    par = {p: APEX3[name].get(p, 0.0) * k for p in PARAMETERS}
    blink = np.ones(T)
    for start in rng.choice(T, size=rng.integers(0, 2), replace=False):
        for j, f in enumerate((0.4, 0.1, 0.4)):
            if start + j < T:
                blink[start + j] = min(blink[start + j], f)
    blink = blink[:, None, None]

    # small rigid head motion: the face moves by a pixel or two over a clip
    cx = (_drift(rng, T, 0.03) + rng.normal(0, 0.02))[:, None, None]
    cy = (_drift(rng, T, 0.03) + 0.02 + rng.normal(0, 0.02))[:, None, None]
    angle = (_drift(rng, T, 0.04) + rng.normal(0, 0.03))[:, None, None]
    # a tight face crop, as the DFER datasets' (the face fills the frame, chin and hair cut)
    scale = (rng.uniform(1.55, 1.7) * (1 + _drift(rng, T, 0.015)))[:, None, None]

    ys, xs = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    x, y = xs[None], ys[None]
    dx, dy = (x - cx) / scale, (y - cy) / scale
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy

    # background: a static colour gradient with a texture of its own
    base, tilt = rng.uniform(0.3, 0.7, 3), rng.normal(0, 0.1, 3)  # inside [0, 1]: a clipped patch is flat
    texture = _texture(xs, ys, int(rng.integers(2**31)), 0.12)
    img = np.empty((T, size, size, 3))
    for c in range(3):
        img[..., c] = (base[c] + tilt[c] * (x * 0.7 + y * 0.3)) * texture

    iden = identity
    radius = (u / iden.face_w) ** 2 + (v / iden.face_h) ** 2
    face = radius < 1
    skin_tex = _texture(u, v, iden.texture, 0.08)
    # cheeks rise (happy, angry) and the nose wrinkles (disgust): shading that moves with them
    cheek = sum(
        np.exp(-((u - s * iden.eye_x) ** 2 + (v - iden.eye_y - 0.2 + 0.05 * par["cheek"]) ** 2) / 0.012)
        for s in (-1, 1)
    )
    shade = (1 - 0.45 * radius) * skin_tex * (1 + 0.12 * par["cheek"] * cheek)
    wrinkle = (np.abs(u) < 0.09) & (v > -0.05) & (v < 0.08) & (np.sin(v * 90) > 0.3)
    shade = np.where(wrinkle, shade * (1 - 0.35 * par["nose"]), shade)
    skin = np.array(iden.skin)
    img = np.where(face[..., None], skin * shade[..., None], img)
    hair = face & (v < iden.hairline + 0.06 * np.cos(u * 6))
    img[hair] = np.array(iden.hair) * skin_tex[hair][:, None]
    img[face & (np.abs(u) < 0.03) & (v > 0.0) & (v < 0.2)] *= 0.8  # nose ridge

    for side in (-1, 1):
        ex, ey = side * iden.eye_x, iden.eye_y
        open_ = 0.06 * np.clip(1 + par["eye_open"], 0.15, 2.5) * blink
        eye = ((u - ex) / 0.1) ** 2 + ((v - ey) / open_) ** 2 < 1
        img[eye] = (0.95, 0.95, 0.92)
        img[eye & (np.hypot(u - ex, v - ey) < 0.04)] = (0.1, 0.07, 0.05)
        # brow: raised, and its inner end (towards the nose) tilted
        by = ey - 0.12 - par["brow_raise"]
        inner_y, outer_y = by - par["brow_tilt"] * 0.08, by + par["brow_tilt"] * 0.02
        brow = segment_distance(u, v, side * (iden.eye_x - 0.11), inner_y, side * (iden.eye_x + 0.12), outer_y)
        img[face & (brow < iden.brow_thick)] = np.array(iden.hair) * 0.7

    # mouth: centre line bends at the corners, upper lip rises, opening is a lens shape
    mw = iden.mouth_w * (1 + par["mouth_width"])
    rel = np.clip(u / mw, -1.5, 1.5)
    centre = iden.mouth_y - par["mouth_curve"] * (rel**2 - 0.3)
    opening = np.clip(0.012 + par["mouth_open"], 0, None) * np.clip(1 - rel**2, 0, None)
    top = centre - opening / 2 - par["upper_lip"] * np.clip(1 - 2 * rel**2, 0, None)
    lip = np.clip(0.026 + par["lip"], 0.008, None)
    inside = np.abs(u) < mw
    img[face & inside & (v > top - lip) & (v < centre + opening / 2 + lip)] = skin * np.array([0.75, 0.35, 0.35])
    img[face & inside & (v > top) & (v < centre + opening / 2)] = (0.25, 0.05, 0.06)

    light = 1 + _drift(rng, T, 0.04)[:, None, None, None]
    noise = rng.normal(0, 0.002, img.shape)
    if ideal:
        return (np.clip(img, 0, 1) * 255).astype(np.float32)
    return (np.clip(img * light + noise, 0, 1) * 255).round().astype(np.uint8)
