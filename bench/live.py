"""``maedfer predict --live`` on this CPU: latency and the source frame rate it sustains.

    python bench/live.py [--models lgi_former_base lgi_former_tiny] [--seconds 20]

A 640x360 face video (bench/predict.py's) is played at 25 fps as a live source; a label
every 4 model frames. Prints per model: labels, dropped frames, latency (arrival of the
newest frame in a window to its label) median / 95th / max, and the sustainable source
frame rate (analysed frames per busy second x the sampling rate).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from predict import face_video

import maedfer
from maedfer.checkpoint import save_checkpoint
from maedfer.inference.live import run_live


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lgi_former_base", "lgi_former_tiny"])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = face_video(Path(tmp) / "face.mp4", args.seconds)
        for name in args.models:
            rate = 4 if name == "lgi_former_base" else 2
            checkpoint = Path(tmp) / f"{name}.pth"
            save_checkpoint(maedfer.create_model(name), checkpoint, config={"dataset": "dfew", "sampling_rate": rate})
            predictor = maedfer.load(checkpoint, precision=args.precision)
            stats = run_live(predictor, str(video), stride=4)
            print(f"{name} ({predictor.precision}, rate {rate}): {stats.summary()}")


if __name__ == "__main__":
    main()
