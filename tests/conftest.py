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
