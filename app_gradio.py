"""Clean Backdrop in the browser: a Gradio page over the engine in ``backdrop/``.

Upload a studio portrait, dial the shadow lift and texture smoothing by eye on a
preview-size copy (segmentation runs once per upload), then download the cleaned
photo at full resolution with its format, bit depth, ICC profile and EXIF.

    python app_gradio.py                      # http://127.0.0.1:7860
    python app_gradio.py --share              # also ask Gradio for a public link
    python app_gradio.py --host 0.0.0.0 --port 8080

``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` work as in any Gradio app,
``BACKDROP_SHARE=1`` is the same as ``--share``. Analytics are off unless
``GRADIO_ANALYTICS_ENABLED`` says otherwise. Uploads are limited to
``BACKDROP_APP_MAX_MB`` megabytes (default 200) and ``BACKDROP_APP_MAX_MP``
megapixels (default 100).

Everything a user uploads or sets lives in their session (``gr.State``), never in
module globals: two people on one shared link never see each other's photos or
settings. A session's files sit in a folder of its own inside Gradio's cache,
removed when the page is closed or the session expires.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse  # noqa: E402

from backdrop.app import build_demo  # noqa: E402
from backdrop.app.session import MAX_MB  # noqa: E402

demo = build_demo()



def launch_options(argv: list[str] | None = None, env: dict[str, str] | None = None) -> dict:
    """``demo.launch`` keyword arguments from the command line and the environment."""
    env = os.environ if env is None else env
    ap = argparse.ArgumentParser(prog="app_gradio.py", description="Clean Backdrop in the browser (Gradio).")
    ap.add_argument("--host", help="address to serve on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    ap.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    ap.add_argument("--share", action="store_true", help="ask Gradio for a public link (also BACKDROP_SHARE=1)")
    args = ap.parse_args(argv)
    port = args.port or env.get("GRADIO_SERVER_PORT") or 7860
    try:
        port = int(port)
    except ValueError:
        ap.error(f"GRADIO_SERVER_PORT: {port!r} is not a port number")
    share_env = env.get("BACKDROP_SHARE", "").strip().lower() in ("1", "true", "yes", "on")
    return dict(
        server_name=args.host or env.get("GRADIO_SERVER_NAME") or "127.0.0.1",
        server_port=port,
        share=bool(args.share or share_env),
        max_file_size=f"{MAX_MB:g}mb",
    )


def main(argv: list[str] | None = None) -> None:
    opts = launch_options(argv)
    demo.queue(default_concurrency_limit=1)
    # offline, Gradio prints why it could not make a share link and keeps the local server
    demo.launch(**opts)


if __name__ == "__main__":
    main()
