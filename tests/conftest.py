import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # for official_reference

# Key names and shapes of the officially released checkpoints (a fact about those files,
# copied here so that the tests read nothing outside the repository).
REFERENCE_KEYS = Path(__file__).resolve().parent / "data" / "official_state_dict_keys.json"


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
