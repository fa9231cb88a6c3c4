"""What maedfer knows about each dataset: class names in the original label order (that of
the original code's annotation files) and folds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    classes: tuple[str, ...]
    folds: int  # 0: a single train/test split (or no labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo("dfew", ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"), folds=5),
        DatasetInfo("ferv39k", ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"), folds=0),
        DatasetInfo(
            "mafw",
            (
                "anger",
                "disgust",
                "fear",
                "happiness",
                "neutral",
                "sadness",
                "surprise",
                "contempt",
                "anxiety",
                "helplessness",
                "disappointment",
            ),
            folds=5,
        ),
        DatasetInfo("crema-d", ("anger", "disgust", "fear", "happy", "neutral", "sad"), folds=5),
        DatasetInfo(
            "ravdess", ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"), folds=6
        ),
        DatasetInfo("enterface05", ("anger", "disgust", "fear", "happiness", "sadness", "surprise"), folds=5),
        DatasetInfo("voxceleb2", (), folds=0),
        # the built-in synthetic set (maedfer synth), in the DFEW class order
        DatasetInfo("synth", ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"), folds=0),
    )
}


# the datasets with emotion labels (VoxCeleb2 is unlabelled pre-training data)
LABELLED = tuple(name for name, info in DATASETS.items() if info.classes)

# HiCMAE's label orders, the outputs of its fine-tuned heads, by the original's `--data_set`
# (the `args.data_set` of its checkpoints), with the dataset each is here; the names are ours.
# From the HiCMAE spec (shared/spec/hicmae.md §7): CREMA-D ANG, DIS, FEA, HAP, NEU, SAD = 0-5
# (preprocess/creamd_av.py); MAFW's 11 single-label classes = 0-10; RAVDESS emotion code - 1
# (the names inferred). Each equals the order above today; an official head's order is this one.
# Other data sets of the original (MSP-IMPROV, DFEW, IEMOCAP, MER2023, AVCAFFE, the regression
# Werewolf-XL) have no released models and no stated or maedfer label order.
HICMAE_LABELS: dict[str, tuple[str, tuple[str, ...]]] = {
    data_set: (name, tuple(order.split()))
    for data_set, name, order in (
        ("CREMA-D", "crema-d", "anger disgust fear happy neutral sad"),
        (
            "MAFW",
            "mafw",
            "anger disgust fear happiness neutral sadness surprise contempt anxiety helplessness disappointment",
        ),
        ("RAVDESS", "ravdess", "neutral calm happy sad angry fearful disgust surprised"),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    key = name.lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[key]
