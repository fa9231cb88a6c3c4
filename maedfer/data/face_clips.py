"""``maedfer faces``: face clips from raw videos, so that whole-scene recordings (CREMA-D,
RAVDESS and eNTERFACE'05 as published, anyone's own videos) become training data.

Each video's main face (the one seen most often, then the largest) is found and followed
with the predictor's tracker and cropped as a :class:`~maedfer.faces.align.FaceCrop`
says, the same definition ``predict`` uses. The default mirrors the authors' preprocessing
of the lab datasets (OpenFace 2.2 ``-simalign -simsize 112``): eyes level and at fixed
places, 112 pixels, one JPEG per frame.

Every frame of a video gets a crop, as OpenFace writes an aligned frame for every frame:
where the detector lost the face (a turned head, a hand) the box is interpolated between
where it was seen, and before the first or after the last sighting it stays at the nearest.
So a clip keeps its length and timing. A video whose face is in view in fewer than
``min_coverage`` of its frames is reported and left out: its crops would be mostly guesses.

Output: ``OUT/<the video's path under the source, without its suffix>/00001.jpg ...`` (the
source's tree, mirrored), ``OUT/faces.csv`` (``<clip> <label>``: the annotation file's labels
carried over, 0 for a folder of videos) and ``OUT/faces.json`` (the settings and, per video,
what was found). Parallel, resumable and safe to stop (:mod:`.jobs`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import MaedferError
from ..faces.align import OPENFACE_LIKE, FaceCrop, make_aligner
from ..faces.boxes import fill_boxes, smooth_track
from ..faces.detectors import DETECTORS, make_detector, yunet_model
from ..faces.find import (
    NoFaceError,
    check_detect_every,
    crop_tracks,
    detector_for,
    find_faces,
    followed_faces,
)
from ..faces.model_files import check_model_files
from ..faces.stash import FrameStash
from ..files import output_dir
from .annotations import Item, read_annotations, write_annotations
from .jobs import JobResult, RunRecord, one_thread, partial_path, run_jobs, source_problem
from .readers import VideoReadError, open_clip

RECORD, LIST = "faces.json", "faces.csv"
JPEG_QUALITY = 95


class FacesError(MaedferError):
    """The face step cannot run here (bad settings, an unwritable output)."""


@dataclass(frozen=True)
class FacesSettings:
    """``crop``: how a face becomes an image; ``detector``: ``landmarks``, ``haar`` or
    ``yunet`` (None: the crop's own, :func:`~maedfer.faces.find.detector_for`);
    ``detect_every``: a box detector's spacing in frames where the face stays put;
    ``min_coverage``: the share of frames the face must be in view in."""

    crop: FaceCrop = OPENFACE_LIKE
    detector: str | None = None
    detect_every: int = 4
    min_coverage: float = 0.5

    def check(self) -> "FacesSettings":
        """The settings checked, the detector named (a record always names it)."""
        self.crop.checked()
        check_detect_every(self.detect_every)
        if self.detector is not None and self.detector not in DETECTORS:
            raise FacesError(f"--detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if not 0 <= self.min_coverage <= 1:
            raise FacesError(f"--min-coverage must be a share from 0 to 1, got {self.min_coverage}")
        return replace(self, detector=detector_for(self.crop, self.detector))

    def to_dict(self) -> dict:
        return {
            **self.crop.to_dict(),
            "detector": self.detector,
            "detect_every": self.detect_every,
            "min_coverage": self.min_coverage,
            "jpeg_quality": JPEG_QUALITY,
        }


def clip_folder(video: str, root: Path, out: Path) -> Path:
    """Where a video's face clip goes: its path under ``root``, under ``out``, without suffix,
    spaces made underscores (annotation files cannot hold them; eNTERFACE'05's "subject 1/
    anger/sentence 1" becomes the authors' subject_1/anger/sentence_1)."""
    relative = Path(os.path.abspath(video)).relative_to(os.path.abspath(root))
    return out / (relative.parent / relative.stem).as_posix().replace(" ", "_")


_DETECTORS: dict = {}  # one per worker process, built on its first video


def landmark_record(scores: dict[int, float], frames: int, lost: int) -> dict:
    """What the landmark tracker saw of the main face (``scores``: FaceTrack.landmark_scores):
    its face score per frame (None where it was not followed), the frames where it was not,
    and how often a face was lost."""
    return {
        "face_scores": [scores.get(p) for p in range(frames)],
        "lost_frames": [p for p in range(frames) if p not in scores],
        "faces_lost": lost,
    }


def face_clip(job: tuple[str, str, FacesSettings]) -> JobResult:
    """One video's face clip: a video that cannot be read, or whose face is not found often
    enough, is left out (a problem); a write that fails stops the run."""
    import simplejpeg

    one_thread()
    source, target, settings = job
    target, partial = Path(target), partial_path(target)
    if settings.detector not in _DETECTORS:
        _DETECTORS[settings.detector] = make_detector(settings.detector)
    timings: dict = {}
    try:
        with open_clip(source, threads=1) as reader:
            detector = _DETECTORS[settings.detector]
            stash = FrameStash(settings.crop)  # the landmark tracker's frames, so the video is decoded once
            ids, detections, looks = find_faces(
                reader.iter_frames(1), detector, settings.detect_every, timings=timings, keep=stash
            )
            track = smooth_track(followed_faces(detections, reader.path)[0], settings.crop.margin)
            coverage = len(track.boxes) / len(ids)
            info = {
                "frames": len(ids),
                "fps": round(reader.fps, 3),
                "coverage": round(coverage, 4),
                "frames_without_face": len(ids) - len(track.boxes),
                "confidence": round(track.confidence, 3),
                "detector_runs": looks,
            }
            scores = track.landmark_scores
            if scores is not None:  # the landmark tracker: the mesh's score on every frame
                info.update(landmark_record(scores, len(ids), detector.lost), runtime=detector.mesh.net.runtime)
            if coverage < settings.min_coverage:
                return JobResult(
                    source,
                    f"{source}: the face is in view in only {100 * coverage:.0f} % of the "
                    f"frames (< --min-coverage {settings.min_coverage:g})",
                    info={**info, "status": "too few face frames"},
                )
            boxes = {track.id: fill_boxes(track, len(ids))}
            aligner = make_aligner(settings.crop, track)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial.mkdir(exist_ok=True)
            frames, scale_at = stash.replay(ids, lambda desc: reader.iter_frames(1))
            aligners = {track.id: aligner}
            for _, pos, image in crop_tracks(frames, [track], boxes, aligners, timings, reader.path, scale_at):
                (partial / f"{pos + 1:05d}.jpg").write_bytes(
                    simplejpeg.encode_jpeg(image, JPEG_QUALITY, colorspace="RGB")
                )
        os.replace(partial, target)
        if settings.crop.align != "box":
            info["eyes_found"] = round(aligner.eyes_used / len(ids), 4)
        return JobResult(source, info={**info, "status": "ok"})
    except NoFaceError as e:
        return JobResult(source, source_problem(source, e), info={"status": "no face"})
    except VideoReadError as e:
        return JobResult(source, source_problem(source, e), info={"status": "unreadable"})
    except OSError as e:
        return JobResult(source, write_problem=f"cannot write {target} ({e.strerror or e})")


@dataclass
class FacesSummary:
    made: int  # clips made by this run
    kept: int  # clips made by an earlier run, left as they were
    left_out: dict[str, str]  # video -> why it has no clip
    annotation: Path  # OUT/faces.csv
    clips: dict[str, str] = field(default_factory=dict)  # video -> its clip folder


def make_face_clips(
    source: str | os.PathLike | list[Item],
    out: str | os.PathLike,
    settings: FacesSettings = FacesSettings(),
    workers: int = 0,
    progress: bool = True,
    root: str | os.PathLike | None = None,
) -> FacesSummary:
    """Face clips of the videos of ``source`` (a folder, searched recursively; one video; an
    annotation file; or items) in ``out``, the tree under ``root`` (default: the folder, or the videos'
    common folder) mirrored. Runs again in the same ``out`` continue an earlier run, which
    must have used the same settings; videos left out earlier for their faces are not tried
    again (unreadable ones are)."""
    from .pack import find_videos

    settings = settings.check()
    if settings.detector == "yunet":  # its model file fetched once here, not by every worker at once
        yunet_model()
    if settings.detector == "landmarks":  # a broken install stops here, not in every worker
        check_model_files()
    if isinstance(source, list):
        items, base = source, Path(os.path.commonpath([os.path.abspath(os.path.dirname(i.path)) for i in source]))
    else:
        videos, base = find_videos(source, exclude=out)
        listed = Path(source).is_file() and videos != [str(source)]  # an annotation file, not one video
        labels = {i.path: i.label for i in read_annotations(source)} if listed else {}
        items = [Item(v, labels.get(v, 0)) for v in videos]
    base = Path(root) if root is not None else base
    out = output_dir(out, "faces folder")
    record = RunRecord(
        out / RECORD,
        {"settings": settings.to_dict()},
        str(base if isinstance(source, list) else source),
        "made",
        FacesError,
    )
    record.data.setdefault("videos", {})
    record.save()
    targets = {i.path: clip_folder(i.path, base, out) for i in items}
    first_of: dict[Path, str] = {}
    for video, target in targets.items():
        if first_of.setdefault(target, video) != video:
            raise FacesError(f"{first_of[target]} and {video} would make the same face clip {target}")
    left_earlier = {
        v for v, r in record.data["videos"].items() if r.get("status") in ("no face", "too few face frames")
    }
    todo = [
        (i.path, str(targets[i.path]), settings)
        for i in items
        if not targets[i.path].is_dir() and i.path not in left_earlier
    ]
    kept = sum(targets[i.path].is_dir() for i in items)
    made = 0

    def note(result: JobResult) -> None:
        nonlocal made
        record.data["videos"][result.source] = {
            **result.info,
            **({"problem": result.problem} if result.problem else {"clip": str(targets[result.source])}),
        }
        made += not result.problem

    try:
        failure = run_jobs(
            face_clip,
            todo,
            workers,
            "finding faces",
            note,
            lambda: (partial_path(target) for _, target, _ in todo),
            progress,
        )
    finally:
        record.data["videos"] = dict(sorted(record.data["videos"].items()))
        record.save()
    if failure:
        raise FacesError(
            f"{out}: {failure}; the {kept + made} face clips made so far are kept: free space (or fix "
            "the folder) and run the same command again to continue"
        )
    done = [Item(str(targets[i.path]), i.label) for i in items if targets[i.path].is_dir()]
    left_out = {
        v: r.get("problem", r.get("status"))
        for v, r in record.data["videos"].items()
        if r.get("status") != "ok" and v in targets
    }
    try:
        annotation = write_annotations(out / LIST, done)
    except OSError as e:
        raise FacesError(f"{out / LIST}: cannot write ({e.strerror or e})") from None
    return FacesSummary(
        made, kept, left_out, annotation, {i.path: str(targets[i.path]) for i in items if targets[i.path].is_dir()}
    )


def recorded_crop(clips: list[str]) -> FaceCrop | None:
    """The face crop that made ``clips``, from the ``faces.json`` of the faces folder they
    lie in (the nearest folder above them that has one); None if they were not made by
    ``maedfer faces``. Clips of faces folders with different crops are an error: a model
    trained on both would match neither when it predicts."""
    cache: dict[Path, FaceCrop | None] = {}

    def crop_of(folder: Path) -> FaceCrop | None:
        if folder not in cache:
            record = folder / RECORD
            if record.is_file():
                try:
                    settings = json.loads(record.read_text())["settings"]
                    cache[folder] = FaceCrop.from_dict(
                        {k: settings[k] for k in ("align", "size", "margin")}, str(record)
                    )
                except (OSError, ValueError, KeyError, TypeError) as e:
                    raise FacesError(f"{record}: unreadable record of a faces run ({type(e).__name__}: {e})") from None
            else:
                cache[folder] = None if folder.parent == folder else crop_of(folder.parent)
        return cache[folder]

    crops = {crop_of(Path(os.path.abspath(clip)).parent) for clip in clips}
    if len(crops) > 1:
        raise FacesError(
            f"the clips were cropped in {len(crops)} different ways "
            f"({', '.join(sorted(str(c) for c in crops))}); a model trained on them would match none "
            "of them when it predicts"
        )
    return next(iter(crops), None)
