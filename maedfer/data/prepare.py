"""Annotation files from each dataset's own published layout and split files.

``prepare(name, root, out)`` writes, in the original format (``<path> <label>``, absolute
paths unless the clips lie below ``out``):
k-fold datasets ``out/split01/{train,test}.csv`` ... ; FERV39k ``out/{train,test}.csv``;
VoxCeleb2 ``out/pretrain.csv``; and ``out/classes.txt`` with the class names in label
order. Layouts (relative to ``root``) are those the datasets are published in (README, Data).

Folds of the lab datasets, which ship no split files, are subject-independent: subjects
sorted by id and cut into contiguous, near-equal groups (RAVDESS: 6 folds of 4 actors).
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import MaedferError
from ..files import output_dir, refuse_existing
from .annotations import Item, write_annotations
from .catalog import DatasetInfo, dataset_info
from .readers import IMAGE_SUFFIXES, VIDEO_SUFFIXES

if TYPE_CHECKING:
    from .face_clips import FacesSettings

Splits = dict[str, list[Item]]  # "split01/train" -> items


class PrepareError(MaedferError):
    """The dataset folder does not have the expected layout."""


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise PrepareError(f"{path}: {what} not found (is --root the dataset's top folder?)")
    return path


def _clip_path(path: Path, source: str) -> str:
    if not path.exists():
        raise PrepareError(f"{source}: lists clip {path.name}, but {path} does not exist")
    return str(path)


def _label(info: DatasetInfo, name: str, source: str) -> int:
    key = name.strip().lower()
    aliases = {c: i for i, c in enumerate(info.classes)}
    if key not in aliases:
        raise PrepareError(f"{source}: unknown {info.name} class {name!r} (expected one of {', '.join(info.classes)})")
    return aliases[key]


def _subject_folds(items_by_subject: dict[int, list[Item]], folds: int) -> Splits:
    subjects = sorted(items_by_subject)
    if len(subjects) < folds:
        raise PrepareError(f"found {len(subjects)} subjects, need at least {folds} for {folds} folds")
    splits: Splits = {}
    for k, test_subjects in enumerate(np.array_split(np.array(subjects), folds), 1):
        test = set(test_subjects.tolist())
        splits[f"split{k:02d}/train"] = [i for s in subjects if s not in test for i in items_by_subject[s]]
        splits[f"split{k:02d}/test"] = [i for s in subjects if s in test for i in items_by_subject[s]]
    return splits


# --- one function per dataset: (info, root) -> splits -----------------------------------


def _dfew(info: DatasetInfo, root: Path) -> Splits:
    clips = _require(root / "Clip" / "jpg_256", "DFEW clip folder Clip/jpg_256")
    split_dir = _require(root / "EmoLabel_DataSplit", "DFEW split folder EmoLabel_DataSplit")
    splits: Splits = {}
    for k in range(1, info.folds + 1):
        for part in ("train", "test"):
            file = _require(split_dir / f"{part}(single-labeled)" / f"set_{k}.csv", "DFEW split file")
            items = []
            with file.open(newline="") as f:
                for n, row in enumerate(csv.DictReader(f), 2):
                    try:
                        name, label = row["video_name"].strip(), int(row["label"])
                    except (KeyError, TypeError, ValueError):
                        raise PrepareError(f"{file}:{n}: expected columns video_name,label, got {row}") from None
                    if not 1 <= label <= info.num_classes:
                        raise PrepareError(f"{file}:{n}: DFEW label {label} out of range 1..{info.num_classes}")
                    name = f"{int(name):05d}" if name.isdigit() else name
                    items.append(Item(_clip_path(clips / name, f"{file}:{n}"), label - 1))
            splits[f"split{k:02d}/{part}"] = items
    return splits


def _ferv39k(info: DatasetInfo, root: Path) -> Splits:
    clips = _require(root / "2_ClipsforFaceCrop", "FERV39k clip folder 2_ClipsforFaceCrop")
    splits: Splits = {}
    for part in ("train", "test"):
        file = _require(root / "4_setups" / "All_scenes" / f"{part}_All.csv", "FERV39k split file")
        items = []
        for n, line in enumerate(file.read_text().splitlines(), 1):
            fields = [f for f in re.split(r"[\s,]+", line.strip()) if f]
            if not fields or (n == 1 and "/" not in fields[0]):
                continue  # blank line or header
            parts = fields[0].strip("/").split("/")
            if len(parts) < 3:
                raise PrepareError(f"{file}:{n}: expected a clip path <Scene>/<Emotion>/<id>, got {fields[0]!r}")
            scene, emotion, clip = parts[-3:]
            label = _label(info, emotion, f"{file}:{n}")
            items.append(Item(_clip_path(clips / scene / emotion / clip, f"{file}:{n}"), label))
        splits[part] = items
    return splits


def _mafw(info: DatasetInfo, root: Path) -> Splits:
    frames = _require(root / "data" / "frames", "MAFW frame folder data/frames")
    splits: Splits = {}
    for k in range(1, info.folds + 1):
        for part in ("train", "test"):
            file = _require(root / "split" / "single" / "no_caption" / f"set_{k}" / f"{part}.txt", "MAFW split file")
            items = []
            for n, line in enumerate(file.read_text().splitlines(), 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 2:
                    raise PrepareError(f"{file}:{n}: expected '<clip> <emotion>', got {line!r}")
                name = Path(fields[0]).stem
                items.append(Item(_clip_path(frames / name, f"{file}:{n}"), _label(info, fields[1], f"{file}:{n}")))
            splits[f"split{k:02d}/{part}"] = items
    return splits


# --- the lab datasets: no split files, folds of subjects --------------------------------
#
# Each is read either as the authors' aligned faces (ROOT/face_aligned/, frame folders made
# by OpenFace) or as its download unpacks (whole-scene videos): then the face clips are made
# first by `maedfer faces` (make_face_clips), into the folder --faces names.

_CREMA_CODES = {"ANG": 0, "DIS": 1, "FEA": 2, "HAP": 3, "NEU": 4, "SAD": 5}
# Clips that CREMA-D's maintainers list as broken (its README): left out of every fold.
CREMA_D_BROKEN = ("1076_MTI_NEU_XX", "1076_MTI_SAD_XX", "1064_TIE_SAD_XX", "1064_IEO_DIS_MD")

# (info, clip path, path relative to the searched folder) -> (label, subject), or None for a
# clip that is not part of the set; a name that cannot be one of the set's is a PrepareError.
ClipRule = Callable[[DatasetInfo, Path, Path], "tuple[int, int] | None"]


def _crema_d_clip(info: DatasetInfo, clip: Path, relative: Path) -> tuple[int, int] | None:
    name = Path(clip.name).stem
    m = re.fullmatch(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})", name)
    if not m or m.group(3) not in _CREMA_CODES:
        raise PrepareError(f"{clip}: not a CREMA-D clip name <actor>_<sentence>_<EMO>_<level>")
    return None if name in CREMA_D_BROKEN else (_CREMA_CODES[m.group(3)], int(m.group(1)))


def _ravdess_clip(info: DatasetInfo, clip: Path, relative: Path) -> tuple[int, int] | None:
    fields = Path(clip.name).stem.split("-")
    if len(fields) != 7 or not all(f.isdigit() for f in fields):
        raise PrepareError(f"{clip}: not a RAVDESS file name (7 numeric fields MM-VV-EE-II-SS-RR-AA)")
    if fields[0] != "02" or fields[1] != "01":
        return None  # keep video-only (02) speech (01), as the original
    label = int(fields[2]) - 1
    if not 0 <= label < info.num_classes:
        raise PrepareError(f"{clip}: RAVDESS emotion {fields[2]} out of range 01..08")
    return label, int(fields[6])


def _enterface05_clip(info: DatasetInfo, clip: Path, relative: Path) -> tuple[int, int] | None:
    """subject_N (or, as published, "subject N") / <emotion> / [sentence K /] clip."""
    folders = relative.parts[:-1]
    for i, name in enumerate(folders[:-1]):  # the emotion folder follows the subject's
        m = re.fullmatch(r"subject[ _]?(\d+)", name, re.IGNORECASE)
        if m:
            return _label(info, folders[i + 1], str(clip.parent)), int(m.group(1))
    return None


@dataclass(frozen=True)
class LabLayout:
    rule: ClipRule
    aligned: str  # what ROOT/face_aligned holds, for messages
    published: str  # the download's layout, for messages


LAB: dict[str, LabLayout] = {
    "crema-d": LabLayout(
        _crema_d_clip, "<actor>_<sentence>_<EMO>_<level>", "VideoFlash/<actor>_<sentence>_<EMO>_<level>.flv"
    ),
    "ravdess": LabLayout(_ravdess_clip, "Actor_XX/02-01-EE-...", "Actor_XX/02-01-EE-II-SS-RR-AA.mp4"),
    "enterface05": LabLayout(
        _enterface05_clip, "subject_N/<emotion>/sentence_K/<clip>", "subject N/<emotion>/sentence K/<clip>.avi"
    ),
}


def _clips_below(folder: Path, videos_only: bool, skip: Path | None = None) -> list[Path]:
    """Clips below ``folder``, in sorted order: video files and (unless ``videos_only``)
    frame folders (a folder with images, or an empty one), which are not searched further.
    Hidden names (a run's partial output) and ``skip`` are left alone."""
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or Path(here, d) != skip))
        here_path = Path(here)
        frames = any(f.lower().endswith(IMAGE_SUFFIXES) for f in files) or not (dirs or files)
        if not videos_only and here_path != folder and frames:
            found.append(here_path)
            dirs[:] = []
            continue
        found += [here_path / f for f in sorted(files) if f.lower().endswith(VIDEO_SUFFIXES) and not f.startswith(".")]
    return sorted(found)


