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


@pytest.fixture(autouse=True, scope="session")
def _private_mask_cache(tmp_path_factory):
    """Tests never write into the user's mask cache."""
    import os

    old = os.environ.get("BACKDROP_CACHE_DIR")
    os.environ["BACKDROP_CACHE_DIR"] = str(tmp_path_factory.mktemp("mask-cache"))
    yield
    if old is None:
        os.environ.pop("BACKDROP_CACHE_DIR", None)
    else:
        os.environ["BACKDROP_CACHE_DIR"] = old
