import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # for official_reference

REFERENCE_KEYS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "official_state_dict_keys.json"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
