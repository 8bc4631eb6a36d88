"""Before/after pairs of the bundled samples for the README, from the real outputs.

Reads each ``samples/NAME.jpg`` and its cleaned ``out/samples/NAME_clean.jpg`` (what
``make demo`` writes with params/default.yaml) and writes ``docs/before-after-NAME.jpg``:
the two side by side, scaled to a common height, nothing else done to them (the same
pairs the batch report shows). ``make readme-images`` runs ``make demo`` first.

Run: python docs/make_readme_images.py [--height 420]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backdrop.batch import find_images  # noqa: E402
from backdrop.notebooks import thumbnail_pair  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--height", type=int, default=420, help="height of each pair in pixels")
    ap.add_argument("--outputs", type=Path, default=ROOT / "out" / "samples", help="where make demo wrote")
    args = ap.parse_args(argv)
    written = 0
    for src in find_images(ROOT / "samples"):
        cleaned = args.outputs / f"{src.stem}_clean{src.suffix}"
        if not cleaned.is_file():
            print(f"make_readme_images: {cleaned} not found: run `make demo` first", file=sys.stderr)
            return 2
        dst = ROOT / "docs" / f"before-after-{src.stem}.jpg"
        dst.write_bytes(thumbnail_pair(src, cleaned, height=args.height))
        print(dst.relative_to(ROOT))
        written += 1
    return 0 if written else 2


if __name__ == "__main__":
    sys.exit(main())
