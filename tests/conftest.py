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
