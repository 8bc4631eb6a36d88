"""BiRefNet-Portrait: a sharp 1024x1024 portrait matte, through ``transformers``.

``ZhengPeng7/BiRefNet-portrait`` (MIT) is loaded with
``AutoModelForImageSegmentation`` and ``trust_remote_code=True`` from a local folder, a
hub id already in the Hugging Face cache, or (online) a download. ``BACKDROP_BIREFNET``
or the ``source`` option names the folder or hub id. It needs the optional extra
``make birefnet`` (``python -m backdrop.segment.install``: transformers, safetensors, huggingface_hub and what the
model's own code imports: timm, einops, torchvision, kornia). The model is loaded once
per process; it runs in float16 on CUDA and float32 elsewhere.

Nothing here imports ``transformers`` until the backend is used or asked whether it can
run; deciding that (:meth:`BiRefNet.can_run`, used by ``auto``) never loads the model.

Its output is already sharp at 1024x1024 and soft where hair is partly subject, so it
is not re-decided against the backdrop model as the coarse embedded mask is: on real
portrait mattes that pass turns soft hair into hard blobs and cuts strands (the
engine already protects, pixel by pixel, edge pixels the backdrop does not explain).
It is only tidied (:func:`tidy`): faint coverage cleared, pinholes filled (a
highlight on a dark jacket stays subject), small islands dropped (a dark scuff the
model took for subject still gets cleaned), larger holes kept as the model gave them
(a portrait model leaves a hole where there is a real gap, under an arm on the hip or
between the legs, and the backdrop there is cleaned); then resized to the photo.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..errors import BackdropError, first_line
from . import MIN_HOLE, MIN_ISLAND, Segmenter, register

__all__ = ["BiRefNet", "DEFAULT_MODEL", "ENV_VAR", "INPUT_SIZE", "tidy"]

DEFAULT_MODEL = "ZhengPeng7/BiRefNet-portrait"
ENV_VAR = "BACKDROP_BIREFNET"
INPUT_SIZE = 1024  # BiRefNet's training and inference resolution
MEAN = (0.485, 0.456, 0.406)  # ImageNet normalisation, as the model was trained
STD = (0.229, 0.224, 0.225)
LOW = 0.02  # coverage below this is backdrop (the engine protects any coverage > 1e-3)
TIDY_VERSION = "tidy2"
EXTRA = "make birefnet, or python -m backdrop.segment.install"

# what the loading code needs, and what BiRefNet's remote code imports (for a hub id whose
# code is not on disk yet); for a folder or cached snapshot its *.py files are read instead
_LOADER_PACKAGES = ("transformers", "safetensors", "huggingface_hub")
_BIREFNET_CODE_PACKAGES = ("timm", "einops", "torchvision", "kornia")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")

_MODELS: dict[tuple[str, str, str], torch.nn.Module] = {}
_BROKEN: dict[tuple[str, str, str], str] = {}  # a model that failed to load or run here: why (one line)
_LOCK = threading.Lock()
_IMPORTS_OK: dict[frozenset, str | None] = {}
_CODE_IMPORTS: dict[tuple, frozenset[str]] = {}


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _offline() -> bool:
    return _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE")


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, by huggingface_hub's own rule, read at call time."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / n).is_file() for n in _WEIGHT_FILES)


def _looks_like_hub_id(src: str) -> bool:
    parts = src.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not src.startswith((".", "~"))
        and all(c.isalnum() or c in "-_." for c in src.replace("/", ""))
    )


def _code_imports(folder: Path) -> set[str]:
    """Top-level packages the model's own code imports (as transformers checks them: not
    relative imports, not the standard library, not imports guarded by try). Only the modules
    its config's ``auto_map`` names and what they import relatively count: another script in the
    folder (the general BiRefNet repo's ``handler.py`` needs ``requests``) is never run."""
    files = _model_files(folder)
    stamp = (str(folder), tuple((f.name, f.stat().st_mtime_ns) for f in files))
    if stamp not in _CODE_IMPORTS:
        _CODE_IMPORTS[stamp] = _parse_imports(files)
    return set(_CODE_IMPORTS[stamp])


def _model_files(folder: Path) -> list[Path]:
    """The model's code: the modules of ``auto_map`` in config.json and, transitively, the
    modules of the folder they import relatively (every *.py when config.json names none)."""
    try:
        auto_map = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("auto_map") or {}
    except (OSError, ValueError, AttributeError):
        auto_map = {}
    refs = [v for v in auto_map.values() if isinstance(v, str)]
    todo = [folder / (ref.split("--")[-1].rsplit(".", 1)[0] + ".py") for ref in refs]
    if not todo:
        return sorted(folder.glob("*.py"))
    seen: dict[Path, None] = {}
    while todo:
        py = todo.pop()
        if py in seen or not py.is_file():
            continue
        seen[py] = None
        try:
            tree = ast.parse(py.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    todo.append(folder / (node.module.split(".")[0] + ".py"))
                else:  # from . import a, b
                    todo.extend(folder / f"{a.name}.py" for a in node.names)
    return sorted(seen)


def _parse_imports(files: list[Path]) -> frozenset[str]:
    names: set[str] = set()
    for py in files:
        try:
            tree = ast.parse(py.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        guarded = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) for b in t.body for n in ast.walk(b)}
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return frozenset(n for n in names if n not in sys.stdlib_module_names)


def tidy(prob: np.ndarray, *, min_island: float = MIN_ISLAND, min_hole: float = MIN_HOLE) -> np.ndarray:
    """Faint coverage cleared, pinholes in the subject filled, small islands dropped.

    Args:
        prob: float32 (h, w) subject probability in [0, 1] (the model's resolution).
        min_island: subject parts smaller than this share of the frame are dropped,
            the largest part always stays.
        min_hole: holes in the subject smaller than this share of the frame are filled;
            larger ones (a gap under an arm) stay backdrop.
    Returns:
        float32 (h, w) in [0, 1]; soft edges (hair) kept as the model gave them.
    Example:
        >>> p = np.zeros((200, 200), np.float32); p[40:160, 60:140] = 1; p[100, 100] = 0  # a pinhole
        >>> float(tidy(p)[100, 100])
        1.0
    """
    if prob.ndim != 2:
        raise ValueError(f"prob: expected a (h, w) map, got shape {prob.shape}")
    p = np.where(prob >= LOW, np.clip(prob, 0.0, 1.0), 0.0).astype(np.float32)
    core = p > 0.5
    if not core.any():
        return np.zeros_like(p)
    holes, n = ndimage.label(ndimage.binary_fill_holes(core) & ~core)
    if n:
        small = ndimage.sum(np.ones_like(holes), holes, np.arange(1, n + 1)) < min_hole * p.size
        p[(holes > 0) & small[np.maximum(holes - 1, 0)]] = 1.0
    filled = p > 0.5
    # a part is its soft support (hair around a head belongs to the head); its size is its core
    labels, n = ndimage.label(p > 0.0, structure=np.ones((3, 3), bool))
    if n > 1:
        idx = np.arange(1, n + 1)
        area = ndimage.sum(filled, labels, idx)
        keep = area >= min_island * p.size
        keep[np.argmax(area)] = True
        p[(labels > 0) & ~keep[np.maximum(labels - 1, 0)]] = 0.0
    return p


@register("birefnet")
class BiRefNet(Segmenter):
    """BiRefNet-Portrait (1024x1024) through transformers, tidied (:func:`tidy`) and resized to the photo.

    Args:
        source: a local model folder or a hub id (default: ``$BACKDROP_BIREFNET``, else
            ``ZhengPeng7/BiRefNet-portrait``).
        device: "auto" (the engine's rule: CUDA, else MPS, else CPU), "cpu", "cuda" or "mps".
        size: the model's input size, a multiple of 32 (default 1024, the size it was trained at; the
            ``birefnet_size`` knob): 512 is about 4x faster on a CPU, and coarser.
    """

    def __init__(self, source: str | os.PathLike | None = None, *, device: str = "auto",
                 size: int | None = None):
        env = os.environ.get(ENV_VAR, "").strip()
        self.source = str(source) if source is not None else (env or DEFAULT_MODEL)
        self._from = "source" if source is not None else (ENV_VAR if env else None)
        self.device_name = device
        self.size = _input_size(size)

    # ------------------------------------------------------------- where the weights are
    def _label(self) -> str:
        return f"{self._from}={self.source}" if self._from else self.source

    def _locate(self) -> tuple[Path | None, str | None]:
        """(local folder with the weights or None, hub id or None). A missing folder is an error."""
        p = Path(self.source).expanduser()
        if p.is_dir():
            if not _has_weights(p):
                raise BackdropError(
                    f"segmenter 'birefnet': {self._label()}: not a model folder "
                    "(config.json and model.safetensors expected)"
                )
            return p.resolve(), None
        if not _looks_like_hub_id(self.source) or p.exists():
            raise BackdropError(f"segmenter 'birefnet': {self._label()}: model folder not found")
        return self._cached_snapshot(self.source), self.source

    @staticmethod
    def _cached_snapshot(repo: str) -> Path | None:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        hit = try_to_load_from_cache(repo, "config.json", cache_dir=hub_cache_dir())
        if isinstance(hit, str):
            folder = Path(hit).parent
            if _has_weights(folder):
                return folder
        return None

    def _needed_packages(self, folder: Path | None) -> list[str]:
        code = _code_imports(folder) if folder is not None else set(_BIREFNET_CODE_PACKAGES)
        return sorted(set(_LOADER_PACKAGES) | code)

    def problem(self, *, download: bool = False) -> str | None:
        """Why this backend cannot run here, as one line (None: it can). Cheap: looks at
        files and installed packages, never loads the model. ``download``: a hub id not in
        the cache counts as runnable when a download is allowed (not offline)."""
        try:
            folder, repo = self._locate()
        except BackdropError as err:
            return str(err)
        missing = [m for m in self._needed_packages(folder) if importlib.util.find_spec(m) is None]
        packages = f"the packages {', '.join(missing)}: {EXTRA}" if missing else ""
        if folder is None and not (download and not _offline()):
            return (
                f"segmenter 'birefnet': weights for {repo} are not in the local Hugging Face cache "
                f"({hub_cache_dir()}); run once online, or `hf download {repo}`, "
                f"or set {ENV_VAR} to a local folder" + (f"; it also needs {packages}" if missing else "")
            )
        if missing:
            return f"segmenter 'birefnet' needs {packages}"
        return None

    def can_run(self) -> bool:
        """For ``auto``: the weights are on this machine, what the model imports imports, and it
        has not failed to load or run in this process. Never downloads, never loads the model."""
        if self.problem() is not None:
            return False
        folder, repo = self._locate()
        if self._key(folder, repo) in _BROKEN:
            return False
        return _import_problem(self._needed_packages(folder)) is None

    @property
    def _size_tag(self) -> str:
        return "" if self.size == INPUT_SIZE else f"@{self.size}"

    def fast_here(self) -> bool:
        """Whether it runs where it is fast: a GPU (CUDA or MPS). On a CPU a 1024x1024 pass takes
        tens of seconds (44 s on 2 cores), against 0.4 s for the embedded model: ``auto`` then
        keeps to the embedded one."""
        return self._device().type in ("cuda", "mps")

    def _key(self, folder: Path | None, repo: str | None) -> tuple[str, str, str]:
        device = self._device()
        dtype = torch.float16 if device.type == "cuda" else torch.float32
        return (str(folder) if repo is None else repo, str(device), str(dtype))

    @property
    def version(self) -> str:  # type: ignore[override]
        """The model's identity (folder contents or hub commit) for the mask cache key."""
        folder, repo = self._locate()
        if folder is None:  # a hub id about to be downloaded: load it first, then it is cached
            self.model()
            folder = self._cached_snapshot(repo) if repo else None
            if folder is None:
                return f"{repo}@unresolved+{TIDY_VERSION}{self._size_tag}"
        if repo is not None:
            return f"{repo}@{folder.name}+{TIDY_VERSION}{self._size_tag}"
        h = hashlib.blake2b(digest_size=12)
        h.update(str(folder).encode())
        h.update((folder / "config.json").read_bytes())
        for name in sorted(_WEIGHT_FILES):
            f = folder / name
            if f.is_file():
                st = f.stat()
                h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return f"folder-{h.hexdigest()}+{TIDY_VERSION}{self._size_tag}"

    # ------------------------------------------------------------------------ the model
    def _device(self) -> torch.device:
        from ..ops.device import pick_device

        return pick_device(self.device_name)

    def model(self) -> torch.nn.Module:
        """The loaded model, once per process per (source, device, dtype)."""
        why = self.problem(download=True)
        if why:
            raise BackdropError(why)
        folder, repo = self._locate()
        device = self._device()
        key = self._key(folder, repo)
        with _LOCK:
            model = _MODELS.get(key)
            if model is None:
                if key in _BROKEN:
                    raise BackdropError(_BROKEN[key])
                why = _import_problem(self._needed_packages(folder))
                if why:
                    raise BackdropError(why)
                local_only = _offline() or folder is not None
                src = repo if repo is not None else str(folder)
                try:
                    model = _load(src, local_only=local_only, label=self._label())
                    model = model.to(device=device, dtype=torch.float16 if device.type == "cuda" else torch.float32)
                except BackdropError as err:
                    _BROKEN[key] = str(err)
                    raise
                _MODELS[key] = model.eval()
        return model

    def probability(self, image: np.ndarray) -> np.ndarray:
        """The model's own subject probability at its output size (``size`` square), float32.
        A failure in the model's own code is one line (and the model is not tried again in this
        process); running out of GPU memory is left to the caller, who retries on the CPU."""
        model = self.model()
        p = next(model.parameters(), None)
        device = p.device if p is not None else self._device()
        dtype = p.dtype if p is not None else torch.float32
        rgb = np.ascontiguousarray(image[..., :3], dtype=np.float32)
        # box-average down (OpenCV's area resize reads the HxWx3 frame as it is: ~3x faster
        # at 24 MP than torch's on a channels-last view), bilinear up for a small frame
        n = self.size
        interp = cv2.INTER_AREA if min(rgb.shape[:2]) >= n else cv2.INTER_LINEAR
        x = torch.from_numpy(cv2.resize(rgb, (n, n), interpolation=interp)).permute(2, 0, 1)[None]
        mean = torch.tensor(MEAN, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(STD, dtype=x.dtype).view(1, 3, 1, 1)
        x = ((x - mean) / std).to(device=device, dtype=dtype)
        try:
            with torch.inference_mode():
                out = model(x)
                while isinstance(out, (list, tuple)):  # BiRefNet: logits per scale, the last is final
                    out = out[-1]
                logits = getattr(out, "logits", out)
                prob = logits.float().sigmoid()
        except Exception as err:  # noqa: BLE001 (the model's own code raises anything)
            from ..errors import is_out_of_memory

            if is_out_of_memory(err):
                raise
            why = (f"segmenter 'birefnet': {self._label()}: the model failed on a {n}x{n} input: "
                   f"{type(err).__name__}: {first_line(err)}")
            folder, repo = self._locate()
            _BROKEN[self._key(folder, repo)] = why
            raise BackdropError(why) from None
        if not isinstance(prob, torch.Tensor) or prob.ndim != 4 or prob.shape[:2] != (1, 1):
            raise BackdropError(
                f"segmenter 'birefnet': {self._label()}: the model returned shape {tuple(getattr(prob, 'shape', ()))}, "
                "not a one-channel map"
            )
        return prob[0, 0].cpu().numpy()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        p = tidy(self.probability(image))
        up = F.interpolate(torch.from_numpy(p)[None, None], size=(h, w), mode="bilinear", align_corners=False)
        return self.check(image, up[0, 0].clamp_(0.0, 1.0).numpy())


def _input_size(size: int | None) -> int:
    """The model's input size: ``size`` (the ``birefnet_size`` knob), else 1024; a multiple of 32
    from 256 to 2048 (the backbone halves it five times)."""
    n = INPUT_SIZE if size is None else size
    if isinstance(n, bool) or not isinstance(n, int) or n < 256 or n > 2048 or n % 32:
        raise BackdropError(f"segmenter 'birefnet': size={n!r}: expected a multiple of 32 from 256 to 2048")
    return n


def _import_problem(packages: list[str]) -> str | None:
    """Import what the model needs (once per process): a broken install is caught here."""
    key = frozenset(packages)
    if key not in _IMPORTS_OK:
        why = None
        for name in packages:
            try:
                importlib.import_module(name)
            except Exception as err:  # a broken package raises anything on import
                first = first_line(err)
                why = f"segmenter 'birefnet': the package {name} does not import ({first}); {EXTRA}"
                break
        _IMPORTS_OK[key] = why
    return _IMPORTS_OK[key]


def _load(src: str, *, local_only: bool, label: str) -> torch.nn.Module:
    """``from_pretrained(src, trust_remote_code=True)``, one line on any failure: the model's own
    code raises whatever it raises (AttributeError, RuntimeError, TypeError ...)."""
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        return _from_pretrained(src, local_only=local_only)
    except BackdropError:
        raise
    except Exception as err:  # noqa: BLE001 (remote code: anything, and all of it is "cannot load")
        raise BackdropError(f"segmenter 'birefnet': cannot load {label}: "
                            f"{type(err).__name__}: {first_line(err)}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


def _from_pretrained(src: str, *, local_only: bool) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForImageSegmentation

    kw = dict(local_files_only=local_only, cache_dir=str(hub_cache_dir()))
    config = AutoConfig.from_pretrained(src, trust_remote_code=True, **kw)
    ref = (getattr(config, "auto_map", None) or {}).get("AutoModelForImageSegmentation")
    if not ref:  # a model transformers itself knows
        return AutoModelForImageSegmentation.from_pretrained(src, config=config, **kw)
    # the model class as AutoModelForImageSegmentation resolves it, made to load whatever shape of
    # BiRefNet's remote code this is (see _settled)
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    cls = _settled(get_class_from_dynamic_module(ref, src, **kw))
    return cls.from_pretrained(src, config=config, **kw)


def _settled(cls: type) -> type:
    """``cls`` with an ``__init__`` that leaves the model as the installed transformers expects it.

    BiRefNet's remote code has had two shapes. In the 2024 one (long on the hub, still in users'
    caches), ``__init__`` replaces ``self.config`` with a plain settings object (``Config()``);
    in the 2025 one that object subclasses ``PretrainedConfig`` without being a whole one.
    transformers then reads attributes a config has (``base_model_pp_plan``,
    ``is_encoder_decoder``, ``get_text_config``) and fails. After the model's own ``__init__``, its
    settings object becomes a proper config of the class it was given (a copy of the loaded
    config), with every setting of the object on it, since the forward reads them from
    ``self.config``. ``post_init()``, which the code never calls, is called only where the
    installed transformers needs it (5.x: ``all_tied_weights_keys``)."""
    if getattr(cls, "_backdrop_settled", False):
        return cls
    from transformers import PretrainedConfig, PreTrainedModel

    needs_post_init = hasattr(PreTrainedModel, "get_expanded_tied_weights_keys")

    def __init__(self, *args, **kwargs):
        given = next((a for a in (*args, *kwargs.values()) if isinstance(a, PretrainedConfig)), None)
        cls.__init__(self, *args, **kwargs)
        settings = self.__dict__.get("config", getattr(self, "config", None))
        if given is not None and settings is not given:
            config = copy.deepcopy(given)
            standard = set(vars(PretrainedConfig()))
            for name, value in vars(settings).items():
                if name not in standard or not hasattr(config, name):
                    config.__dict__[name] = value
            self.config = config
        if needs_post_init and not hasattr(self, "all_tied_weights_keys"):
            self.post_init()

    return type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__, "_backdrop_settled": True})
