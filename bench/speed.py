"""Speed benchmark: what a user waits for, against the targets of issue 11.

Every figure is a median over --repeat runs in this one run on this machine; ratios compare
figures measured in the same run. The machine's load average is printed first: on a shared
machine the absolute figures move, the ratios much less.

  render      render() of an analysed 1500-px preview (three views; the preview alone)
  tune        the tune notebook's redraw after a lift move (bench/tune_speed.py's measure)
  app         a slider release in the app on a 1920x1080 photo: the handler, and end to end
              through gradio_client's /update (bench/app_speed.py)
  cli         `backdrop clean` of a 24 MP JPEG with its mask file in a fresh process, beyond
              start-up (the same process importing the package and exiting), against Pillow's own
              decode + encode of the same file; its peak memory (VmHWM)
  batch       `backdrop batch` of 8 such JPEGs with their masks: seconds per photo beyond
              start-up, against Pillow's decode + encode
  reference   `backdrop clean` of a 12 MP JPEG beyond start-up against the plain reference
              method (bench/reference.py) on the same frame
  engine      analyze and render alone on the 24 MP frame's decoded pixels (stages)
  linear      (--linear; slow) `backdrop clean` without a mask file (segmenting) at 24, 45 and 100 MP:
              time per megapixel against 24 MP's

Run: python bench/speed.py [--repeat 3] [--only render,tune,app,cli,batch,reference,engine] [--linear]
     [--device auto] [--photo PHOTO (for the app; default a synthetic 1920x1080 frame)]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from backdrop import Params, analyze, read_image, read_mask, render  # noqa: E402
from bench.bigframe import make_frame, run_cli  # noqa: E402

SECTIONS = ("render", "tune", "app", "cli", "batch", "reference", "engine")


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _line(name: str, value: str, note: str = "") -> None:
    print(f"{name:44s} {value:>12s}   {note}".rstrip())


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def startup_seconds(repeat: int) -> float:
    """Wall time of a fresh process that imports what `backdrop clean` imports, and exits."""
    cmd = [sys.executable, "-c", "import backdrop.cli, backdrop.service, backdrop.batch, backdrop.pipeline, backdrop.metrics"]

    def once():
        subprocess.run(cmd, cwd=ROOT, check=True)

    once()
    return _median_time(once, repeat)


def pillow_codec_seconds(src: Path, dst: Path, repeat: int) -> float:
    """Pillow's own decode + encode of a JPEG (quality 95, 4:4:4, as the CLI writes)."""

    def once():
        with Image.open(src) as im:
            im.load()
            im.save(dst, "JPEG", quality=95, subsampling=0)

    once()
    return _median_time(once, repeat)


