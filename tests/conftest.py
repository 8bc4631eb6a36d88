import contextlib
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

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


@contextlib.contextmanager
def served_app(tmp: Path, **launch):
    """The Gradio app on a free local port, offline and without analytics, its files under ``tmp``.
    Yields (url, the app_gradio module); the environment is restored afterwards."""
    import os
    import socket

    env = dict(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               GRADIO_TEMP_DIR=str(tmp / "cache"))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import app_gradio

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = app_gradio.build_demo()
    demo.queue()
    try:
        _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                                quiet=True, **launch)
        yield url, app_gradio
    finally:
        demo.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
