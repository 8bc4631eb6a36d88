"""BiRefNet-Portrait backend: the real loading code (transformers, trust_remote_code) run
offline on tiny stand-in model folders built here, auto's choice, the one-line errors.

A stand-in is laid out like the real model on the hub (config.json with ``auto_map``, the
config and model modules, model.safetensors) and, like BiRefNet's remote code, its model
never calls ``post_init()`` and returns a list of logits whose last entry is the final map.
Its one 1x1 convolution makes a predictable mask: subject = pixels darker than a threshold
(after the ImageNet normalisation the backend applies). It accepts only a 1024x1024 input.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from backdrop import BackdropError, Params
from backdrop.service import subject_mask
from backdrop.cli import main
from backdrop.segment import cache, get_segmenter, segment
from backdrop.segment.birefnet import DEFAULT_MODEL, BiRefNet, tidy

ROOT = Path(__file__).resolve().parents[1]
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
HAVE_EXTRA = all(
    __import__("importlib").util.find_spec(m) is not None for m in ("transformers", "safetensors", "huggingface_hub")
)
needs_extra = pytest.mark.skipif(not HAVE_EXTRA, reason="the [birefnet] extra is not installed")

CONFIG_PY = '''
from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "tiny_birefnet"

    def __init__(self, size=1024, gain=1.0, **kwargs):
        self.size = size
        self.gain = gain
        super().__init__(**kwargs)
'''

# The three shapes BiRefNet's remote code has had, as far as loading goes:
# "current": the model keeps the config it is given;
# "2024": __init__ replaces self.config with a plain settings object (``self.config = Config()``);
# "2025": that settings object subclasses PretrainedConfig without being a whole one.
SETTINGS_PY = {
    "current": "",
    "2024": '''
class Settings:
    def __init__(self):
        self.gain = 1.0
        self.lateral = [3, 1]
''',
    "2025": '''
from transformers import PretrainedConfig


class Settings(PretrainedConfig):
    def __init__(self):  # never calls PretrainedConfig.__init__, as the code on the hub does not
        self.gain = 1.0
        self.lateral = [3, 1]
''',
}

MODEL_PY = '''
import torch
from transformers import PreTrainedModel
{extra_import}
from .tiny_config import TinyConfig
{settings}


class TinySeg(PreTrainedModel):
    config_class = TinyConfig
    built = 0  # how many times a model was constructed in this process
    seen = None  # the last input size

    def __init__(self, config=TinyConfig()):  # like BiRefNet: no post_init()
        super().__init__(config)
        {replace_config}
        {fail_init}
        TinySeg.built += 1
        self.head = torch.nn.Conv2d(*self.config.lateral if hasattr(self.config, "lateral") else (3, 1), 1)

    def forward(self, x):
        {fail_forward}
        TinySeg.seen = tuple(x.shape[-2:])
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"expects a multiple of 32, got {{tuple(x.shape)}}")
        final = self.head(x) * self.config.gain
        return [final * 0.25, final]  # like BiRefNet in eval mode: per-scale logits, last = final
'''


def make_standin(folder: Path, *, threshold: float = 0.5, extra_import: str = "", shape: str = "current",
                 fail: str = "", handler: bool = False) -> Path:
    """A model folder whose mask is 'subject = mean(RGB) < threshold', its code in ``shape``;
    ``fail``: "init" or "forward" raise in the model's own code; ``handler``: a handler.py beside
    it that imports a package nobody has (as the general BiRefNet repo's needs requests)."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny_config.py").write_text(CONFIG_PY)
    (folder / "tiny_model.py").write_text(MODEL_PY.format(
        extra_import=extra_import, settings=SETTINGS_PY[shape],
        replace_config="self.config = Settings()" if shape != "current" else "",
        fail_init="raise AttributeError(\"'Config' object has no attribute 'bb_pretrained'\")" if fail == "init" else "",
        fail_forward="raise RuntimeError(\"shape '[1, 96, 256, 256]' is invalid for input of size 7\")"
        if fail == "forward" else ""))
    if handler:
        (folder / "handler.py").write_text("import backdrop_no_such_requests\n")
    config = {
        "architectures": ["TinySeg"],
        "model_type": "tiny_birefnet",
        "size": 1024,
        "auto_map": {"AutoConfig": "tiny_config.TinyConfig", "AutoModelForImageSegmentation": "tiny_model.TinySeg"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    # logit = k * (threshold - mean(rgb)) on the normalised input x_c = (rgb_c - mean_c) / std_c
    k = 60.0
    w = torch.tensor(-k * STD / 3.0, dtype=torch.float32).view(1, 3, 1, 1)
    b = torch.tensor([k * threshold - k * MEAN.mean()], dtype=torch.float32)
    # the layout save_pretrained writes for a one-file model
    save_file({"head.weight": w.contiguous(), "head.bias": b}, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


@pytest.fixture(scope="module", autouse=True)
def offline_hf(tmp_path_factory):
    """No network, an empty Hugging Face home of our own (transformers copies remote code
    into its modules folder)."""
    home = tmp_path_factory.mktemp("hf-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(home))
        mp.setenv("HF_MODULES_CACHE", str(home / "modules"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "BACKDROP_BIREFNET"):
            mp.delenv(name, raising=False)
        yield home


@pytest.fixture(autouse=True)
def _env(monkeypatch, offline_hf):
    monkeypatch.delenv("BACKDROP_BIREFNET", raising=False)
    monkeypatch.setenv("HF_HOME", str(offline_hf))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    if not HAVE_EXTRA:
        pytest.skip("the [birefnet] extra is not installed")
    root = tmp_path_factory.mktemp("models")
    return {
        "a": make_standin(root / "tiny_birefnet_a", threshold=0.5),
        "b": make_standin(root / "tiny_birefnet_b", threshold=0.3),
        "needs_pkg": make_standin(root / "tiny_birefnet_pkg", extra_import="import backdrop_no_such_package  # noqa"),
        "2024": make_standin(root / "shape_2024", shape="2024"),
        "2025": make_standin(root / "shape_2025", shape="2025"),
        "init_fails": make_standin(root / "init_fails", shape="2024", fail="init"),
        "forward_fails": make_standin(root / "forward_fails", fail="forward"),
        "handler": make_standin(root / "with_handler", handler=True),
    }


@pytest.fixture
def gpu_here(monkeypatch):
    """auto's view of a machine with a GPU (BiRefNet is fast there); the model still runs on the CPU."""
    monkeypatch.setattr(BiRefNet, "fast_here", lambda self: True)


def portrait(h: int = 200, w: int = 300) -> np.ndarray:
    """Light paper (0.8) with a dark subject (0.2) and a mid-grey sleeve (0.4)."""
    img = np.full((h, w, 3), 0.8, np.float32)
    img[50:190, 100:200] = 0.2
    img[120:170, 200:240] = 0.4
    return img


@needs_extra
def test_mask_follows_the_model_at_image_size(models, monkeypatch):
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["a"]))
    img = portrait()
    mask, used = segment(img, "birefnet", use_cache=False)
    assert used == "birefnet"
    assert mask.shape == (200, 300) and mask.dtype == np.float32
    assert mask[60:180, 110:190].min() > 0.99  # subject
    assert mask[125:165, 205:235].min() > 0.99  # the sleeve, darker than 0.5
    assert mask[:40].max() == 0.0 and mask[:, :90].max() == 0.0  # paper: no coverage at all


@needs_extra
def test_pinholes_filled_gaps_kept_scuffs_dropped(models):
    """A highlight on the dark jacket (bright as the paper) stays subject; a real gap in the
    subject (under an arm) stays backdrop and is cleaned; a dark scuff on the paper that the
    model took for subject is dropped, so the cleanup still removes it."""
    seg = BiRefNet(models["a"])
    img = portrait()
    img[80:82, 150:152] = 0.8  # highlight, 2x2 px
    img[130:150, 130:160] = 0.8  # the gap between arm and body
    img[15:19, 20:24] = 0.1  # a scuff on the paper, 4x4 px
    raw = seg.probability(img)  # the model's own 1024x1024 view
    sy, sx = 1024 / 200, 1024 / 300
    assert raw[int(81 * sy), int(151 * sx)] < 0.5  # the model sees the highlight as backdrop ...
    assert raw[int(17 * sy), int(22 * sx)] > 0.5  # ... and the scuff as subject
    mask = seg(img)
    assert mask[79:83, 149:153].min() > 0.99
    assert mask[133:147, 133:157].max() == 0.0
    assert mask[10:25, 15:30].max() == 0.0


def test_tidy_keeps_hair_attached_to_the_subject():
    p = np.zeros((100, 100), np.float32)
    p[40:90, 30:70] = 1.0  # head and shoulders
    p[30:40, 45:50] = 0.3  # a wisp of hair, partly subject, touching the head
    p[5:12, 80:95] = 0.3  # faint blob on its own on the paper
    p[60:62, 5:7] = 0.9  # a speck
    p[0:100, 0:3] = 0.01  # faint noise the engine would otherwise protect
    out = tidy(p)
    assert np.allclose(out[30:40, 45:50], 0.3)
    assert out[5:12, 80:95].max() == 0 and out[60:62, 5:7].max() == 0 and out[:, :3].max() == 0
    assert out[40:90, 30:70].min() == 1.0


@needs_extra
def test_model_loaded_once_per_process(models, monkeypatch):
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["a"]))
    first, second = BiRefNet(), get_segmenter("birefnet")
    img = portrait()
    first(img)
    second(img)
    assert first.model() is second.model()
    assert first.model().built == 1  # constructed (and its weights read) once
    assert next(first.model().parameters()).dtype.is_floating_point


@needs_extra
def test_auto_picks_birefnet_on_a_gpu_when_its_weights_are_local(models, monkeypatch, gpu_here):
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["a"]))
    mask, used = segment(portrait(), "auto", use_cache=False)
    assert used == "birefnet"
    assert mask[60:180, 110:190].min() > 0.99
    monkeypatch.delenv("BACKDROP_BIREFNET")
    assert get_segmenter("auto").pick().name == "embedded"  # nothing in the (empty) HF cache


