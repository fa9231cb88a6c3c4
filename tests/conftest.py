import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # for official_reference

# Key names and shapes of the officially released checkpoints (a fact about those files,
# copied here so that the tests read nothing outside the repository).
REFERENCE_KEYS = Path(__file__).resolve().parent / "data" / "official_state_dict_keys.json"


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """The tiny synthetic dataset the training tests share, made once per session (read
    only): 8 unlabelled 20-frame videos and 2 identity folds of 48x48 labelled clips."""
    from maedfer.data import synth

    root = tmp_path_factory.mktemp("tiny_synth")
    synth.generate(
        root,
        synth.SynthConfig(clips_per_class=4, pool_size=8, frames=16, pool_frames=20, size=48, identities=4, folds=2),
    )
    return root


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _cache_home(tmp_path_factory):
    """maedfer's cache (precision choices, ...) goes to a temporary folder, not ~/.cache."""
    os.environ["MAEDFER_HOME"] = str(tmp_path_factory.mktemp("maedfer_home"))


@pytest.fixture
def smooth_images():
    """``smooth_images(n, generator)``: n smooth random RGB images (n, 3, 80, 80) in [0.2, 0.8]."""
    import torch.nn.functional as F

    def make(n: int, generator: torch.Generator) -> torch.Tensor:
        low = torch.rand(n, 3, 5, 5, generator=generator)
        return F.interpolate(low, size=(80, 80), mode="bilinear", align_corners=False) * 0.6 + 0.2

    return make
