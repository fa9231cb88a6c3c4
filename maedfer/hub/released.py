"""The officially released MAE-DFER models, by name.

The authors published their fine-tuned LGI-Former-B checkpoints (DFEW folds 1-5, FERV39k,
MAFW folds 1-5) and the VoxCeleb2 pre-trained MAE-DFER on Google Drive; the file ids and
scores below are those of the links and tables in the original README
(github.com/sunlicai/MAE-DFER). FERV39k's and MAFW's original checkpoints were lost; the
released files are the authors' reproductions, scored by the README's "reproduced" rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import PRESETS
from ..data.catalog import dataset_info
from ..errors import MaedferError


@dataclass(frozen=True)
class ReleasedModel:
    name: str
    drive_id: str
    dataset: str  # the data it was fine-tuned (or pre-trained) on
    model_name: str  # maedfer's registered model the file loads into
    uar: float | None  # the original README's scores for this very file, in %
    war: float | None
    note: str = ""

    @property
    def url(self) -> str:
        return f"https://drive.google.com/uc?id={self.drive_id}"

    @property
    def page(self) -> str:
        """The link a person opens in a browser."""
        return f"https://drive.google.com/file/d/{self.drive_id}/view"

    @property
    def classes(self) -> tuple[str, ...]:
        """Label names in the head's order (empty for the pre-trained model)."""
        return dataset_info(self.dataset).classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def sampling_rate(self) -> int:
        """Frame spacing of its 16-frame clips (the fine-tuning recipe's)."""
        return PRESETS[self.dataset].get("sampling_rate", 4)

    @property
    def filename(self) -> str:
        return f"{self.name}.pth"

    @property
    def finetuned(self) -> bool:
        return bool(self.classes)


def _folds(dataset: str, ids: list[str], scores: list[tuple[float, float]], note: str = "") -> list[ReleasedModel]:
    return [
        ReleasedModel(f"{dataset}-fold{k}", i, dataset, "lgi_former_base", u, w, note)
        for k, (i, (u, w)) in enumerate(zip(ids, scores), start=1)
    ]


RELEASED: dict[str, ReleasedModel] = {
    m.name: m
    for m in (
        *_folds(
            "dfew",
            [
                "1wRxwEZlrc3z3DqQ84xm_olmqRsj2obH3",
                "1lY4L2PMVWuF93K6_VqEl7QrPoSK0SvaQ",
                "1FPKxBoGO3VXvLhcHY8iOPb9lQPi0_C1z",
                "1yFDc1n8SaTEQWrVX8k65loQm45rfwQeO",
                "1wmXO4M2kjpAOnvof8CmpJE6wUrxMUOgw",
            ],
            [(62.59, 74.88), (61.96, 72.49), (64.00, 74.91), (63.07, 74.05), (65.42, 75.81)],
        ),
        ReleasedModel(
            "ferv39k",
            "1vq9WxuV229spEX7JQCMTluLXvvefLRzq",
            "ferv39k",
            "lgi_former_base",
            43.29,
            52.50,
            "the authors' reproduction (paper: 43.12 / 52.07)",
        ),
        *_folds(
            "mafw",
            [
                "1BXTp-2mdy0fvrcjwFsZ4fPY53E4DotvR",
                "1Lzm50nPzZtTODfNYSkSLm09mhExHu2eL",
                "1WlCTw5OjV6SZ7L7rU5xzvbVD_GTcp8CC",
                "18fdMGu-GdYxUmCEG-33NR3hxvHFyrO-v",
                "1CO6OY-P6oM5LMikLTlB5iz_AXack2vfH",
            ],
            [(36.11, 46.71), (42.37, 54.82), (46.25, 58.87), (45.42, 59.50), (41.66, 55.27)],
            "the authors' reproduction",
        ),
        ReleasedModel(
            "voxceleb2-pretrain",
            "1nzvMITUHic9fKwjQ7XLcnaXYViWTawRv",
            "voxceleb2",
            "mae_dfer_base",
            None,
            None,
            "pre-trained only (no classifier): for fine-tuning and reconstructions",
        ),
    )
}

# Short names: a dataset's first fold stands for the dataset.
ALIASES = {"dfew": "dfew-fold1", "mafw": "mafw-fold1", "voxceleb2": "voxceleb2-pretrain"}


def is_released_name(name: str) -> bool:
    return isinstance(name, str) and name.lower() in {*RELEASED, *ALIASES}


def released_model(name: str) -> ReleasedModel:
    """The catalogue entry of ``name`` (or an alias such as ``dfew``)."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in RELEASED:
        raise MaedferError(
            f"{name!r} is not a released model; known: {', '.join([*ALIASES, *RELEASED])} (maedfer models --released)"
        )
    return RELEASED[key]