def _lab_items(
    info: DatasetInfo, folder: Path, videos_only: bool, skip: Path | None = None
) -> tuple[list[tuple[Item, int]], list[str]]:
    """(item, subject) for every clip of the set below ``folder``, and notes for the user."""
    rule, notes = LAB[info.name].rule, []
    items: list[tuple[Item, int]] = []
    seen: dict[str, Path] = {}
    broken = []
    for clip in _clips_below(folder, videos_only, skip):
        relative = clip.relative_to(folder)
        got = rule(info, clip, relative)
        name = Path(clip.name).stem
        if got is None:
            broken += [name] if name in CREMA_D_BROKEN else []
            continue
        if name in seen:  # the same clip twice (a zip unpacked twice, .flv beside .mp4): the first
            continue
        seen[name] = clip
        items.append((Item(str(clip), got[0]), got[1]))
    if broken:
        notes.append(
            f"left out {len(broken)} clips that CREMA-D's maintainers list as broken: {', '.join(sorted(broken))}"
        )
    return items, notes


@dataclass
class FaceStep:
    """Where ``prepare`` puts the face clips of a dataset as published, and how it makes them."""

    out: Path
    settings: "FacesSettings"
    workers: int = 0


def _lab(info: DatasetInfo, root: Path, out: Path, faces: FaceStep | None) -> tuple[Splits, list[str]]:
    aligned, layout = root / "face_aligned", LAB[info.name]
    if faces is None and aligned.is_dir():
        pairs, notes = _lab_items(info, aligned, videos_only=False)
        if not pairs:
            raise PrepareError(f"{aligned}: no {info.name} clips ({layout.aligned}) in it")
    else:
        skip = Path(os.path.abspath(faces.out)) if faces is not None else None
        pairs, notes = _lab_items(info, root, videos_only=True, skip=skip)
        if not pairs:
            raise PrepareError(
                f"{root}: no {info.name} videos ({layout.published}) below it, and no face_aligned/ "
                f"folder of aligned faces (is --root the dataset's top folder?)"
            )
        if faces is None:
            raise PrepareError(
                f"{root}: {info.name} as published ({len(pairs)} videos, whole scenes) needs face "
                f"clips first; make them with: maedfer prepare {info.name} --root {root} --out {out} "
                f"--faces {out / 'faces'}"
            )
        from .face_clips import make_face_clips

        made = make_face_clips([item for item, _ in pairs], faces.out, faces.settings, faces.workers, root=root)
        kept = [
            (Item(made.clips[item.path], item.label), subject) for item, subject in pairs if item.path in made.clips
        ]
        if len(kept) < len(pairs):
            notes.append(
                f"left out {len(pairs) - len(kept)} of {len(pairs)} videos without a usable face clip "
                f"(why, per video: {faces.out / 'faces.json'})"
            )
        pairs = kept
    by_subject: dict[int, list[Item]] = {}
    for item, subject in pairs:
        by_subject.setdefault(subject, []).append(item)
    return _subject_folds(by_subject, info.folds), notes


