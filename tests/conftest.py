import functools
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for bench.scenes

SMALL = (480, 320)


@functools.lru_cache(maxsize=None)
def scene(name: str, size=SMALL, seed: int = 0):
    from bench.scenes import make_scene

    return make_scene(name, size=size, seed=seed)


@pytest.fixture
def get_scene():
    return scene


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The suite's images are tiny: one intra-op thread. On a small, busy CPU torch's OpenMP
    threads wait on each other and a 240x160 frame takes seconds instead of tens of ms."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