@needs_extra
def test_on_a_cpu_auto_keeps_to_the_embedded_model_and_birefnet_by_name_says_what_it_costs(models, monkeypatch, tmp_path):
    """BiRefNet takes tens of seconds a photo on a CPU: auto does not pick it there, even with its
    weights at hand; asked for by name it runs, and one line says how long a photo took."""
    import backdrop.segment as segment_mod

    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["a"]))
    monkeypatch.setenv("BACKDROP_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(segment_mod, "_SLOW_SAID", set())
    assert not BiRefNet().fast_here()  # this machine has no GPU
    assert get_segmenter("auto").pick().name == "embedded"
    said: list[str] = []
    mask, used = subject_mask(portrait(), Params(segmenter="birefnet"), warnings=said)
    assert used == "birefnet" and mask[60:180, 110:190].min() > 0.99
    assert len(said) == 1 and said[0].startswith("segmenter 'birefnet' runs on the CPU here: ")
    assert " s for this photo's mask, about as long for every photo" in said[0] and "\n" not in said[0]
    again: list[str] = []
    subject_mask(portrait(h=210), Params(segmenter="birefnet"), warnings=again)
    assert again == []  # said once a process


@needs_extra
def test_the_device_parameter_reaches_birefnet(models, monkeypatch, tmp_path, gpu_here):
    """device: cpu keeps BiRefNet off the GPU too, whether it is asked for or picked by auto."""
    from backdrop.service import subject_mask

    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["a"]))
    monkeypatch.setenv("BACKDROP_CACHE_DIR", str(tmp_path))
    seen = []
    real = BiRefNet.__call__

    def call(self, image):
        seen.append(self.device_name)
        return real(self, image)

    monkeypatch.setattr(BiRefNet, "__call__", call)
    for name in ("birefnet", "auto"):
        mask, used = subject_mask(portrait(), Params(segmenter=name, device="cpu"))
        assert used == "birefnet" and mask[60:180, 110:190].min() > 0.99
    assert seen == ["cpu"]  # the second photo is the same: its mask came from the cache
    assert get_segmenter("auto", device="cpu").pick().device_name == "cpu"