def cli_seconds(src: Path, mask: Path | None, out: Path, repeat: int, device: str) -> tuple[float, float]:
    """Median wall time and the largest peak memory (MB) of `backdrop clean` in fresh processes."""
    runs = []
    for _ in range(repeat):
        out.unlink(missing_ok=True)
        runs.append(run_cli(src, mask, out, ["--set", f"device={device}"]))
    return statistics.median(r["seconds"] for r in runs), max(r["peak_mb"] for r in runs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    ap.add_argument("--linear", action="store_true", help="also 45 and 100 MP without a mask file (slow)")
    ap.add_argument("--device", default="auto", help="engine device: auto, cpu, cuda, mps")
    ap.add_argument("--photo", default="", help="the app's photo (default: a synthetic 1920x1080 frame)")
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        ap.error(f"--only: unknown section {sorted(unknown)[0]!r}; one of {', '.join(SECTIONS)}")
    rep = max(1, args.repeat)

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"machine: {_cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    tmp = Path(tempfile.mkdtemp(prefix="backdrop-speed-"))
    try:
        if "render" in only:
            from bench.scenes import make_scene

            s = make_scene("white_seamless", size=(1500, 1000))
            img = (s.image * 255 + 0.5).astype(np.uint8)
            a = analyze(img, (s.alpha * 255 + 0.5).astype(np.uint8), Params(device=args.device))
            lifts = iter(range(10**6))
            three = _median_time(lambda: render(a, lift=40 + next(lifts) % 60, bits=8, dither=False), 3 * rep + 4)
            one = _median_time(lambda: render(a, lift=40 + next(lifts) % 60, views=("preview",), bits=8,
                                              dither=False), 3 * rep + 4)
            _line("render, 1500x1000 preview, three views", f"{three * 1000:.0f} ms",
                  f"target <= 40 ms: {_verdict(three <= 0.040)}")
            _line("render, 1500x1000 preview, preview alone", f"{one * 1000:.0f} ms", f"on {a.device}")

        if "tune" in only:
            from backdrop.notebooks import Tuner

            tuner = Tuner(None, long_edge=768, threads=1)
            moves = []
            for i in range(3 * rep + 4):
                t = time.perf_counter()
                tuner.lift.value = 60 + (i * 7) % 40
                moves.append(time.perf_counter() - t)
            move = statistics.median(moves)
            _line("tune notebook, redraw after a lift move", f"{move:.3f} s",
                  f"(engine {tuner.seconds['engine']:.3f}, figures {tuner.seconds['draw']:.3f}) "
                  f"target <= 0.2 s: {_verdict(move <= 0.2)}")

        need_big = only & {"cli", "batch", "engine"}
        start = startup_seconds(rep) if only & {"cli", "batch", "reference"} else 0.0
        if need_big:
            t = time.perf_counter()
            (tmp / "24").mkdir()
            src, msk = make_frame(tmp / "24", (6000, 4000), (3000, 2000), "white_seamless")
            print(f"24 MP frame (6000x4000 JPEG, quality 95) made in {time.perf_counter() - t:.1f} s; "
                  f"start-up of a process {start:.2f} s")
            codec = pillow_codec_seconds(src, tmp / "pillow.jpg", rep)
            _line("Pillow decode + encode of that JPEG", f"{codec:.2f} s")

        if "cli" in only:
            wall, peak = cli_seconds(src, msk, tmp / "24" / "cli_clean.jpg", rep, args.device)
            beyond = wall - start
            _line("CLI clean, 24 MP with mask, beyond start-up", f"{beyond:.2f} s",
                  f"x{beyond / codec:.2f} Pillow's decode + encode, target <= x3: {_verdict(beyond / codec <= 3)}")
            _line("CLI clean, 24 MP with mask, peak memory", f"{peak:.0f} MB",
                  f"(whole run {wall:.2f} s) target <= 600 MB: {_verdict(peak <= 600)}")

        if "batch" in only:
            shoot, out = tmp / "shoot", tmp / "shoot_out"
            shoot.mkdir()
            out.mkdir()
            for i in range(8):
                shutil.copyfile(src, shoot / f"photo{i}.jpg")
                shutil.copyfile(msk, shoot / f"photo{i}_mask.png")
            cmd = [sys.executable, "-m", "backdrop", "batch", str(shoot), "-o", str(out), "--no-progress",
                   "--overwrite", "--set", f"device={args.device}"]
            env = {**os.environ, "BACKDROP_NO_CACHE": "1"}
            walls = []
            for _ in range(max(1, rep - 1)):
                t = time.perf_counter()
                subprocess.run(cmd, cwd=ROOT, check=True, env=env, stdout=subprocess.DEVNULL)
                walls.append(time.perf_counter() - t)
            per = (statistics.median(walls) - start) / 8
            _line("batch of 8 x 24 MP with masks, per photo", f"{per:.2f} s",
                  f"x{per / codec:.2f} Pillow's decode + encode, target <= x2.5: {_verdict(per / codec <= 2.5)}")
            shutil.rmtree(shoot)
            shutil.rmtree(out)

        if "engine" in only:
            photo = read_image(src)
            mask = read_mask(msk, size=photo.size)
            p = Params(device=args.device)
            res = {}
            t_an = _median_time(lambda: res.update(a=analyze(photo.data, mask, p)), rep)
            t_re = _median_time(lambda: res.update(r=render(res["a"], views=("preview",), bits=8)), rep)
            t_all = _median_time(lambda: render(res["a"], bits=8), rep)
            stages = ", ".join(f"{k} {v:.2f}" for k, v in res["a"].timings.items())
            _line("engine: analyze, 24 MP", f"{t_an:.2f} s", f"on {res['a'].device}; {stages}")
            _line("engine: render, preview, 8-bit", f"{t_re:.2f} s", f"all three views {t_all:.2f} s")
            del res, photo, mask

        if "reference" in only:
            from bench.reference import reference_clean

            (tmp / "12").mkdir()
            src12, msk12 = make_frame(tmp / "12", (4242, 2828), (2121, 1414), "white_seamless")
            wall12, _ = cli_seconds(src12, msk12, tmp / "12" / "cli_clean.jpg", rep, args.device)
            photo = read_image(src12)
            alpha = read_mask(msk12, size=photo.size)
            t = time.perf_counter()
            reference_clean(photo.pixels, alpha.astype(np.float32) / 255.0 if alpha.dtype == np.uint8 else alpha)
            t_ref = time.perf_counter() - t
            beyond12 = wall12 - start
            _line("CLI clean, 12 MP with mask, beyond start-up", f"{beyond12:.2f} s",
                  f"reference {t_ref:.1f} s: x{t_ref / beyond12:.1f}, target >= x25: {_verdict(t_ref / beyond12 >= 25)}")
            del photo, alpha

        if "app" in only:
            photo = args.photo
            if not photo:
                (tmp / "app").mkdir()
                photo = str(make_frame(tmp / "app", (1920, 1080), (1920, 1080), "white_seamless")[0])
            # in a process of its own, as the app runs: torch called from this benchmark's main thread
            # and from the app's engine thread would make two OpenMP teams that slow each other down
            code = ("import json, sys; from bench.app_speed import measure; "
                    f"print(json.dumps(measure({photo!r}, repeat={3 * rep + 1}, quiet=True)))")
            env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                   "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_TEMP_DIR": str(tmp / "gradio")}
            got = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()
            import json

            m = json.loads(got[-1])
            _line(f"app, slider release, handler ({Path(photo).name})", f"{m['handler']:.3f} s",
                  f"(render {m['render']:.3f}) target <= 0.10 s: {_verdict(m['handler'] <= 0.10)}")
            _line("app, slider release, end to end (gradio_client)", f"{m['end_to_end']:.3f} s",
                  f"target <= 0.25 s: {_verdict(m['end_to_end'] <= 0.25)}")

        if args.linear:
            per_mp = {}
            for w, h in ((6000, 4000), (8256, 5504), (12000, 8400)):
                folder = tmp / f"lin{w}"
                folder.mkdir()
                f_src, f_mask = make_frame(folder, (w, h), (3000, round(3000 * h / w)), "white_seamless")
                f_mask.unlink()  # NAME_mask.png beside the photo would be taken as its mask
                wall, peak = cli_seconds(f_src, None, folder / "out.jpg", 1, args.device)
                mp = w * h / 1e6
                per_mp[mp] = (wall - start) / mp
                _line(f"CLI clean, {mp:.0f} MP, no mask file (segmenting)", f"{wall - start:.2f} s",
                      f"{per_mp[mp] * 1000:.0f} ms per MP, peak {peak:.0f} MB")
                shutil.rmtree(folder)
            base = next(iter(per_mp.values()))
            for mp, v in list(per_mp.items())[1:]:
                _line(f"  time per MP at {mp:.0f} MP / at 24 MP", f"x{v / base:.2f}",
                      f"target <= x1.2: {_verdict(v / base <= 1.2)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
