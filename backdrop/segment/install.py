"""Install the BiRefNet extra against the torch that is already here (``make birefnet``).

    python -m backdrop.segment.install            # install
    python -m backdrop.segment.install --dry-run  # say what would be installed, change nothing

``pip install -e ".[birefnet]"`` on its own lets pip take the newest torchvision, whose newest
release needs the newest torch: pip then replaces a CPU torch with a CUDA build and 15 CUDA
packages (3.2 GB). This installs the extra's packages with the installed torch pinned (a pip
constraint: torch is never changed), and the torchvision built for exactly that torch, from the
index that torch came from: PyTorch's own index for a ``+cpu`` / ``+cuXXX`` / ``+rocmX`` build
(PyPI's torchvision is a CUDA build that does not import beside a CPU torch: "operator
torchvision::nms does not exist"), PyPI for PyPI's torch. Only the model's real imports are
installed: no ``requests`` for a ``handler.py`` the model never imports.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata

PYTORCH_INDEX = "https://download.pytorch.org/whl/{tag}"
DIST = "clean-backdrop"
EXTRA = "birefnet"


def torchvision_for(torch_version: str) -> tuple[str, str | None]:
    """The torchvision requirement built for ``torch_version`` and the index it comes from
    (None: PyPI). torch 2.M.P pairs with torchvision 0.(M+15).P."""
    m = re.fullmatch(r"2\.(\d+)\.(\d+)(?:[a-z]+\d*)?(?:\+([a-z0-9.]+))?", torch_version)
    if m is None:
        raise ValueError(f"torch {torch_version}: not a release this knows the torchvision of")
    minor, patch, local = int(m.group(1)), int(m.group(2)), m.group(3)
    version = f"0.{minor + 15}.{patch}"
    if local:  # a build from PyTorch's own index: its torchvision is there, with the same tag
        return f"torchvision=={version}+{local}", PYTORCH_INDEX.format(tag=local)
    return f"torchvision=={version}", None


def extra_requirements() -> list[str]:
    """The [birefnet] extra of the installed package, torchvision left out (it is pinned apart)."""
    reqs = metadata.requires(DIST) or []
    out = []
    for r in reqs:
        spec, _, marker = r.partition(";")
        if re.search(rf"extra\s*==\s*['\"]{EXTRA}['\"]", marker):
            name = re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0]
            if name.lower() != "torchvision":
                out.append(spec.strip())
    if not out:
        raise ValueError(f"{DIST}: the [{EXTRA}] extra is not in the installed package's metadata")
    return out


def pip_command(torch_version: str, constraints: str, *, dry_run: bool = False, report: str | None = None) -> list[str]:
    """The pip command that installs the extra with ``torch_version`` pinned by ``constraints``."""
    vision, index = torchvision_for(torch_version)
    cmd = [sys.executable, "-m", "pip", "install", "-c", constraints, vision, *extra_requirements()]
    if index:
        cmd += ["--extra-index-url", index]
    if dry_run:
        cmd += ["--dry-run", "--report", report or "-", "--quiet"]
    return cmd


def why_not(pip_said: str, torch_version: str) -> str:
    """pip's failure in one line: an index that cannot be reached, no torchvision for this torch,
    else pip's first error."""
    vision, index = torchvision_for(torch_version)
    host = re.sub(r"^https?://([^/]+).*$", r"\1", index or "https://pypi.org")
    if re.search(rf"(resolve|connect|timed out|unreachable|Max retries)[^\n]*{re.escape(host)}", pip_said, re.I):
        return f"{host} cannot be reached, and {vision} (the build for this torch) is there"
    if re.search(r"no matching distribution|could not find a version|no matching distributions", pip_said, re.I):
        return f"no {vision} for this machine on {index or 'PyPI'}"
    errors = [ln.strip() for ln in pip_said.splitlines() if ln.strip().startswith("ERROR")]
    return errors[0] if errors else "pip failed"


def main(argv: list[str] | None = None) -> int:
    """Install (or with --dry-run, resolve) the extra; the exit code: 0, 1 (installed but broken), 2 (nothing done)."""
    parser = argparse.ArgumentParser(prog="python -m backdrop.segment.install", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="resolve and say what would be installed; change nothing")
    args = parser.parse_args(argv)
    import torch

    have = torch.__version__
    try:
        with tempfile.TemporaryDirectory() as tmp:
            constraints = os.path.join(tmp, "torch.txt")
            with open(constraints, "w") as f:
                f.write(f"torch=={have}\n")  # pip may not change it
            report = os.path.join(tmp, "report.json")
            cmd = pip_command(have, constraints, dry_run=args.dry_run, report=report)
            print("backdrop: " + " ".join(a if " " not in a else repr(a) for a in cmd[1:]), file=sys.stderr)
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                print(f"backdrop: error: the [birefnet] extra was not installed, torch {have} is unchanged: "
                      f"{why_not(run.stderr + run.stdout, have)}", file=sys.stderr)
                return 2
            if args.dry_run:
                with open(report) as f:
                    names = [i["metadata"]["name"] + " " + i["metadata"]["version"] for i in json.load(f).get("install", [])]
                print("would install: " + (", ".join(sorted(names)) or "nothing (all there)"))
                return 0
    except ValueError as err:
        print(f"backdrop: error: {err}", file=sys.stderr)
        return 2
    check = subprocess.run([sys.executable, "-c", "import torch, torchvision; torch.ops.torchvision.nms; "
                            "print(torch.__version__, torchvision.__version__)"], capture_output=True, text=True)
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["?"])[-1]
        print(f"backdrop: error: installed, but torchvision does not work beside torch {have}: {last}", file=sys.stderr)
        return 1
    print(f"installed the [birefnet] extra: torch and torchvision {check.stdout.strip()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