@needs_extra
def test_hub_id_found_in_the_hugging_face_cache(models, monkeypatch, tmp_path, gpu_here):
    """The default hub id, already downloaded: found offline, auto picks it, the commit is
    part of the mask cache key."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / ("models--" + DEFAULT_MODEL.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(models["a"], repo / "snapshots" / commit)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    seg = get_segmenter("auto").pick()
    assert seg.name == "birefnet" and seg.source == DEFAULT_MODEL
    assert commit in seg.version
    mask = seg(portrait())
    assert mask[60:180, 110:190].min() > 0.99 and mask[:40].max() == 0.0


@needs_extra
def test_two_models_never_share_cached_masks(models, monkeypatch, tmp_path):
    monkeypatch.setenv("BACKDROP_CACHE_DIR", str(tmp_path))
    img = portrait()
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["a"]))
    a, _ = segment(img, "birefnet")
    key_a = cache.key(img, "birefnet", BiRefNet().version)
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["b"]))
    b, _ = segment(img, "birefnet")
    key_b = cache.key(img, "birefnet", BiRefNet().version)
    emb = get_segmenter("embedded")
    assert len({key_a, key_b, cache.key(img, emb.name, emb.version)}) == 3
    assert a[130:160, 210:230].min() > 0.99  # the sleeve (0.4) is subject for model a ...
    assert b[130:160, 210:230].max() == 0.0  # ... and not for b (threshold 0.3): not a's cached mask
    assert len(list(tmp_path.glob("*.png"))) == 2


def test_missing_folder_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKDROP_BIREFNET", str(tmp_path / "nope"))
    with pytest.raises(BackdropError) as err:
        segment(portrait(), "birefnet", use_cache=False)
    msg = str(err.value)
    assert "\n" not in msg and "BACKDROP_BIREFNET" in msg and str(tmp_path / "nope") in msg and "not found" in msg
    assert get_segmenter("auto").pick().name == "embedded"

    empty = tmp_path / "empty"
    (empty / "config.json").parent.mkdir()
    (empty / "config.json").write_text("{}")
    monkeypatch.setenv("BACKDROP_BIREFNET", str(empty))
    with pytest.raises(BackdropError, match="not a model folder"):
        segment(portrait(), "birefnet", use_cache=False)


def test_offline_without_weights_cli_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    src, dst = tmp_path / "x.png", tmp_path / "y.png"
    cv2.imwrite(str(src), (portrait() * 255).astype(np.uint8))
    assert main(["clean", str(src), "-o", str(dst), "--set", "segmenter=birefnet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("backdrop: error: segmenter 'birefnet': weights for ZhengPeng7/BiRefNet-portrait")
    assert f"hf download {DEFAULT_MODEL}" in err and "BACKDROP_BIREFNET" in err
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


@needs_extra
def test_missing_package_is_one_line_and_auto_falls_back(models, monkeypatch):
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["needs_pkg"]))
    assert get_segmenter("auto").pick().name == "embedded"
    with pytest.raises(BackdropError) as err:
        segment(portrait(), "birefnet", use_cache=False)
    msg = str(err.value)
    assert "\n" not in msg and "backdrop_no_such_package" in msg and "make birefnet, or python -m backdrop.segment.install" in msg


def test_user_mask_file_wins(tmp_path, monkeypatch):
    """A mask file is used as is: the segmenter is never asked (here it could not run)."""
    monkeypatch.setenv("BACKDROP_BIREFNET", str(tmp_path / "nope"))
    img = portrait()
    drawn = np.zeros((200, 300), np.uint8)
    drawn[10:60, 10:60] = 255
    src = tmp_path / "shot.png"
    cv2.imwrite(str(src), (img * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "shot_mask.png"), drawn)
    for name in ("birefnet", "auto"):
        mask, used = subject_mask(img, Params(segmenter=name), source=src)
        assert used == "mask" and np.array_equal(mask > 0.5, drawn > 0)


def test_params_accept_birefnet():
    assert Params(segmenter="birefnet").segmenter == "birefnet"
    with pytest.raises(BackdropError, match="segmenter"):
        Params(segmenter="birefnet-hr")


def test_importing_and_auto_do_not_import_transformers(tmp_path):
    """Start-up stays cheap: no transformers unless BiRefNet's weights are on this machine."""
    code = (
        "import sys; from backdrop.segment import get_segmenter;"
        "print(get_segmenter('auto').pick().name, 'transformers' in sys.modules)"
    )
    env = {"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["embedded", "False"]


@needs_extra
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA GPU")
def test_cuda_runs_in_float16_and_matches_cpu(models):
    gpu, cpu = BiRefNet(models["a"], device="cuda"), BiRefNet(models["a"], device="cpu")
    img = portrait()
    assert next(gpu.model().parameters()).dtype == __import__("torch").float16
    assert np.abs(gpu(img) - cpu(img)).max() < 0.02


def test_environment_yml_names_the_birefnet_extra():
    """environment.yml (no extras in conda) lists the [birefnet] extra where it says how to add it."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["birefnet"]
    lines = (ROOT / "environment.yml").read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if "extra [birefnet]" in ln)
    assert sorted(lines[at + 1].strip().lstrip("#").split()) == sorted(extra)


# --------------------------------------------------------------------------- shapes of the remote code, failures
@needs_extra
@pytest.mark.parametrize("shape", ["2024", "2025"])
def test_every_shape_of_the_remote_code_loads_and_cleans_a_photo(models, monkeypatch, tmp_path, shape, gpu_here,
                                                                 capsys):
    """BiRefNet's 2024 code replaces self.config with a plain settings object, the 2025 code with
    a PretrainedConfig subclass that is not a whole one: both load (through birefnet and auto) and
    clean a photo, and the model reads its settings from self.config as it always did."""
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models[shape]))
    monkeypatch.setenv("BACKDROP_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("birefnet", "auto"):
        mask, used = segment(portrait(), name, use_cache=False)
        assert used == "birefnet" and mask[60:180, 110:190].min() > 0.99 and mask[:40].max() == 0.0
    model = BiRefNet().model()
    assert model.config.lateral == [3, 1] and model.config.gain == 1.0  # the settings, kept
    assert model.config.auto_map["AutoModelForImageSegmentation"] == "tiny_model.TinySeg"  # and the config
    src, dst = tmp_path / "x.png", tmp_path / "x_clean.png"
    cv2.imwrite(str(src), (portrait() * 255).astype(np.uint8))
    assert main(["clean", str(src), "-o", str(dst), "--set", "segmenter=birefnet"]) == 0
    assert dst.is_file() and "birefnet" in capsys.readouterr().out


@needs_extra
@pytest.mark.parametrize("which, cause", [("init_fails", "AttributeError: 'Config' object has no attribute"),
                                          ("forward_fails", "RuntimeError: shape '[1, 96, 256, 256]' is invalid")])
def test_a_model_failing_in_its_own_code_is_one_line_and_auto_falls_back(models, monkeypatch, tmp_path, capsys,
                                                                          which, cause, gpu_here):
    """An error raised inside the model's code (loading or running): with segmenter birefnet one
    line naming the folder and the cause, exit 2, nothing written; auto cleans with the embedded
    model instead, says so in one line, and a batch goes on."""
    import backdrop.segment.birefnet as birefnet_mod

    monkeypatch.setattr(birefnet_mod, "_BROKEN", {})
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models[which]))
    monkeypatch.setenv("BACKDROP_CACHE_DIR", str(tmp_path / "cache"))
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for i in range(2):
        cv2.imwrite(str(shoot / f"p{i}.png"), (portrait(h=200 + 10 * i) * 255).astype(np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["clean", str(shoot / "p0.png"), "-o", str(out / "x.png"), "--set", "segmenter=birefnet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(models[which]) in err and cause in err
    assert list(out.iterdir()) == []

    monkeypatch.setattr(birefnet_mod, "_BROKEN", {})
    assert main(["batch", str(shoot), "-o", str(out), "--no-progress"]) == 0  # segmenter auto
    printed = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["p0_clean.png", "p1_clean.png"]
    warned = [ln for ln in printed.err.splitlines() if ln.startswith("warning:")]
    assert len(warned) == 1 and cause in warned[0] and "the embedded segmenter made this mask instead" in warned[0]
    assert get_segmenter("auto").pick().name == "embedded"  # not tried again in this process


@needs_extra
def test_only_the_model_code_s_imports_are_required(models, monkeypatch):
    """A handler.py beside the model (the general BiRefNet repo has one, importing requests) is not
    the model's code: its imports are not demanded."""
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["handler"]))
    seg = BiRefNet()
    assert seg.problem() is None and seg.can_run()
    mask, used = segment(portrait(), "birefnet", use_cache=False)
    assert used == "birefnet" and mask[60:180, 110:190].min() > 0.99


