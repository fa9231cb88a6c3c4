"""Throughput of ``maedfer predict`` on a 640x360 video, split into decoding, face detection,
cropping and the model, for the full-size and the tiny classifier (untrained weights: the
cost does not depend on them).

    python bench/predict.py                 # 10 s of 25 fps video, stride 8
    python bench/predict.py --seconds 4 --models lgi_former_tiny

Each model runs twice in the same process: with the detector on every sampled frame
(``--detect-every 1``, as before sparse detection) and on every 4th (the default); the
detection ratio between the two is printed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

import maedfer
from maedfer.checkpoint import save_checkpoint
from maedfer.data.writers import write_video


def face_video(path: Path, seconds: float, fps: int = 25, height: int = 360) -> Path:
    """A real face (skimage's astronaut photo) drifting and growing over a 16:9 frame of
    ``height`` rows (360: 640x360; 720: HD)."""
    import skimage.data

    face = np.ascontiguousarray(skimage.data.astronaut()[10:290, 80:360])
    n, scale = int(seconds * fps), height / 360
    width = 2 * round(320 * scale)  # even: H.264 needs it
    frames = np.full((n, height, width, 3), 40, np.uint8)
    for i in range(n):
        phase = i / max(1, n - 1)
        side = int((240 + 60 * np.sin(np.pi * phase)) * scale)
        x, y = int((40 + 300 * phase) * scale), (height - side) // 2
        frames[i, y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    return write_video(path, frames, fps=fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--models", nargs="+", default=["lgi_former_base", "lgi_former_tiny"])
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = face_video(Path(tmp) / "face.mp4", args.seconds)
        print(f"video: 640x360, {args.seconds:g} s at 25 fps ({int(args.seconds * 25)} frames); stride {args.stride}")
        print(
            f"{'model':<18}{'rate':>5}{'every':>6}{'frames/s':>10}{'decode':>9}{'detect':>9}{'crop':>9}{'model':>9}"
            f"   (ms per video frame)"
        )
        for name in args.models:
            rate = 4 if name == "lgi_former_base" else 2  # DFEW's rate; the synthetic preset's rate
            checkpoint = Path(tmp) / f"{name}.pth"
            save_checkpoint(maedfer.create_model(name), checkpoint, config={"dataset": "dfew", "sampling_rate": rate})
            predictor = maedfer.load(checkpoint, precision=args.precision)
            predictor.predict(video, stride=args.stride)  # warm-up (first calls allocate)
            detect = {}
            for every in (1, 4):
                result = predictor.predict(video, stride=args.stride, detect_every=every)
                t = {k: result.timings[k] for k in ("decode", "detect", "crop", "model")}
                detect[every] = t["detect"]
                per = {k: 1000 * v / result.num_frames for k, v in t.items()}
                print(
                    f"{name:<18}{rate:>5}{every:>6}{result.num_frames / sum(t.values()):10.1f}{per['decode']:9.2f}"
                    f"{per['detect']:9.2f}{per['crop']:9.2f}{per['model']:9.2f}   {predictor.precision}, "
                    f"{len(result.faces[0].windows)} windows, detector on {result.looked} of {result.sampled} "
                    f"sampled frames, coverage {100 * result.coverage:.0f} %"
                )
            print(f"{'':<18}detection time, every 4th / every frame: {detect[4] / detect[1]:.2f}")


if __name__ == "__main__":
    main()
