"""The app's slider release, timed: render alone, the handler (render the preview-size copy, write
the three new previews), then end to end through gradio_client against a local server.

    python bench/app_speed.py PHOTO [--repeat 10]

``bench/speed.py`` runs it in a process of its own (as the app runs: torch called from a benchmark's
main thread and from the app's engine thread would make two OpenMP teams that slow each other).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from backdrop import Params, render  # noqa: E402
from backdrop.app import build_demo  # noqa: E402
from backdrop.app.photo import load_photo, render_preview, show  # noqa: E402
from backdrop.app.session import new_session, on_engine  # noqa: E402


def measure(photo: str, repeat: int = 10, *, quiet: bool = False) -> dict[str, float]:
    """Slider-release-to-preview latency on this machine: render alone, the handler (render the
    preview-size copy, write the three new previews), then end to end through gradio_client
    against a local server. Prints (unless ``quiet``) and returns the medians over ``repeat``
    releases, in seconds."""
    import socket
    import statistics

    from gradio_client import Client, handle_file

    say = (lambda *a: None) if quiet else print
    lifts = [40.0 + 5 * (i % 8) for i in range(repeat)]
    s = new_session()
    t = time.perf_counter()
    load_photo(s, photo, None, Params())
    render_preview(s, Params())
    show(s, False)
    upload = time.perf_counter() - t
    h, w = s.preview.shape[:2]

    @on_engine
    def render_only(lift: float) -> float:
        t = time.perf_counter()
        render(s.analysis, lift=lift, bits=8, dither=False)
        return time.perf_counter() - t

    def release(lift: float) -> float:  # what on_change does, in a handler thread
        t = time.perf_counter()
        render_preview(s, Params(lift=lift))
        show(s, False, original=False)
        return time.perf_counter() - t

    with ThreadPoolExecutor(1) as pool:  # a worker thread, as Gradio runs its handlers
        renders = list(pool.map(render_only, lifts))
        times = list(pool.map(release, lifts))
    s.close()
    out = {"upload": upload, "render": statistics.median(renders), "handler": statistics.median(times)}
    say(f"photo {Path(photo).name} {s.size[0]}x{s.size[1]}, preview {w}x{h}, torch threads {torch.get_num_threads()}")
    say(f"upload (read + subject mask + preview copy + analysis + four previews): {upload:.2f} s")
    say(f"render alone (three views of the preview): median {out['render']:.3f} s "
        f"(min {min(renders):.3f}, max {max(renders):.3f})")
    say(f"handler, slider release -> 3 new previews: median {out['handler']:.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f}, {repeat} runs)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = build_demo()
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="measure-"))
        client.predict(handle_file(photo), api_name="/upload")
        times = []
        for lift in lifts:
            t = time.perf_counter()
            client.predict(lift=lift, api_name="/update")
            times.append(time.perf_counter() - t)
        out["end_to_end"] = statistics.median(times)
        say(f"end to end (gradio_client /update, 3 previews downloaded): median {out['end_to_end']:.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f})")
    finally:
        demo.close()
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photo")
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args()
    measure(a.photo, max(1, a.repeat))