@needs_extra
def test_the_input_size_is_a_knob_and_part_of_the_cache_key(models, monkeypatch, tmp_path):
    """``birefnet_size`` (a row of KNOBS) reaches the model: 512 here, and the mask cache keeps
    the two sizes apart."""
    monkeypatch.setenv("BACKDROP_BIREFNET", str(models["a"]))
    monkeypatch.setenv("BACKDROP_CACHE_DIR", str(tmp_path))
    mask, used = subject_mask(portrait(), Params(segmenter="birefnet", birefnet_size=512))
    assert used == "birefnet" and mask[60:180, 110:190].min() > 0.99
    assert type(BiRefNet().model()).seen == (512, 512)
    subject_mask(portrait(), Params(segmenter="birefnet"))
    assert type(BiRefNet().model()).seen == (1024, 1024)  # not the 512 mask from the cache
    assert BiRefNet(size=512).version != BiRefNet().version and BiRefNet(size=512).version.endswith("@512")
    for bad, why in [(500, "not a multiple of 32"), (128, "outside 256..2048"), ("big", "expected a number")]:
        with pytest.raises(BackdropError, match=rf"parameter 'birefnet_size': .*{why}"):
            Params(birefnet_size=bad)


TF4 = Path(sys.prefix) / "transformers4"  # made by `make test` (the Makefile's TF4): transformers 4.57