def _voxceleb2(info: DatasetInfo, root: Path) -> Splits:
    videos = sorted(root.rglob("*.mp4"))
    if not videos:
        raise PrepareError(f"{root}: no .mp4 files found below it")
    return {"pretrain": [Item(str(v), 0) for v in videos]}


# The datasets that ship split files (and VoxCeleb2, unlabelled); the lab ones are in LAB.
PREPARERS: dict[str, Callable[[DatasetInfo, Path], Splits]] = {
    "dfew": _dfew,
    "ferv39k": _ferv39k,
    "mafw": _mafw,
    "voxceleb2": _voxceleb2,
}
DATASET_NAMES = (*PREPARERS, *LAB)


class PrepareSummary(dict):
    """Per written split, the count of clips per label; ``notes``: what was left out and why."""

    notes: list[str]


def prepare(
    name: str, root: str | Path, out: str | Path, overwrite: bool = False, faces: FaceStep | None = None
) -> PrepareSummary:
    """Write the annotation files of dataset ``name`` found at ``root`` into ``out``
    (existing ones are replaced only with ``overwrite``). A lab dataset (CREMA-D, RAVDESS,
    eNTERFACE'05) is read from ``root/face_aligned/`` or, as published, from its videos:
    then ``faces`` says where the face clips go (``maedfer faces``, resumable) and how they
    are made. Returns, per written split, the count of clips per label."""
    if name.lower() not in DATASET_NAMES:
        raise PrepareError(f"no preparer for dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    info = dataset_info(name)
    root = Path(root).resolve()
    if not root.is_dir():
        raise PrepareError(f"{root}: no such folder")
    if faces is not None and info.name not in LAB:
        raise PrepareError(
            f"--faces: {info.name} ships face crops already; the face step is for {', '.join(LAB)} as published"
        )
    if info.name in LAB:
        splits, notes = _lab(info, root, Path(os.path.abspath(out)), faces)
    else:
        splits, notes = PREPARERS[info.name](info, root), []
    out = output_dir(out)
    for split, items in splits.items():
        if not items:
            raise PrepareError(f"{info.name}: split {split} came out empty")
        refuse_existing(out / f"{split}.csv", overwrite, "annotation file")
    summary = PrepareSummary()
    summary.notes = notes
    for split, items in splits.items():
        write_annotations(out / f"{split}.csv", items)
        summary[split] = Counter(i.label for i in items)
    if info.classes:
        (out / "classes.txt").write_text("".join(f"{c}\n" for c in info.classes))
    return summary
