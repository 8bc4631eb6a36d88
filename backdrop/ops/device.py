"""Where the engine and the models run: CUDA, else Apple MPS, else the CPU."""
from __future__ import annotations

import torch

from ..errors import BackdropError

__all__ = ["pick_device"]


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, else Apple MPS, else CPU (``name`` may force one)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BackdropError("parameter 'device': cuda was asked for but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BackdropError("parameter 'device': mps was asked for but Apple MPS is not available")
    return torch.device(name)