TF4_SCRIPT = '''
import os, sys, tempfile
from pathlib import Path
import numpy as np
import transformers
from test_birefnet import make_standin, portrait
from backdrop.segment import get_segmenter, segment
from backdrop.segment.birefnet import BiRefNet

BiRefNet.fast_here = lambda self: True  # auto's view of a GPU machine
print("transformers", transformers.__version__)
for shape in ("current", "2024", "2025"):
    os.environ["BACKDROP_BIREFNET"] = str(make_standin(Path(tempfile.mkdtemp()) / shape, shape=shape))
    for name in ("birefnet", "auto"):
        mask, used = segment(portrait(), name, use_cache=False)
        ok = used == "birefnet" and mask[60:180, 110:190].min() > 0.99 and mask[:40].max() == 0.0
        print(shape, name, "ok" if ok else "wrong")
'''


@needs_extra
@pytest.mark.skipif(not (TF4 / ".installed").is_file(), reason="transformers 4.x is not installed beside the venv "
                    "(make test installs it)")
def test_every_shape_loads_on_transformers_4(tmp_path):
    """The [birefnet] extra allows transformers >= 4.40: on 4.57 the 2024 shape failed with
    get_text_config and the 2025 one with is_encoder_decoder."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TF4), str(ROOT), str(ROOT / "tests")]),
               HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", BACKDROP_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-c", TF4_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.split("\n")
    assert lines[0].startswith("transformers 4.")
    assert [ln for ln in lines[1:] if ln] == [f"{s} {n} ok" for s in ("current", "2024", "2025")
                                             for n in ("birefnet", "auto")]


# --------------------------------------------------------------------------- the install keeps torch
@pytest.mark.parametrize("torch_version, vision, index", [
    ("2.13.0+cpu", "torchvision==0.28.0+cpu", "https://download.pytorch.org/whl/cpu"),
    ("2.13.1+cpu", "torchvision==0.28.1+cpu", "https://download.pytorch.org/whl/cpu"),
    ("2.14.1+cu130", "torchvision==0.29.1+cu130", "https://download.pytorch.org/whl/cu130"),
    ("2.6.0+rocm6.2", "torchvision==0.21.0+rocm6.2", "https://download.pytorch.org/whl/rocm6.2"),
    ("2.13.0", "torchvision==0.28.0", None),  # PyPI's own build (CUDA on Linux, CPU/MPS on a Mac)
])
def test_the_torchvision_built_for_the_installed_torch_from_its_index(torch_version, vision, index):
    from backdrop.segment.install import torchvision_for

    assert torchvision_for(torch_version) == (vision, index)


def test_make_birefnet_never_changes_torch(tmp_path):
    """The install helper resolves the extra with the installed torch pinned: pip either finds
    the torchvision built for it, and torch is not in what it would install, or it stops with
    one line saying torch is unchanged (here: PyTorch's index cannot be reached)."""
    import torch

    run = subprocess.run([sys.executable, "-m", "backdrop.segment.install", "--dry-run"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    said = [ln for ln in run.stderr.splitlines() if ln.startswith("backdrop: ")]
    assert said[0].startswith("backdrop: -m pip install -c ") and "torch==" not in said[0].split(" -c ")[0]
    if run.returncode == 0:
        would = run.stdout.strip().removeprefix("would install: ").split(", ")
        assert not [w for w in would if w.split()[0].lower() == "torch"], would
        assert any(w.startswith("torchvision ") for w in would)
    else:
        assert run.returncode == 2 and len(said) == 2
        assert said[1].startswith(f"backdrop: error: the [birefnet] extra was not installed, torch {torch.__version__} is unchanged: ")
    assert __import__("importlib.metadata").metadata.version("torch") == torch.__version__
