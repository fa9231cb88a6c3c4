"""Miniatures of the lab datasets as their downloads unpack: whole-scene videos with the
published file names, each a real face (skimage's astronaut, from its wheel) moving over a
textured background, with a second, smaller face (matplotlib's Grace Hopper) standing still
in a corner, as a second person in the room would."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from test_inference import astronaut, grace_hopper, head

from maedfer.data.writers import VideoWriter

SIZE = (180, 320)  # (H, W): 16:9 like RAVDESS's 1280x720, small enough for tests


def background(size=SIZE, seed: int = 0) -> np.ndarray:
    """A smooth, coloured texture (a wall, a curtain): not a flat grey."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(60, 190, (6, 10, 3)).astype(np.float32)
    return cv2.resize(low, (size[1], size[0]), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def scene(frames: int = 24, face: bool = True, seed: int = 0, size=SIZE, small_face: bool = True) -> np.ndarray:
    """(frames, H, W, 3) uint8: the main face drifting right and nodding, a small face still
    (the landmark tracker finds it too: a scene without any face needs ``small_face=False``)."""
    h, w = size
    out = np.repeat(background(size, seed)[None], frames, axis=0)
    big = head(astronaut(), (150, 30, 300, 200))  # the astronaut's head and shoulders
    small = cv2.resize(head(grace_hopper(), (120, 40, 400, 380)), (h // 4, h // 4), interpolation=cv2.INTER_AREA)
    if small_face:
        out[:, 8 : 8 + small.shape[0], w - 8 - small.shape[1] : w - 8] = small
    if not face:
        return out
    side = int(0.62 * h)
    im = cv2.resize(big, (side, side), interpolation=cv2.INTER_AREA)
    for i in range(frames):
        x = int(w * 0.2 + 0.15 * w * i / frames)
        y = int((h - side) / 2 + 4 * np.sin(i / 3))  # a nod
        out[i, y : y + side, x : x + side] = im
    return out


def write_scene(path: Path, clip: np.ndarray, codec: str = "libx264", fps: float = 25) -> Path:
    """As the dataset stores it: RAVDESS H.264 mp4, CREMA-D Flash video, eNTERFACE'05 MPEG-4 avi."""
    with VideoWriter(path, clip.shape[2], clip.shape[1], fps=fps, codec=codec) as writer:
        for frame in clip:
            writer.write(frame)
    return path


CODECS = {".mp4": "libx264", ".flv": "flv", ".avi": "mpeg4"}


def make_ravdess(root: Path, actors: int = 6, frames: int = 24) -> list[Path]:
    """Actor_XX/MM-VV-EE-II-SS-RR-AA.mp4: per actor two video-only speech clips (kept) and
    one audio-video clip (01-01, not part of the set)."""
    clip, written = scene(frames), []
    for actor in range(1, actors + 1):
        for modality, emotion in (("02", 1 + actor % 8), ("02", 1 + (actor + 3) % 8), ("01", 3)):
            name = f"{modality}-01-{emotion:02d}-01-01-01-{actor:02d}.mp4"
            written.append(write_scene(root / f"Actor_{actor:02d}" / name, clip))
    return written


def make_crema_d(root: Path, frames: int = 24) -> list[Path]:
    """VideoFlash/<actor>_<sentence>_<EMO>_<level>.flv for actors 1001..1005, 1064 and 1076,
    including CREMA-D's four broken clips, and AudioWAV/ beside it."""
    clip, written = scene(frames), []
    names = [f"{actor}_IEO_{emo}_HI" for actor in range(1001, 1006) for emo in ("ANG", "HAP")]
    names += [
        "1064_IEO_DIS_MD",
        "1064_TIE_SAD_XX",
        "1064_DFA_NEU_XX",
        "1076_MTI_NEU_XX",
        "1076_MTI_SAD_XX",
        "1076_DFA_FEA_XX",
    ]
    for name in names:
        written.append(write_scene(root / "VideoFlash" / f"{name}.flv", clip, CODECS[".flv"]))
    (root / "AudioWAV").mkdir(parents=True)
    (root / "AudioWAV" / "1001_IEO_ANG_HI.wav").write_bytes(b"RIFF")
    return written


ENTERFACE_EMOTIONS = {
    "anger": "an",
    "disgust": "di",
    "fear": "fe",
    "happiness": "ha",
    "sadness": "sa",
    "surprise": "su",
}


def make_enterface05(root: Path, subjects: int = 5, frames: int = 24) -> list[Path]:
    """enterface database/subject N/<emotion>/sentence K/sN_xx_K.avi (spaces as published)."""
    clip, written = scene(frames), []
    for subject in range(1, subjects + 1):
        for emotion in ("anger", "happiness"):
            code = ENTERFACE_EMOTIONS[emotion]
            path = (
                root / "enterface database" / f"subject {subject}" / emotion / "sentence 1" / f"s{subject}_{code}_1.avi"
            )
            written.append(write_scene(path, clip, CODECS[".avi"]))
    return written
