"""BiRefNet-Portrait's cost where it runs: seconds and peak memory of one mask, by input size and
precision, loaded by the project's own loader (``backdrop.segment.birefnet``).

    python bench/birefnet_speed.py --model FOLDER [--sizes 1024 768 512] [--int8] [--bf16] [--device cpu]
    python bench/birefnet_speed.py --model FOLDER --random-weights   # a folder with the model's code only

``FOLDER`` is a model folder as on the hub (config.json with ``auto_map``, the model's *.py,
model.safetensors). With ``--random-weights`` a folder that has the code but no weights gets
random ones first (the architecture is what costs the time; the weights' values do not), so the
figures can be taken where the real weights cannot be fetched, e.g. on a lent GPU machine.

Each configuration runs in a process of its own (peak memory is per process): one warm-up pass,
then ``--repeat`` timed passes of a 6000x4000 photo's mask (decode not included: the photo is
made in memory); the median is printed. ``--int8``: dynamic int8 quantisation of the Linear layers
(torch.ao); ``--bf16``: bfloat16 autocast (CPU) -- both on top of the float32 model.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def random_weights(folder: Path) -> None:
    """model.safetensors with random values for the architecture the folder's code builds."""
    from safetensors.torch import save_model
    from transformers import AutoConfig
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    from backdrop.segment.birefnet import _settled

    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=True, local_files_only=True)
    cls = _settled(get_class_from_dynamic_module(config.auto_map["AutoModelForImageSegmentation"], str(folder),
                                                 local_files_only=True))
    model = cls(config)
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})
    n = sum(p.numel() for p in model.parameters())
    print(f"random weights: {n / 1e6:.0f} M parameters, {(folder / 'model.safetensors').stat().st_size / 1e6:.0f} MB",
          file=sys.stderr)


def one(model: str, size: int, device: str, mode: str, repeat: int) -> dict:
    """One configuration, in this process."""
    import numpy as np
    import torch

    from backdrop.segment.birefnet import BiRefNet

    seg = BiRefNet(model, device=device, size=size)
    t = time.perf_counter()
    net = seg.model()
    load = time.perf_counter() - t
    if mode == "int8":
        net = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
        seg.model = lambda: net  # this instance runs the quantised copy
    photo = np.random.default_rng(0).random((4000, 6000, 3), dtype=np.float32)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if mode == "bf16" else None
    times = []
    for i in range(repeat + 1):
        t = time.perf_counter()
        if autocast is not None:
            with autocast:
                seg.probability(photo)
        else:
            seg.probability(photo)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i:  # the first pass warms up
            times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB -> MB (Linux)
    out = {"size": size, "mode": mode, "device": str(seg._device()), "load_s": load,
           "pass_s": statistics.median(times), "peak_mb": peak, "threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model folder")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 512])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--int8", action="store_true", help="also dynamic int8 (Linear layers), at each size")
    ap.add_argument("--bf16", action="store_true", help="also bfloat16 autocast, at each size")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.one:
        size, mode = args.one.split(":")
        print(json.dumps(one(args.model, int(size), args.device, mode, args.repeat)))
        return
    folder = Path(args.model).resolve()
    if args.random_weights and not (folder / "model.safetensors").is_file():
        random_weights(folder)
    import torch

    modes = ["fp32"] + (["int8"] if args.int8 else []) + (["bf16"] if args.bf16 else [])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for size in args.sizes:
        for mode in modes:
            run = subprocess.run([sys.executable, __file__, "--model", str(folder), "--device", args.device,
                                  "--repeat", str(args.repeat), "--one", f"{size}:{mode}"],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{size}x{size} {mode}: failed: {(run.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            r = json.loads(run.stdout.strip().splitlines()[-1])
            gpu = f", GPU peak {r['gpu_peak_mb']:.0f} MB" if "gpu_peak_mb" in r else ""
            print(f"BiRefNet {size}x{size} {mode:4s} on {r['device']}: {r['pass_s']:7.2f} s a mask, "
                  f"peak {r['peak_mb']:.0f} MB{gpu} (load {r['load_s']:.1f} s, {r['threads']} threads)")


if __name__ == "__main__":
    main()
